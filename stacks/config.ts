/**
 * The stack's typed configuration (documented in Pulumi.yaml). Parsing is pure except for the
 * lab inventory file (read through an injectable loader), so every mistake is reported at
 * preview, naming the config key, before any resource exists and before anything reaches a host.
 */

import * as fs from "node:fs";
import * as path from "node:path";
import * as yaml from "js-yaml";
import {
    DEFAULT_AUTO_SIZE, DEFAULT_AUTO_SLOTS, DEFAULT_IDS_PER_POD, DEFAULT_MAX_PODS, Ec2Distro, idsPerPodProblem, kubeletRangeProblem, maxPodsProblem, MANAGED_TAG, RUNTIME_MODES, RuntimeSpec, autoPoolProblem, autoSizeProblem,
    autoSlotsProblem, distroProblem, ec2PublicKeyProblem, imageSupportProblem, instanceTypeProblem, isValidOwner, nonRootUserProblem, parseSshCidr,
    rootVolumeProblem, sshCidrsProblem, subnetIdProblem, tagProblem, vpcIdProblem,
} from "hardened-hosts";
import { ConfigError } from "./config-error";
import { LAB_INVENTORY_DEFAULT, LabHost, LabInventory, LabProfile, readLabInventory } from "./lab-inventory";

export { ConfigError } from "./config-error";

/** What every fleet host has in config: its name, runtime and tenants. */
export interface FleetHostConfig {
    name: string;
    runtime: RuntimeSpec;
    /** Its tenants; undefined on a shard's host that names none: every tenant of the ledger. */
    tenants?: string[];
}

/** A bring-your-own host from config (`hardened-hosts:hosts`). */
export interface ExistingHostConfig extends FleetHostConfig {
    address: string;
    port: number;
    user: string;
    /** Config key of the host's private key (a secret), default `sshPrivateKey`. */
    privateKeyKey: string;
    hostKey?: string;
}

/** `hardened-hosts:aws`: what every EC2 host of the stack is made of. */
export interface AwsConfig {
    distro: Ec2Distro;
    instanceType?: string;
    subnetId?: string;
    vpcId?: string;
    sshCidrs: string[];
    publicKey: string;
    /** Config key of the matching private key (a secret), default `sshPrivateKey`. */
    privateKeyKey: string;
    tags: Record<string, string>;
    rootVolumeGiB?: number;
    associatePublicIp?: boolean;
}

/** A lab host: the inventory's connection, the config's (or the profile's default) runtime. */
export interface LabHostConfig extends FleetHostConfig, Omit<LabHost, "name"> {}

type Tenants = Record<string, { size?: number }>;

/**
 * What a fleet's hosts take their ranges from: the stack's own ledger (its tenants), or, for a
 * shard, the ledger another stack publishes (`hardened-hosts:ledgerStack`; #29).
 */
export type FleetRanges = { tenants: Tenants; ledgerStack?: undefined } | { tenants: Record<string, never>; ledgerStack: string };

/** What the stack program builds. */
export type StackPlan =
    | { kind: "probe" }
    | { kind: "ledger"; tenants: Tenants; runtimeOwners: Tenants }
    | ({ kind: "existing"; hosts: ExistingHostConfig[]; reportOnly: boolean } & FleetRanges)
    | ({ kind: "aws"; aws: AwsConfig; hosts: FleetHostConfig[]; reportOnly: boolean } & FleetRanges)
    | ({ kind: "lab"; inventory: string; hosts: LabHostConfig[]; reportOnly: boolean } & FleetRanges);

/** The values of `hardened-hosts:machines`. */
export const MACHINE_KINDS = ["probe", "ledger", "existing", "aws", "lab"] as const;

/**
 * The runtime a lab host gets when config does not say (documented in Pulumi.yaml): the `busy`
 * host (accounts and subordinate IDs already in use) gets rootful Docker with userns-remap, the
 * `fresh` one rootless Docker for `dockeruser`, the `sudo-user` one (login user with sudo, not
 * root) rootless Podman for `podmanuser`, the `podman-host` one rootful Podman with a user
 * namespace per container (16 slots of 65536 IDs). Together they cover every runtime mode.
 */
