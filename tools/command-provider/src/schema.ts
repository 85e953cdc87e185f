// The input shape of each resource of the `command` package v1.2.1, and Check (validation plus
// defaults) derived from it.
//
// Property names, types, defaults and replace-on-change flags follow the 1.2.1 schema
// (provider/cmd/pulumi-resource-command/schema.json in pulumi/pulumi-command). The real provider
// gets them from Go struct tags through pulumi-go-provider's `infer`; this table is our own.
//
// Only the resources hardened-hosts uses are here: remote.Command (every component) and
// local.Command (the stack program's `probe` plan, the engine smoke test). Of local.Command's
// inputs, assetPaths/archivePaths (files collected as asset outputs) are refused at Check.

import { containsUnknown, isUnknown, reveal, secret, unwrap, type Wire } from "./wire";

export type Kind =
    | "string"
    | "number"
    | "integer"
    | "boolean"
    | "stringArray"
    | "stringMap"
    | "anyArray"
    | "logging"
    | "connection"
    /** In the 1.2.1 schema, but not implemented here: any value is a Check failure. */
    | "unsupported";

export interface PropSpec {
    kind: Kind;
    required?: boolean;
}

export interface ResourceSpec {
    token: string;
    inputs: Record<string, PropSpec>;
    /** Top-level inputs whose change forces a replacement (schema `replaceOnChanges`). */
    replaceOnChanges: string[];
    /** Inputs the real provider marks secret as a whole (`provider:"secret"`). */
    secretInputs: string[];
}

export const LOGGING_VALUES = ["stdout", "stderr", "stdoutAndStderr", "none"] as const;
export type Logging = (typeof LOGGING_VALUES)[number];

const lifecycle: Record<string, PropSpec> = {
    triggers: { kind: "anyArray" },
    create: { kind: "string" },
    update: { kind: "string" },
    delete: { kind: "string" },
};

export const LOCAL_COMMAND: ResourceSpec = {
    token: "command:local:Command",
    inputs: {
        ...lifecycle,
        stdin: { kind: "string" },
        logging: { kind: "logging" },
        interpreter: { kind: "stringArray" },
        dir: { kind: "string" },
        environment: { kind: "stringMap" },
        // Globs collecting files as asset outputs: nothing in the project uses them.
        assetPaths: { kind: "unsupported" },
        archivePaths: { kind: "unsupported" },
        addPreviousOutputInEnv: { kind: "boolean" },
    },
    replaceOnChanges: ["triggers"],
    secretInputs: [],
};

export const REMOTE_COMMAND: ResourceSpec = {
    token: "command:remote:Command",
    inputs: {
        ...lifecycle,
        stdin: { kind: "string" },
        logging: { kind: "logging" },
        connection: { kind: "connection", required: true },
        environment: { kind: "stringMap" },
        addPreviousOutputInEnv: { kind: "boolean" },
    },
    replaceOnChanges: ["triggers"],
    secretInputs: ["connection"],
};

export const RESOURCES: Record<string, ResourceSpec> = Object.fromEntries(
    [LOCAL_COMMAND, REMOTE_COMMAND].map((s) => [s.token, s]),
);

export interface CheckFailure {
    property: string;
    reason: string;
}

// Connection fields, with the schema defaults (user "root", port 22, dialErrorLimit 10,
// perDialTimeout 15). `proxy` exists on Connection only, not on ProxyConnection.
const CONNECTION_FIELDS: Record<string, { kind: Kind; default?: unknown }> = {
    host: { kind: "string" },
    user: { kind: "string", default: "root" },
    port: { kind: "number", default: 22 },
    password: { kind: "string" },
    privateKey: { kind: "string" },
    privateKeyPassword: { kind: "string" },
    agentSocketPath: { kind: "string" },
    dialErrorLimit: { kind: "integer", default: 10 },
    perDialTimeout: { kind: "integer", default: 15 },
    hostKey: { kind: "string" },
};

function typeName(v: unknown): string {
    if (v === null) return "null";
    if (Array.isArray(v)) return "array";
    return typeof v;
}

