/**
 * The stack's typed configuration (documented in Pulumi.yaml). Parsing is pure, so every
 * mistake is reported at preview, naming the config key, before any resource exists.
 */

import { RuntimeSpec } from "../components/fleet/hardened-host";
import { isValidOwner } from "../components/subids/ranges";
import { nonRootUserProblem } from "../components/host/validate";

/** A bring-your-own host from config (`hardened-hosts:hosts`). */
export interface ExistingHostConfig {
    name: string;
    address: string;
    port: number;
    user: string;
    /** Config key of the host's private key (a secret), default `sshPrivateKey`. */
    privateKeyKey: string;
    hostKey?: string;
    runtime: RuntimeSpec;
    tenants: string[];
}

/** What the stack program builds. */
export type StackPlan =
    | { kind: "probe" }
    | { kind: "existing"; hosts: ExistingHostConfig[]; tenants: Record<string, { size?: number }>; reportOnly: boolean };

/** A config problem, with the full key it is about. */
export class ConfigError extends Error {
    constructor(readonly key: string, why: string) {
        super(`${key}: ${why}`);
        this.name = "ConfigError";
    }
}

type Raw = Record<string, unknown>;
const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// An address is a DNS name or an IP literal: nothing a shell or ssh option parser could misread.
const ADDRESS = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$/;

function obj(v: unknown, key: string): Raw {
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new ConfigError(key, "must be an object");
    return v as Raw;
}
function str(v: unknown, key: string): string {
    if (typeof v !== "string" || v.length === 0) throw new ConfigError(key, "must be a non-empty string");
    return v;
}

function parseRuntime(v: unknown, key: string): RuntimeSpec {
    const r = obj(v ?? { mode: "userns-remap" }, key);
    const mode = r["mode"];
    switch (mode) {
        case "userns-remap": {
            const remapUser = r["remapUser"] === undefined ? undefined : str(r["remapUser"], `${key}.remapUser`);
            const problem = remapUser === undefined ? undefined : nonRootUserProblem(remapUser);
            if (problem) throw new ConfigError(`${key}.remapUser`, problem);
            const daemonOptions = r["daemonOptions"] === undefined ? undefined : obj(r["daemonOptions"], `${key}.daemonOptions`);
            return { mode, remapUser, daemonOptions };
        }
        case "docker-rootless":
        case "podman": {
            const user = str(r["user"], `${key}.user`);
            const problem = nonRootUserProblem(user);
            if (problem) throw new ConfigError(`${key}.user`, problem);
            return { mode, user };
        }
        default:
            throw new ConfigError(`${key}.mode`, `${JSON.stringify(mode)} is not one of "userns-remap", "docker-rootless", "podman"`);
    }
}

function parseHost(v: unknown, i: number, ns: string, tenants: Record<string, unknown>): ExistingHostConfig {
    const key = `${ns}:hosts[${i}]`;
    const h = obj(v, key);
    const name = str(h["name"], `${key}.name`);
    if (!HOST_NAME.test(name)) throw new ConfigError(`${key}.name`, `must match ${HOST_NAME.source}`);
    const address = str(h["address"], `${key}.address`);
    if (!ADDRESS.test(address)) throw new ConfigError(`${key}.address`, `${JSON.stringify(address)} is not a host name or IP address`);
    const port = h["port"] ?? 22;
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
        throw new ConfigError(`${key}.port`, "must be an integer from 1 to 65535");
    }
    const user = h["user"] === undefined ? "root" : str(h["user"], `${key}.user`);
    if (user !== "root" && nonRootUserProblem(user)) throw new ConfigError(`${key}.user`, nonRootUserProblem(user)!);
    const hostTenants = (h["tenants"] ?? []) as unknown;
    if (!Array.isArray(hostTenants)) throw new ConfigError(`${key}.tenants`, "must be a list of tenant names");
    hostTenants.forEach((t, j) => {
        if (typeof t !== "string" || !(t in tenants)) {
            throw new ConfigError(`${key}.tenants[${j}]`, `${JSON.stringify(t)} is not one of ${ns}:tenants`);
        }
    });
    return {
        name,
        address,
        port: port as number,
        user,
        privateKeyKey: h["privateKeyConfig"] === undefined ? "sshPrivateKey" : str(h["privateKeyConfig"], `${key}.privateKeyConfig`),
        hostKey: h["hostKey"] === undefined ? undefined : str(h["hostKey"], `${key}.hostKey`),
        runtime: parseRuntime(h["runtime"], `${key}.runtime`),
        tenants: hostTenants as string[],
    };
}

/**
 * Reads the stack plan from raw config values (`get(key)` returns the parsed YAML value or
 * undefined). `ns` is the config namespace, `hardened-hosts`.
 * @throws ConfigError naming the full key.
 */
export function parseStackConfig(get: (key: string) => unknown, ns = "hardened-hosts"): StackPlan {
    const machines = get("machines") ?? "probe";
    switch (machines) {
        case "probe":
            return { kind: "probe" };
        case "existing": {
            const rawTenants = obj(get("tenants") ?? {}, `${ns}:tenants`);
            const tenants: Record<string, { size?: number }> = {};
            for (const [owner, spec] of Object.entries(rawTenants)) {
                if (!isValidOwner(owner)) throw new ConfigError(`${ns}:tenants.${owner}`, "is not a valid login name");
                const size = spec === null || spec === undefined ? undefined : obj(spec, `${ns}:tenants.${owner}`)["size"];
                if (size !== undefined && (!Number.isInteger(size) || (size as number) < 65536)) {
                    throw new ConfigError(`${ns}:tenants.${owner}.size`, "must be an integer of at least 65536");
                }
                tenants[owner] = size === undefined ? {} : { size: size as number };
            }
            const hosts = get("hosts");
            if (!Array.isArray(hosts) || hosts.length === 0) throw new ConfigError(`${ns}:hosts`, "must be a non-empty list of hosts");
            const parsed = hosts.map((h, i) => parseHost(h, i, ns, tenants));
            const seen = new Set<string>();
            parsed.forEach((h, i) => {
                if (seen.has(h.name)) throw new ConfigError(`${ns}:hosts[${i}].name`, `${JSON.stringify(h.name)} is used twice`);
                seen.add(h.name);
            });
            const reportOnly = get("reportOnly") ?? false;
            if (typeof reportOnly !== "boolean") throw new ConfigError(`${ns}:reportOnly`, "must be true or false");
            return { kind: "existing", hosts: parsed, tenants, reportOnly };
        }
        default:
            throw new ConfigError(`${ns}:machines`, `${JSON.stringify(machines)} is not one of "probe", "existing"`);
    }
}