export const LAB_DEFAULT_RUNTIMES: Readonly<Record<LabProfile, RuntimeSpec>> = {
    busy: { mode: "userns-remap" },
    fresh: { mode: "docker-rootless", user: "dockeruser" },
    "sudo-user": { mode: "podman", user: "podmanuser" },
    "podman-host": { mode: "podman-auto", slots: 16 },
    // `lab.sh up --minimal` hosts (nothing but systemd, sshd, sudo): stacks usually name each one's runtime.
    minimal: { mode: "userns-remap" },
    "minimal-sudo": { mode: "podman", user: "podmanuser" },
};

/** How {@link parseStackConfig} reaches outside config. */
export interface ConfigEnvironment {
    /** The project root (the directory of Pulumi.yaml): relative inventory paths start here. */
    projectRoot: string;
    /** Reads and checks a lab inventory (default: `readLabInventory`, from disk). */
    loadLabInventory?: (file: string, key: string) => LabInventory;
}

type Raw = Record<string, unknown>;
const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
// An address is a DNS name or an IP literal: nothing a shell or ssh option parser could misread.
const ADDRESS = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:.]+\]?$/;
// A key under the hardened-hosts namespace (where the private key secret lives).
const CONFIG_KEY = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function obj(v: unknown, key: string): Raw {
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new ConfigError(key, "must be an object");
    return v as Raw;
}
function str(v: unknown, key: string): string {
    if (typeof v !== "string" || v.length === 0) throw new ConfigError(key, "must be a non-empty string");
    return v;
}
function checked<T>(v: unknown, key: string, problem: (v: unknown) => string | undefined): T {
    const why = problem(v);
    if (why !== undefined) throw new ConfigError(key, why);
    return v as T;
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
            for (const field of Object.keys(r)) {
                if (!["mode", "remapUser", "daemonOptions", "takeOverRemap", "existingContainers"].includes(field)) {
                    throw new ConfigError(`${key}.${field}`, "is not a userns-remap setting (remapUser, daemonOptions, takeOverRemap, existingContainers)");
                }
            }
            const takeOver = r["takeOverRemap"];
            if (takeOver !== undefined && typeof takeOver !== "boolean") throw new ConfigError(`${key}.takeOverRemap`, "must be true or false");
            // Live containers are never stopped or hidden unless this says so (#28).
            const containers = r["existingContainers"];
            if (containers !== undefined && containers !== "refuse" && containers !== "stop") {
                throw new ConfigError(`${key}.existingContainers`, `${JSON.stringify(containers)} is not "refuse" (the default) or "stop"`);
            }
            return {
                mode, ...defined("remapUser", remapUser), ...defined("daemonOptions", daemonOptions),
                ...defined("takeOverRemap", takeOver as boolean | undefined), ...defined("existingContainers", containers as "refuse" | "stop" | undefined),
            };
        }
        case "docker-rootless":
        case "podman": {
            const user = str(r["user"], `${key}.user`);
            const problem = nonRootUserProblem(user);
            if (problem) throw new ConfigError(`${key}.user`, problem);
            return { mode, user };
        }
        case "podman-auto": {
            for (const field of Object.keys(r)) {
                if (!["mode", "poolOwner", "slots", "size", "installPodman"].includes(field)) {
                    throw new ConfigError(`${key}.${field}`, "is not a podman-auto setting (poolOwner, slots, size, installPodman)");
                }
            }
            const poolOwner = r["poolOwner"] === undefined ? undefined : str(r["poolOwner"], `${key}.poolOwner`);
            const problem = poolOwner === undefined ? undefined : nonRootUserProblem(poolOwner);
            if (problem) throw new ConfigError(`${key}.poolOwner`, problem);
            const slots = r["slots"] === undefined ? undefined : checked<number>(r["slots"], `${key}.slots`, autoSlotsProblem);
            const size = r["size"] === undefined ? undefined : checked<number>(r["size"], `${key}.size`, autoSizeProblem);
            const pool = autoPoolProblem(slots ?? DEFAULT_AUTO_SLOTS, size ?? DEFAULT_AUTO_SIZE);
            if (pool) throw new ConfigError(key, pool);
            const install = r["installPodman"];
            if (install !== undefined && typeof install !== "boolean") throw new ConfigError(`${key}.installPodman`, "must be true or false");
            return {
                mode, ...defined("poolOwner", poolOwner), ...defined("slots", slots), ...defined("size", size),
                ...defined("installPodman", install as boolean | undefined),
            };
        }
        case "kubelet-userns": {
            const fields = ["mode", "idsPerPod", "maxPods", "configDir", "restartKubelet", "kubeletUnit"];
            for (const field of Object.keys(r)) {
                if (!fields.includes(field)) throw new ConfigError(`${key}.${field}`, `is not a kubelet-userns setting (${fields.slice(1).join(", ")})`);
            }
            const idsPerPod = r["idsPerPod"] === undefined ? undefined : checked<number>(r["idsPerPod"], `${key}.idsPerPod`, idsPerPodProblem);
            const maxPods = r["maxPods"] === undefined ? undefined : checked<number>(r["maxPods"], `${key}.maxPods`, maxPodsProblem);
            const range = kubeletRangeProblem(idsPerPod ?? DEFAULT_IDS_PER_POD, maxPods ?? DEFAULT_MAX_PODS);
            if (range) throw new ConfigError(key, range);
            const configDir = r["configDir"] === undefined ? undefined : str(r["configDir"], `${key}.configDir`);
            if (configDir !== undefined && !/^\/[A-Za-z0-9._/-]*$/.test(configDir)) throw new ConfigError(`${key}.configDir`, "must be an absolute path");
            const restart = r["restartKubelet"];
            if (restart !== undefined && typeof restart !== "boolean") throw new ConfigError(`${key}.restartKubelet`, "must be true or false");
            const unit = r["kubeletUnit"] === undefined ? undefined : str(r["kubeletUnit"], `${key}.kubeletUnit`);
            return {
                mode, ...defined("idsPerPod", idsPerPod), ...defined("maxPods", maxPods), ...defined("configDir", configDir),
                ...defined("restartKubelet", restart as boolean | undefined), ...defined("kubeletUnit", unit),
            };
        }
        default:
            throw new ConfigError(`${key}.mode`, `${JSON.stringify(mode)} is not one of ${RUNTIME_MODES.map((m) => JSON.stringify(m)).join(", ")}`);
    }
}

