/**
 * The lab inventory: the local disposable test hosts that `npm run lab -- up` starts, as a JSON
 * file the stack reads when `hardened-hosts:machines` is `lab`. Format 1:
 *
 * ```json
 * {"version": 1, "hosts": [{"name": "lab-1", "address": "127.0.0.1", "port": 22201, "user": "root",
 *   "privateKeyFile": "/abs/path/id_ed25519", "hostKey": "ssh-ed25519 AAAA...",
 *   "profile": "fresh", "suite": "bookworm"}]}
 * ```
 *
 * `hostKey` and `suite` may be absent; a relative `privateKeyFile` is taken from the inventory's
 * directory; other fields are ignored. Every field is checked here, before anything reaches a
 * host; the private key itself is only read by {@link readLabPrivateKey} (and never quoted).
 */

import * as fs from "node:fs";
import * as path from "node:path";
import { addressProblem, hostKeyProblem, loginUserProblem, portProblem, privateKeyProblem } from "hardened-hosts";
import { ConfigError } from "./config-error";

/** Where the inventory is when `hardened-hosts:labInventory` is unset (relative to the project root). */
export const LAB_INVENTORY_DEFAULT = ".lab/inventory.json";
/** What fixes a missing or stale inventory. */
export const LAB_UP_HINT = "run `npm run lab -- up`";

/** How a lab host was prepared (see `lab/`): what the stack's default runtime for it is. */
export const LAB_PROFILES = ["fresh", "busy", "sudo-user", "podman-host", "minimal", "minimal-sudo"] as const;
export type LabProfile = (typeof LAB_PROFILES)[number];

/** One lab host, checked. */
export interface LabHost {
    name: string;
    address: string;
    port: number;
    /** `root`, or a user with password-less sudo (then host scripts run through `sudo -n`). */
    user: string;
    /** Absolute path of the private key file. */
    privateKeyFile: string;
    /** The host's public key (`ssh-ed25519 AAAA...`), when the lab knows it. */
    hostKey?: string;
    profile: LabProfile;
    /** Debian suite of the host (informational). */
    suite?: string;
}

/** A checked inventory. */
export interface LabInventory {
    /** The file it was read from (absolute). */
    file: string;
    hosts: LabHost[];
}

const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SUITE = /^[a-z0-9][a-z0-9.-]{0,31}$/;

/**
 * Checks an inventory's text. `file` is where it came from (messages name it, relative key files
 * are taken from its directory); `key` is the config key errors are about.
 * @throws ConfigError naming `key`, the file and the field, with {@link LAB_UP_HINT}.
 */
export function parseLabInventory(text: string, file: string, key: string): LabInventory {
    const fail = (why: string): never => {
        throw new ConfigError(key, `${file}: ${why}; ${LAB_UP_HINT}`);
    };
    let data: unknown;
    try {
        data = JSON.parse(text);
    } catch (e) {
        return fail(`is not valid JSON (${(e as Error).message})`);
    }
    if (data === null || typeof data !== "object" || Array.isArray(data)) return fail("is not a JSON object");
    const top = data as Record<string, unknown>;
    if (top["version"] !== 1) return fail(`version: ${JSON.stringify(top["version"])} is not 1 (the inventory format this stack reads)`);
    const hosts = top["hosts"];
    if (!Array.isArray(hosts) || hosts.length === 0) return fail("hosts: must be a non-empty list of hosts");

    const seen = new Set<string>();
    const parsed = hosts.map((raw, i): LabHost => {
        const at = `hosts[${i}]`;
        if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return fail(`${at}: must be an object`);
        const h = raw as Record<string, unknown>;
        const check = (field: string, problem: string | undefined) => {
            if (problem !== undefined) fail(`${at}.${field}: ${problem}`);
        };
        const name = h["name"];
        check("name", typeof name === "string" && HOST_NAME.test(name) ? undefined : `${JSON.stringify(name)} must match ${HOST_NAME.source}`);
        check("name", seen.has(name as string) ? `${JSON.stringify(name)} is used twice` : undefined);
        seen.add(name as string);
        check("address", addressProblem(h["address"]));
        check("port", portProblem(h["port"]));
        check("user", loginUserProblem(h["user"]));
        const keyFile = h["privateKeyFile"];
        check("privateKeyFile", typeof keyFile === "string" && keyFile.length > 0 && !keyFile.includes("\0")
            ? undefined : `${JSON.stringify(keyFile)} is not a file path`);
        if (h["hostKey"] !== undefined) check("hostKey", hostKeyProblem(h["hostKey"]));
        const profile = h["profile"];
        check("profile", (LAB_PROFILES as readonly unknown[]).includes(profile)
            ? undefined : `${JSON.stringify(profile)} is not one of ${LAB_PROFILES.map((p) => JSON.stringify(p)).join(", ")}`);
        if (h["suite"] !== undefined) {
            check("suite", typeof h["suite"] === "string" && SUITE.test(h["suite"]) ? undefined : `${JSON.stringify(h["suite"])} is not a suite name`);
        }
        return {
            name: name as string,
            address: h["address"] as string,
            port: h["port"] as number,
            user: h["user"] as string,
            privateKeyFile: path.resolve(path.dirname(file), keyFile as string),
            ...(h["hostKey"] === undefined ? {} : { hostKey: (h["hostKey"] as string).trim() }),
            profile: profile as LabProfile,
            ...(h["suite"] === undefined ? {} : { suite: h["suite"] as string }),
        };
    });
    return { file, hosts: parsed };
}

/**
 * Reads and checks the inventory at `file` (absolute), and that every host's key file exists.
 * @throws ConfigError naming `key`, with {@link LAB_UP_HINT}, when the file is missing, unreadable
 *     or malformed.
 */
export function readLabInventory(file: string, key: string): LabInventory {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        const why = code === "ENOENT" ? "does not exist (no lab hosts are running)" : `cannot be read (${code ?? (e as Error).message})`;
        throw new ConfigError(key, `${file} ${why}; ${LAB_UP_HINT}`);
    }
    const inventory = parseLabInventory(text, file, key);
    inventory.hosts.forEach((h, i) => {
        let isFile = false;
        try {
            isFile = fs.statSync(h.privateKeyFile).isFile();
        } catch {
            // reported below
        }
        if (!isFile) {
            throw new ConfigError(key, `${file}: hosts[${i}].privateKeyFile: ${h.privateKeyFile} is not a file; ${LAB_UP_HINT}`);
        }
    });
    return inventory;
}

/**
 * A lab host's private key, read from its key file. Wrap it in `pulumi.secret` at once; messages
 * name the file, never its content.
 * @throws ConfigError naming `key` when the file cannot be read or holds no private key.
 */
export function readLabPrivateKey(host: LabHost, key: string): string {
    let text: string;
    try {
        text = fs.readFileSync(host.privateKeyFile, "utf8");
    } catch (e) {
        throw new ConfigError(key, `host ${host.name}: ${host.privateKeyFile} cannot be read (${(e as NodeJS.ErrnoException).code ?? "error"}); ${LAB_UP_HINT}`);
    }
    const problem = privateKeyProblem(text);
    if (problem !== undefined) throw new ConfigError(key, `host ${host.name}: ${host.privateKeyFile} ${problem}; ${LAB_UP_HINT}`);
    return text;
}
