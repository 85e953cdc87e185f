/**
 * HardenedFleet's arguments as every Pulumi language sees them (through the component provider):
 * plain, language-neutral shapes (no `connection` object, no resources, no unions), and the one
 * function that checks them and maps them onto {@link HardenedFleetArgs}.
 *
 * These interfaces are the schema's source: `scripts/provider-schema.js` runs the SDK's own
 * analyzer over them (`schema-source.ts` names the component) and writes `schema.json`, which the
 * provider serves. A field wrapped in `pulumi.Input` may be another resource's output or a secret
 * in the user's program; every other field shapes the fleet (which hosts, which children) and must
 * be a plain value when the program runs.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ContainerEffects, ExistingContainers } from "../docker/remap";
import { FleetHostSpec, HardenedFleetArgs, fleetArgsProblems } from "../fleet/hardened-fleet";
import { RUNTIME_MODES, RuntimeSpec } from "../fleet/hardened-host";
import { HostConnection } from "../host/connection";
import { Problems, nonRootUserProblem } from "../host/validate";
import { addressProblem, hostKeyProblem, loginUserProblem, portProblem, privateKeyProblem } from "../machines/checks";
import { IdRange } from "../subids/ranges";
import { HostResult } from "../verify/checks";

/** The fleet: hosts reached over SSH, one subordinate-ID allocation for all of them. */
export interface FleetArgs {
    // The two maps are Inputs in the schema only because Go's SDK generator (pkg v3.274.1) emits no
    // FleetHostArgs/FleetTenantArgs for a plain map of objects and the Go SDK would not compile;
    // the provider still refuses either as an Output (the fleet's shape must be known).
    /** Hosts by name (lowercase letters, digits and `-`); the name prefixes each host's child resources. Must be known when the program runs. */
    hosts: pulumi.Input<Record<string, FleetHost>>;
    /** Fleet-wide subordinate-ID owners by name (login names): the same range on every host that lists them. Default none. Must be known when the program runs. */
    tenants?: pulumi.Input<Record<string, FleetTenant>>;
    /** Report failed verification checks in the outputs instead of failing the update. Default false. */
    reportOnly?: boolean;
    /** Hand removed owners' ranges out again. Default false (they stay retired: their files may still exist on volumes). */
    reuseRetiredRanges?: boolean;
}

/** A fleet-wide subordinate-ID owner. */
export interface FleetTenant {
    /** IDs in its range (65536 to 2^31). Default 65536. */
    size?: number;
}

/** One host, reached over SSH (any user other than root needs password-less sudo). */
export interface FleetHost {
    /** Address or DNS name (no port, no brackets). */
    address: pulumi.Input<string>;
    /** SSH port. Default 22. */
    port?: pulumi.Input<number>;
    /** Login user. Default `root`; any other user runs the host scripts through `sudo -n`. */
    user?: pulumi.Input<string>;
    /** Private key (OpenSSH or PEM). Stored as a secret. */
    privateKey: pulumi.Input<string>;
    /** The host's public key as in /etc/ssh/ssh_host_ed25519_key.pub (`ssh-ed25519 AAAA...`); any other key is refused. Default: trust the first key seen (a warning says so). */
    hostKey?: pulumi.Input<string>;
    /** How the host runs containers. Default `{mode: "userns-remap"}`. */
    runtime?: FleetRuntime;
    /** Names of fleet tenants placed on this host: their fleet-wide ranges are granted here. Default none. */
    tenants?: string[];
    /** Verify the host after deploy. Default true. */
    verify?: boolean;
}

/**
 * How a host runs containers: `mode` is one of "userns-remap" (rootful Docker with userns-remap),
 * "docker-rootless" or "podman" (rootless, for `user`), "podman-auto" (rootful Podman, a user
 * namespace per container), "kubelet-userns" (a Kubernetes node: pods with hostUsers: false get
 * the `kubelet` range). Each mode takes only its own settings.
 */