/**
 * A host's tenants: names of the stack's tenants (default none), or on a shard ("ledger": the
 * tenants are the ledger stack's, checked when it is read) any owner names (default: every tenant
 * of the ledger).
 */
function parseHostTenants(v: unknown, key: string, ns: string, tenants: Tenants | "ledger"): string[] | undefined {
    if (v === undefined && tenants === "ledger") return undefined;
    const hostTenants = v ?? [];
    if (!Array.isArray(hostTenants)) throw new ConfigError(key, "must be a list of tenant names");
    hostTenants.forEach((t, j) => {
        if (tenants === "ledger") {
            if (typeof t !== "string" || !isValidOwner(t)) throw new ConfigError(`${key}[${j}]`, `${JSON.stringify(t)} is not a tenant name`);
        } else if (typeof t !== "string" || !Object.prototype.hasOwnProperty.call(tenants, t)) {
            throw new ConfigError(`${key}[${j}]`, `${JSON.stringify(t)} is not one of ${ns}:tenants`);
        }
    });
    return hostTenants as string[];
}

function parseHostName(h: Raw, key: string): string {
    const name = str(h["name"], `${key}.name`);
    if (!HOST_NAME.test(name)) throw new ConfigError(`${key}.name`, `must match ${HOST_NAME.source}`);
    return name;
}