/** Validates one known (revealed) scalar/collection value; returns a reason or undefined. */
function checkKind(kind: Kind, v: unknown): string | undefined {
    switch (kind) {
        case "string":
            return typeof v === "string" ? undefined : `expected a string, got ${typeName(v)}`;
        case "number":
            return typeof v === "number" ? undefined : `expected a number, got ${typeName(v)}`;
        case "integer":
            return typeof v === "number" && Number.isInteger(v) ? undefined : `expected an integer, got ${JSON.stringify(v)}`;
        case "boolean":
            return typeof v === "boolean" ? undefined : `expected a boolean, got ${typeName(v)}`;
        case "logging":
            return (LOGGING_VALUES as readonly unknown[]).includes(v)
                ? undefined
                : `expected one of ${LOGGING_VALUES.join(", ")}, got ${JSON.stringify(v)}`;
        case "stringArray":
            if (!Array.isArray(v)) return `expected a list of strings, got ${typeName(v)}`;
            return v.every((e) => isUnknown(e) || typeof e === "string") ? undefined : "expected a list of strings";
        case "stringMap":
            if (v === null || typeof v !== "object" || Array.isArray(v)) return `expected a map of strings, got ${typeName(v)}`;
            return Object.values(v).every((e) => isUnknown(e) || typeof e === "string") ? undefined : "expected a map of strings";
        case "anyArray":
            return Array.isArray(v) ? undefined : `expected a list, got ${typeName(v)}`;
        case "unsupported":
            return "not implemented by this pulumi-resource-command (hardened-hosts' stand-in for pulumi-command v1.2.1)";
        case "connection":
            return v !== null && typeof v === "object" && !Array.isArray(v) ? undefined : `expected an object, got ${typeName(v)}`;
    }
}

/**
 * Validates a connection object and fills in schema defaults, keeping any secret or unknown
 * wrappers on its members as they are.
 */
function checkConnection(raw: Wire, where: string, allowProxy: boolean, failures: CheckFailure[]): Wire {
    if (isUnknown(raw)) return raw;
    const obj = unwrap(raw);
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
        failures.push({ property: where, reason: `expected an object, got ${typeName(obj)}` });
        return raw;
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
        if (v === null || v === undefined) continue;
        if (k === "proxy" && allowProxy) {
            out[k] = checkConnection(v, `${where}.proxy`, false, failures);
            continue;
        }
        const field = CONNECTION_FIELDS[k];
        if (!field) {
            failures.push({ property: `${where}.${k}`, reason: "unknown connection property" });
            continue;
        }
        if (!containsUnknown(v)) {
            const reason = checkKind(field.kind, reveal(v));
            if (reason) failures.push({ property: `${where}.${k}`, reason });
        }
        out[k] = v;
    }
    if (out.host === undefined) failures.push({ property: `${where}.host`, reason: "missing required property 'host'" });
    for (const [k, f] of Object.entries(CONNECTION_FIELDS)) {
        if (f.default !== undefined && out[k] === undefined) out[k] = f.default;
    }
    return raw === obj ? out : { ...(raw as object), value: out };
}

/** Check: validate inputs, apply defaults, and mark the schema's secret inputs secret. */
export function checkInputs(
    props: Record<string, PropSpec>,
    news: Record<string, Wire>,
    secretInputs: string[] = [],
): { inputs: Record<string, Wire>; failures: CheckFailure[] } {
    const failures: CheckFailure[] = [];
    const inputs: Record<string, Wire> = {};
    for (const [key, spec] of Object.entries(props)) {
        const v = news[key];
        if (v === undefined || v === null) {
            if (spec.required) failures.push({ property: key, reason: `missing required property '${key}'` });
            continue;
        }
        if (spec.kind === "connection") {
            inputs[key] = checkConnection(v, key, true, failures);
        } else {
            if (spec.kind === "unsupported" || !isUnknown(unwrap(v))) {
                const reason = checkKind(spec.kind, reveal(v));
                if (reason) failures.push({ property: key, reason });
            }
            inputs[key] = v;
        }
    }
    for (const key of Object.keys(news)) {
        // The engine may add internal "__"-prefixed keys; anything else unknown is a mistake
        // the user should hear about rather than a value we silently drop.
        if (!(key in props) && !key.startsWith("__")) {
            failures.push({ property: key, reason: `unknown property '${key}'` });
        }
    }
    for (const key of secretInputs) {
        if (inputs[key] !== undefined && !isUnknown(inputs[key])) inputs[key] = secret(inputs[key]);
    }
    return { inputs, failures };
}