export interface FleetRuntime {
    /** "userns-remap", "docker-rootless", "podman", "podman-auto" or "kubelet-userns". */
    mode: string;
    /** docker-rootless, podman: the runtime's owner (a non-root login name). Required there. */
    user?: string;
    /** docker-rootless, podman: create the user when missing. Default true. */
    createUser?: boolean;
    /** docker-rootless, podman: set the user's shell to nologin. Default false. */
    restrictShell?: boolean;
    /** userns-remap: the remap user. Default `dockremap`. */
    remapUser?: string;
    /** userns-remap: more daemon.json keys to merge, e.g. `{"no-new-privileges": true}`. Default none. */
    daemonOptions?: Record<string, any>;
    /** userns-remap: install Docker when missing. Default true. */
    installDocker?: boolean;
    /** userns-remap: refuse to restart dockerd while containers run. Default false (existingContainers decides). */
    requireNoContainers?: boolean;
    /**
     * userns-remap: take over a `userns-remap` to another user already in the host's daemon.json
     * (an operator's own remap; its containers stop being visible). Default false: refused.
     */
    takeOverRemap?: boolean;
    /**
     * userns-remap: containers the apply would stop (dockerd restarts) or hide (another remapped
     * root): "refuse" (default) refuses before anything is written, naming them; "stop" does it,
     * and the `containers` output records what was stopped and hidden.
     */
    existingContainers?: string;
    /** podman-auto: the pool's owner in /etc/subuid and /etc/subgid. Default `containers`. */
    poolOwner?: string;
    /** podman-auto: containers the pool holds at once (2-65536). Default 64. */
    slots?: number;
    /** podman-auto: IDs per container (1024-65536). Default 65536. */
    size?: number;
    /** podman-auto: install Podman when missing. Default true. */
    installPodman?: boolean;
    /** kubelet-userns: IDs per pod (kubelet's userNamespaces.idsPerPod, a multiple of 65536). Default 65536. */
    idsPerPod?: number;
    /** kubelet-userns: pods per node (kubelet's maxPods; the range holds this many). Default 110. */
    maxPods?: number;
    /** kubelet-userns: kubelet's --config-dir, where the drop-in goes. Default `/etc/kubernetes/kubelet.conf.d`. */
    configDir?: string;
    /** kubelet-userns: restart a running kubelet when its range or drop-in changed. Default false. */
    restartKubelet?: boolean;
    /** kubelet-userns: kubelet's systemd unit. Default `kubelet`. */
    kubeletUnit?: string;
}

/** A subordinate-ID range. */
export interface AllocatedRange {
    /** First ID. */
    start: number;
    /** Number of IDs. */
    count: number;
}

/** What a host's runtime apply did to containers it found (only with the opt-ins). */
export interface ContainerEffectsResult {
    /** Containers that ran and were stopped by the restart of dockerd. */
    stopped: string[];
    /** Containers under the previous root that the switch hid. */
    hidden: string[];
    /** The operator's remap user that was taken over (`takeOverRemap`), if any. */
    remapTakenOverFrom?: string;
}

/** The provider's `containers` output from the library's. */
export function containerEffectsResult(e: Record<string, ContainerEffects>): Record<string, ContainerEffectsResult> {
    return Object.fromEntries(Object.entries(e).map(([h, x]) => [h, {
        stopped: x.stopped, hidden: x.hidden, ...(x.remapTakenOverFrom === null ? {} : { remapTakenOverFrom: x.remapTakenOverFrom }),
    }]));
}

/** One verification check on one host. */
export interface CheckResult {
    /** Whether the check passed. */
    passed: boolean;
    /** "error" (a failure fails the host) or "warning". */
    severity: string;
    /** What the host showed. */
    observed: string;
    /** What the plan expects. */
    expected: string;
}

/** A host's verification, after deploy. */
export interface HostVerificationResult {
    /** Every check of severity "error" passed. */
    passed: boolean;
    /** The daemon mode seen: userns-remap, rootless, userns-auto, rootful or unreachable. */
    mode: string;
    /** The runtime verified: docker-remap, docker-rootless, podman or podman-auto. */
    runtime: string;
    /** The runtime owner's planned range, `start:count`. */
    expectedRange: string;
    /** The runtime's version, as it reported it. */
    runtimeVersion?: string;
    /** Each check by name. */
    checks: Record<string, CheckResult>;
}

/** One failed check of a fleet. */
export interface FleetFinding {
    host: string;
    runtime: string;
    check: string;
    observed: string;
    expected: string;
}