function parseExistingHost(v: unknown, key: string, ns: string, tenants: Tenants | "ledger"): ExistingHostConfig {
    const h = obj(v, key);
    const name = parseHostName(h, key);
    const address = str(h["address"], `${key}.address`);
    if (!ADDRESS.test(address)) throw new ConfigError(`${key}.address`, `${JSON.stringify(address)} is not a host name or IP address`);
    const port = h["port"] ?? 22;
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
        throw new ConfigError(`${key}.port`, "must be an integer from 1 to 65535");
    }
    const user = h["user"] === undefined ? "root" : str(h["user"], `${key}.user`);
    if (user !== "root" && nonRootUserProblem(user)) throw new ConfigError(`${key}.user`, nonRootUserProblem(user)!);
    return {
        name,
        address,
        port: port as number,
        user,
        privateKeyKey: h["privateKeyConfig"] === undefined ? "sshPrivateKey" : str(h["privateKeyConfig"], `${key}.privateKeyConfig`),
        hostKey: h["hostKey"] === undefined ? undefined : str(h["hostKey"], `${key}.hostKey`),
        runtime: parseRuntime(h["runtime"], `${key}.runtime`),
        tenants: parseHostTenants(h["tenants"], `${key}.tenants`, ns, tenants),
    };
}

/** The connection settings of an existing host, which other kinds take from elsewhere. */
const CONNECTION_FIELDS = ["address", "port", "user", "hostKey", "privateKeyConfig", "password", "proxy", "sudo"];

/**
 * A host of a kind whose connection is not in `hardened-hosts:hosts` (aws, lab): only name,
 * runtime and tenants; connection settings are refused with `where` (where they come from),
 * anything else as unknown (a typo would otherwise be ignored).
 */
function parseFleetHost(v: unknown, key: string, ns: string, tenants: Tenants | "ledger", where: string, defaultRuntime?: (name: string) => RuntimeSpec | undefined): FleetHostConfig {
    const h = obj(v, key);
    for (const field of Object.keys(h)) {
        if (CONNECTION_FIELDS.includes(field)) throw new ConfigError(`${key}.${field}`, `is not set here: ${where}; remove it`);
        if (!["name", "runtime", "tenants"].includes(field)) {
            throw new ConfigError(`${key}.${field}`, "is not a host setting here (name, runtime, tenants)");
        }
    }
    const name = parseHostName(h, key);
    return {
        name,
        runtime: parseRuntime(h["runtime"] ?? defaultRuntime?.(name), `${key}.runtime`),
        tenants: parseHostTenants(h["tenants"], `${key}.tenants`, ns, tenants),
    };
}

function uniqueNames(hosts: { name: string }[], source: HostSource): void {
    const seen = new Set<string>();
    hosts.forEach((h, i) => {
        if (seen.has(h.name)) throw new ConfigError(`${source.key}[${i}].name`, `${JSON.stringify(h.name)} is used twice`);
        seen.add(h.name);
    });
}

function parseTenants(get: (key: string) => unknown, ns: string, key = "tenants"): Tenants {
    const rawTenants = obj(get(key) ?? {}, `${ns}:${key}`);
    const tenants: Tenants = {};
    for (const [owner, spec] of Object.entries(rawTenants)) {
        if (!isValidOwner(owner)) throw new ConfigError(`${ns}:${key}.${owner}`, "is not a valid login name");
        const size = spec === null || spec === undefined ? undefined : obj(spec, `${ns}:${key}.${owner}`)["size"];
        if (size !== undefined && (!Number.isInteger(size) || (size as number) < 65536)) {
            throw new ConfigError(`${ns}:${key}.${owner}.size`, "must be an integer of at least 65536");
        }
        tenants[owner] = size === undefined ? {} : { size: size as number };
    }
    return tenants;
}

/**
 * A fleet's ranges: its own tenants, or (`hardened-hosts:ledgerStack`, a shard) the ledger
 * another stack of the project publishes, which decides tenants, sizes and pool (#29).
 */
function parseFleetRanges(get: (key: string) => unknown, ns: string): FleetRanges {
    const ledgerStack = get("ledgerStack");
    if (ledgerStack === undefined) return { tenants: parseTenants(get, ns) };
    const key = `${ns}:ledgerStack`;
    if (typeof ledgerStack !== "string" || !/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+){0,2}$/.test(ledgerStack)) {
        throw new ConfigError(key, "must be a stack name: STACK, or ORGANIZATION/PROJECT/STACK");
    }
    if (get("tenants") !== undefined) {
        throw new ConfigError(`${ns}:tenants`, `is the ledger stack's (${key} = ${ledgerStack}): a shard takes its tenants from there; remove it`);
    }
    return { tenants: {}, ledgerStack };
}

function parseReportOnly(get: (key: string) => unknown, ns: string): boolean {
    const reportOnly = get("reportOnly") ?? false;
    if (typeof reportOnly !== "boolean") throw new ConfigError(`${ns}:reportOnly`, "must be true or false");
    return reportOnly;
}

/** The host list and the key its problems are named under. */
interface HostSource {
    value: unknown;
    key: string;
}

/**
 * Where the hosts are listed: `hardened-hosts:hosts` in the stack config, or the YAML (or JSON)
 * file `hardened-hosts:hostsFile` names, relative to the project root: a list of hosts, or
 * `{hosts: [...]}`, each host as in `hosts`. The file is for fleets the config cannot hold: the
 * engine hands a program its whole stack config in one environment variable, which Linux caps at
 * 128 KiB (about 600 hosts; pulumi/pulumi#8680). Problems in the file are named by the file's
 * path and the host's index (`fleet.yaml: hosts[712].address: ...`).
 */
function hostSource(get: (key: string) => unknown, ns: string, env: ConfigEnvironment): HostSource {
    const setting = get("hostsFile");
    if (setting === undefined) return { value: get("hosts"), key: `${ns}:hosts` };
    const key = `${ns}:hostsFile`;
    if (typeof setting !== "string" || setting.length === 0 || setting.includes("\0")) throw new ConfigError(key, "must be a file path");
    if (get("hosts") !== undefined) throw new ConfigError(key, `and ${ns}:hosts are both set: list the hosts in one of them`);
    const file = path.resolve(env.projectRoot, setting);
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (e) {
        throw new ConfigError(key, `${file} cannot be read: ${(e as Error).message}`);
    }
    let doc: unknown;
    try {
        doc = yaml.load(text, { filename: file });
    } catch (e) {
        throw new ConfigError(key, `${file} is not YAML or JSON: ${(e as Error).message.split("\n")[0]}`);
    }
    const value = doc !== null && typeof doc === "object" && !Array.isArray(doc) ? (doc as Raw)["hosts"] : doc;
    return { value, key: `${setting}: hosts` };
}

function hostList(source: HostSource): unknown[] {
    if (!Array.isArray(source.value) || source.value.length === 0) throw new ConfigError(source.key, "must be a non-empty list of hosts");
    return source.value;
}

const AWS_FIELDS = ["distro", "instanceType", "subnetId", "vpcId", "sshCidrs", "publicKey", "privateKeyConfig", "tags", "rootVolumeGiB", "associatePublicIp"];