/** The fleet at a glance (the library's FleetSummary, as the schema describes it). */
export interface FleetSummaryResult {
    /** Verified hosts whose checks all passed. */
    hostsPassed: number;
    /** Verified hosts with a failed check. */
    hostsFailed: number;
    /** Failed checks of severity "error". */
    failing: FleetFinding[];
    /** Failed checks of severity "warning" (they do not fail a host). */
    warnings: FleetFinding[];
}

/** Per-host results for the provider's `verification` output. */
export function verificationResult(r: HostResult): HostVerificationResult {
    return {
        passed: r.passed,
        mode: r.mode,
        runtime: r.runtime,
        expectedRange: `${r.expectedRange.start}:${r.expectedRange.count}`,
        ...(r.runtimeVersion === null ? {} : { runtimeVersion: r.runtimeVersion }),
        checks: Object.fromEntries(r.checks.map((c) => [c.name, { passed: c.passed, severity: c.severity, observed: c.observed, expected: c.expected }])),
    };
}

/** Allocation output: owner -> {start, count}. */
export function allocationResult(a: Record<string, IdRange>): Record<string, AllocatedRange> {
    return Object.fromEntries(Object.entries(a).map(([o, r]) => [o, { start: r.start, count: r.count }]));
}

type Raw = Record<string, unknown>;

/** Settings each mode takes (besides `mode`). */
const MODE_FIELDS: Record<RuntimeSpec["mode"], readonly string[]> = {
    "userns-remap": ["remapUser", "daemonOptions", "installDocker", "requireNoContainers", "takeOverRemap", "existingContainers"],
    "docker-rootless": ["user", "createUser", "restrictShell"],
    podman: ["user", "createUser", "restrictShell"],
    "podman-auto": ["poolOwner", "slots", "size", "installPodman"],
    "kubelet-userns": ["idsPerPod", "maxPods", "configDir", "restartKubelet", "kubeletUnit"],
};
const HOST_FIELDS = ["address", "port", "user", "privateKey", "hostKey", "runtime", "tenants", "verify"];
const FLEET_FIELDS = ["hosts", "tenants", "reportOnly", "reuseRetiredRanges"];

const isObject = (v: unknown): v is Raw => v !== null && typeof v === "object" && !Array.isArray(v) && !pulumi.Output.isInstance(v);

/**
 * Checks the provider's inputs (as the engine hands them over: plain values, or Outputs for
 * secrets and values not known yet) and maps them onto the library's {@link HardenedFleetArgs}.
 * Every problem, its own and the fleet's (names, tenants, pools), is recorded in `problems`, to be
 * raised as one error before anything is registered. Outputs are checked when they resolve.
 */