function parseAws(v: unknown, ns: string): AwsConfig {
    const key = `${ns}:aws`;
    if (v === undefined) throw new ConfigError(key, "must be set for machines = aws (at least sshCidrs and publicKey; see Pulumi.yaml)");
    const a = obj(v, key);
    for (const field of Object.keys(a)) {
        if (field === "region") {
            throw new ConfigError(`${key}.region`, "is not a setting of this stack: the region is the AWS provider's (`pulumi config set aws:region ...`)");
        }
        if (!AWS_FIELDS.includes(field)) throw new ConfigError(`${key}.${field}`, `is not one of ${AWS_FIELDS.join(", ")}`);
    }
    const optional = <T>(field: string, problem: (v: unknown) => string | undefined): T | undefined =>
        a[field] === undefined ? undefined : checked<T>(a[field], `${key}.${field}`, problem);

    // SSH sources: each block checked on its own, so the key names the bad one.
    const cidrs = a["sshCidrs"];
    if (!Array.isArray(cidrs) || cidrs.length === 0) throw new ConfigError(`${key}.sshCidrs`, sshCidrsProblem(cidrs) ?? "must be a list");
    const seen = new Set<string>();
    cidrs.forEach((c, i) => {
        const parsed = parseSshCidr(c);
        if (typeof parsed === "string") throw new ConfigError(`${key}.sshCidrs[${i}]`, parsed);
        if (seen.has(c)) throw new ConfigError(`${key}.sshCidrs[${i}]`, `${JSON.stringify(c)} is listed twice`);
        seen.add(c);
    });
    if (a["publicKey"] === undefined) throw new ConfigError(`${key}.publicKey`, "is required: the OpenSSH public key (.pub) of the EC2 key pair");

    const rawTags = a["tags"] === undefined ? {} : obj(a["tags"], `${key}.tags`);
    const tags: Record<string, string> = {};
    for (const [k, value] of Object.entries(rawTags)) {
        if (k === MANAGED_TAG) throw new ConfigError(`${key}.tags.${k}`, "is set by hardened-hosts on everything it creates; remove it");
        const why = tagProblem(k, value);
        if (why !== undefined) throw new ConfigError(`${key}.tags.${k}`, why);
        tags[k] = value as string;
    }
    const privateKeyKey = a["privateKeyConfig"] === undefined ? "sshPrivateKey" : checked<string>(a["privateKeyConfig"], `${key}.privateKeyConfig`,
        (k) => (typeof k === "string" && CONFIG_KEY.test(k) ? undefined : `${JSON.stringify(k)} is not a config key name (${CONFIG_KEY.source})`));
    const associatePublicIp = optional<boolean>("associatePublicIp", (b) => (typeof b === "boolean" ? undefined : "must be true or false"));

    return {
        distro: a["distro"] === undefined ? "debian-12" : checked<Ec2Distro>(a["distro"], `${key}.distro`, distroProblem),
        ...defined("instanceType", optional<string>("instanceType", instanceTypeProblem)),
        ...defined("subnetId", optional<string>("subnetId", subnetIdProblem)),
        ...defined("vpcId", optional<string>("vpcId", vpcIdProblem)),
        sshCidrs: cidrs as string[],
        publicKey: checked<string>(a["publicKey"], `${key}.publicKey`, ec2PublicKeyProblem).trim(),
        privateKeyKey,
        tags,
        ...defined("rootVolumeGiB", optional<number>("rootVolumeGiB", rootVolumeProblem)),
        ...defined("associatePublicIp", associatePublicIp),
    };
}

/** `{[k]: v}`, or nothing when v is undefined (plans hold no undefined fields). */
function defined<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
    return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}

function parseLab(get: (key: string) => unknown, ns: string, ranges: FleetRanges, env: ConfigEnvironment, source: HostSource): { inventory: string; hosts: LabHostConfig[] } {
    const tenants = ranges.ledgerStack === undefined ? ranges.tenants : "ledger";
    const key = `${ns}:labInventory`;
    const setting = get("labInventory") ?? LAB_INVENTORY_DEFAULT;
    if (typeof setting !== "string" || setting.length === 0 || setting.includes("\0")) throw new ConfigError(key, "must be a file path");
    const file = path.resolve(env.projectRoot, setting);
    const inventory = (env.loadLabInventory ?? readLabInventory)(file, key);
    const byName = new Map(inventory.hosts.map((h) => [h.name, h]));

    let hosts: FleetHostConfig[];
    if (source.value === undefined) {
        // Every inventory host, its profile's runtime, every fleet tenant.
        hosts = inventory.hosts.map((h) => ({ name: h.name, runtime: LAB_DEFAULT_RUNTIMES[h.profile], ...(tenants === "ledger" ? {} : { tenants: Object.keys(tenants) }) }));
    } else {
        const where = `it comes from the lab inventory (${key} = ${file})`;
        hosts = hostList(source).map((h, i) => {
            const parsed = parseFleetHost(h, `${source.key}[${i}]`, ns, tenants, where, (name) => {
                const found = byName.get(name);
                return found === undefined ? undefined : LAB_DEFAULT_RUNTIMES[found.profile];
            });
            if (!byName.has(parsed.name)) {
                throw new ConfigError(`${source.key}[${i}].name`,
                    `${JSON.stringify(parsed.name)} is not in the lab inventory ${file} (its hosts: ${[...byName.keys()].join(", ")})`);
            }
            return parsed;
        });
        uniqueNames(hosts, source);
    }
    return {
        inventory: file,
        hosts: hosts.map((h) => {
            const { name: _name, ...connection } = byName.get(h.name)!;
            return { ...connection, ...h };
        }),
    };
}

/**
 * Reads the stack plan from raw config values (`get(key)` returns the parsed YAML value or
 * undefined). `ns` is the config namespace, `hardened-hosts`; `env` is needed for `lab` only.
 * @throws ConfigError naming the full key.
 */
export function parseStackConfig(get: (key: string) => unknown, ns = "hardened-hosts", env: ConfigEnvironment = { projectRoot: process.cwd() }): StackPlan {
    const machines = get("machines") ?? "probe";
    switch (machines) {
        case "probe":
            return { kind: "probe" };
        case "ledger": {
            // A ledger stack: the fleet's allocation, published for its shards; no host.
            for (const k of ["hosts", "hostsFile", "ledgerStack"]) {
                if (get(k) !== undefined) throw new ConfigError(`${ns}:${k}`, "is not a setting of a ledger stack (machines = ledger): its shards list the hosts");
            }
            const tenants = parseTenants(get, ns);
            const runtimeOwners = parseTenants(get, ns, "runtimeOwners");
            for (const o of Object.keys(runtimeOwners)) {
                if (o in tenants) throw new ConfigError(`${ns}:runtimeOwners.${o}`, `is also a tenant: one owner, one range`);
            }
            if (Object.keys(tenants).length + Object.keys(runtimeOwners).length === 0) {
                throw new ConfigError(`${ns}:tenants`, "a ledger stack needs at least one tenant or runtime owner");
            }
            return { kind: "ledger", tenants, runtimeOwners };
        }
        case "existing": {
            const ranges = parseFleetRanges(get, ns);
            const tenants = ranges.ledgerStack === undefined ? ranges.tenants : "ledger";
            const source = hostSource(get, ns, env);
            const hosts = hostList(source).map((h, i) => parseExistingHost(h, `${source.key}[${i}]`, ns, tenants));
            uniqueNames(hosts, source);
            return { kind: "existing", hosts, ...ranges, reportOnly: parseReportOnly(get, ns) };
        }
        case "aws": {
            const aws = parseAws(get("aws"), ns);
            const ranges = parseFleetRanges(get, ns);
            const tenants = ranges.ledgerStack === undefined ? ranges.tenants : "ledger";
            const where = `it comes from the EC2 instance (its address, the login user of ${ns}:aws.distro, the key of ${ns}:aws.publicKey)`;
            const source = hostSource(get, ns, env);
            const hosts = hostList(source).map((h, i) => parseFleetHost(h, `${source.key}[${i}]`, ns, tenants, where));
            uniqueNames(hosts, source);
            // The image is known: a mode its distribution cannot run is refused now, before any
            // instance exists (the decision over the image's recorded facts, components/platform/).
            hosts.forEach((h, i) => {
                const refused = imageSupportProblem(aws.distro, h.runtime.mode);
                if (refused !== undefined) throw new ConfigError(`${source.key}[${i}].runtime.mode`, `${refused} (${ns}:aws.distro is ${JSON.stringify(aws.distro)})`);
            });
            return { kind: "aws", aws, hosts, ...ranges, reportOnly: parseReportOnly(get, ns) };
        }
        case "lab": {
            const ranges = parseFleetRanges(get, ns);
            const { inventory, hosts } = parseLab(get, ns, ranges, env, hostSource(get, ns, env));
            return { kind: "lab", inventory, hosts, ...ranges, reportOnly: parseReportOnly(get, ns) };
        }
        default:
            throw new ConfigError(`${ns}:machines`, `${JSON.stringify(machines)} is not one of ${MACHINE_KINDS.map((k) => JSON.stringify(k)).join(", ")}`);
    }
}