export function fleetArgsFromInputs(inputs: Raw, problems: Problems): HardenedFleetArgs {
    // Fields that shape the fleet must be plain: an Output here (a secret, another resource's
    // output) would leave the number of hosts or a runtime unknown.
    const plain = (field: string, v: unknown): boolean => {
        if (!pulumi.Output.isInstance(v)) return true;
        problems.add(field, "must be a plain value when the program runs (not a secret, not another resource's output)");
        return false;
    };
    const unknownFields = (prefix: string, v: Raw, allowed: readonly string[], what: string) => {
        for (const k of Object.keys(v)) {
            if (!allowed.includes(k) && v[k] !== undefined) problems.add(`${prefix}${k}`, `is not ${what} (${allowed.join(", ")})`);
        }
    };
    const typed = <T>(field: string, v: unknown, type: "string" | "number" | "boolean", problem?: (x: T) => string | undefined): T | undefined => {
        if (v === undefined || v === null || !plain(field, v)) return undefined;
        if (typeof v !== type || (type === "number" && !Number.isInteger(v))) {
            problems.add(field, `must be ${type === "number" ? "a whole number" : type === "boolean" ? "true or false" : "a string"}, not ${JSON.stringify(v)}`);
            return undefined;
        }
        const why = problem?.(v as T);
        problems.add(field, why);
        return why === undefined ? (v as T) : undefined;
    };
    // Connection fields may be Outputs: checked now when plain, when they resolve otherwise.
    const input = <T>(field: string, v: unknown, problem: (x: unknown) => string | undefined): pulumi.Input<T> =>
        problems.check<T>(field, v as pulumi.Input<T>, problem as (x: T) => string | undefined);

    unknownFields("", inputs, FLEET_FIELDS, "an argument of HardenedFleet");
    const tenants: Record<string, { size?: number }> = {};
    if (inputs["tenants"] !== undefined && plain("tenants", inputs["tenants"])) {
        if (!isObject(inputs["tenants"])) problems.add("tenants", "must be a map of tenant name to {size}");
        else {
            for (const [owner, spec] of Object.entries(inputs["tenants"])) {
                if (spec === undefined || spec === null) { tenants[owner] = {}; continue; }
                if (!plain(`tenants.${owner}`, spec)) continue;
                if (!isObject(spec)) { problems.add(`tenants.${owner}`, "must be an object ({size})"); continue; }
                unknownFields(`tenants.${owner}.`, spec, ["size"], "a tenant setting");
                const size = typed<number>(`tenants.${owner}.size`, spec["size"], "number",
                    (n) => (n >= 65536 && n <= 2 ** 31 ? undefined : `must be from 65536 to 2^31 IDs, not ${n}`));
                tenants[owner] = size === undefined ? {} : { size };
            }
        }
    }

    const hosts: Record<string, Omit<FleetHostSpec, "runtime"> & { runtime?: RuntimeSpec }> = {};
    const rawHosts = inputs["hosts"];
    if (rawHosts === undefined || rawHosts === null) problems.add("hosts", "is required: a map of host name to {address, privateKey, runtime, ...}");
    else if (plain("hosts", rawHosts)) {
        if (!isObject(rawHosts)) problems.add("hosts", "must be a map of host name to {address, privateKey, runtime, ...}");
        else {
            for (const [name, spec] of Object.entries(rawHosts)) {
                const key = `hosts.${name}`;
                if (!plain(key, spec)) continue;
                if (!isObject(spec)) { problems.add(key, "must be an object ({address, privateKey, runtime, ...})"); continue; }
                hosts[name] = hostSpec(key, spec);
            }
        }
    }

    // A host whose runtime is wrong still has its name and tenants checked (runtime undefined).
    function hostSpec(key: string, h: Raw): Omit<FleetHostSpec, "runtime"> & { runtime?: RuntimeSpec } {
        unknownFields(`${key}.`, h, HOST_FIELDS, "a host setting");
        if (h["address"] === undefined) problems.add(`${key}.address`, "is required");
        if (h["privateKey"] === undefined) problems.add(`${key}.privateKey`, "is required");
        const connection: HostConnection = {
            host: input<string>(`${key}.address`, h["address"], addressProblem),
            port: input<number>(`${key}.port`, h["port"] ?? 22, portProblem),
            user: input<string>(`${key}.user`, h["user"] ?? "root", loginUserProblem),
            privateKey: pulumi.secret(input<string>(`${key}.privateKey`, h["privateKey"], privateKeyProblem)),
            ...(h["hostKey"] === undefined ? {} : { hostKey: input<string>(`${key}.hostKey`, h["hostKey"], hostKeyProblem) }),
        };
        const runtime = runtimeSpec(`${key}.runtime`, h["runtime"] ?? { mode: "userns-remap" });
        let tenantList: string[] = [];
        const t = h["tenants"];
        if (t !== undefined && t !== null && plain(`${key}.tenants`, t)) {
            if (!Array.isArray(t) || t.some((x) => typeof x !== "string")) problems.add(`${key}.tenants`, "must be a list of tenant names");
            else tenantList = t as string[];
        }
        const verify = typed<boolean>(`${key}.verify`, h["verify"], "boolean") ?? true;
        return {
            connection,
            runtime,
            tenants: tenantList,
            // reportOnly is the fleet's, set below.
            verify: verify ? { reportOnly: false } : false,
        };
    }

    function runtimeSpec(key: string, v: unknown): RuntimeSpec | undefined {
        if (!plain(key, v)) return undefined;
        if (!isObject(v)) { problems.add(key, `must be an object ({mode, ...})`); return undefined; }
        const mode = v["mode"];
        if (!plain(`${key}.mode`, mode)) return undefined;
        if (typeof mode !== "string" || !(RUNTIME_MODES as readonly string[]).includes(mode)) {
            problems.add(`${key}.mode`, `${JSON.stringify(mode)} is not one of ${RUNTIME_MODES.map((m) => JSON.stringify(m)).join(", ")}`);
            return undefined;
        }
        const m = mode as RuntimeSpec["mode"];
        unknownFields(`${key}.`, v, ["mode", ...MODE_FIELDS[m]], `a ${m} setting`);
        const user = (f: string) => typed<string>(`${key}.${f}`, v[f], "string", nonRootUserProblem);
        const flag = (f: string) => typed<boolean>(`${key}.${f}`, v[f], "boolean");
        const defined = <T extends Raw>(o: T) => Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined)) as T;
        switch (m) {
            case "userns-remap": {
                const d = v["daemonOptions"];
                let daemonOptions: Record<string, unknown> | undefined;
                if (d !== undefined && d !== null && plain(`${key}.daemonOptions`, d)) {
                    if (!isObject(d)) problems.add(`${key}.daemonOptions`, "must be a map of daemon.json keys to values");
                    else daemonOptions = d;
                }
                const containers = typed<string>(`${key}.existingContainers`, v["existingContainers"], "string",
                    (c) => (c === "refuse" || c === "stop" ? undefined : `${JSON.stringify(c)} is not "refuse" (the default) or "stop"`)) as ExistingContainers | undefined;
                return defined({
                    mode: m, remapUser: user("remapUser"), daemonOptions, installDocker: flag("installDocker"), requireNoContainers: flag("requireNoContainers"),
                    takeOverRemap: flag("takeOverRemap"), existingContainers: containers,
                });
            }
            case "docker-rootless":
            case "podman": {
                if (v["user"] === undefined) problems.add(`${key}.user`, `is required for ${m} (the runtime's non-root owner)`);
                const owner = user("user");
                if (owner === undefined) return undefined;
                return defined({ mode: m, user: owner, createUser: flag("createUser"), restrictShell: flag("restrictShell") });
            }
            case "podman-auto":
                // slots and size are checked with the fleet's pool rules (fleetArgsProblems).
                return defined({
                    mode: m, poolOwner: user("poolOwner"), installPodman: flag("installPodman"),
                    slots: typed<number>(`${key}.slots`, v["slots"], "number"), size: typed<number>(`${key}.size`, v["size"], "number"),
                });
            case "kubelet-userns":
                // idsPerPod and maxPods are checked with the fleet's rules (fleetArgsProblems).
                return defined({
                    mode: m, idsPerPod: typed<number>(`${key}.idsPerPod`, v["idsPerPod"], "number"), maxPods: typed<number>(`${key}.maxPods`, v["maxPods"], "number"),
                    configDir: typed<string>(`${key}.configDir`, v["configDir"], "string"), restartKubelet: flag("restartKubelet"),
                    kubeletUnit: typed<string>(`${key}.kubeletUnit`, v["kubeletUnit"], "string"),
                });
            default: {
                const other: never = m;
                throw new Error(`unknown runtime mode ${JSON.stringify(other)}`);
            }
        }
    }

    const reportOnly = typed<boolean>("reportOnly", inputs["reportOnly"], "boolean");
    for (const h of Object.values(hosts)) if (h.verify !== false) h.verify = { reportOnly: reportOnly ?? false };
    const reuse = typed<boolean>("reuseRetiredRanges", inputs["reuseRetiredRanges"], "boolean");
    const args: HardenedFleetArgs = {
        hosts: Object.fromEntries(Object.entries(hosts).filter((e): e is [string, FleetHostSpec] => e[1].runtime !== undefined)),
        tenants,
        ...(reuse === undefined ? {} : { reuseRetiredRanges: reuse }),
    };
    // The fleet's own rules (host names, tenants per host, pools) on every host given: one whose
    // runtime was wrong (reported above) stands in as userns-remap, which adds no pool rule.
    if (isObject(rawHosts)) {
        fleetArgsProblems({ ...args, hosts: Object.fromEntries(Object.entries(hosts).map(([n, h]) => [n, { ...h, runtime: h.runtime ?? { mode: "userns-remap" } }])) }, problems);
    }
    return args;
}
