/**
 * Pure checks for machine arguments (no Pulumi runtime, no I/O). Each returns what is wrong with
 * a value, or undefined; the components prefix the field name (see `Problems.check`). Messages
 * never quote secrets.
 */

import * as net from "node:net";
import { USER_NAME } from "../host/validate";
import { DISTRO_IMAGES } from "./distros";

// A DNS name (RFC 1123 labels) or an IP literal: nothing a shell or an ssh option parser could
// misread (no spaces, no `;|&$\`'"`, no leading `-`).
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

/** Why `address` is not a host name or IP address (no brackets, no port), or undefined. */
export function addressProblem(address: unknown): string | undefined {
    if (typeof address !== "string" || address.length === 0) return "must be a non-empty host name or IP address";
    if (net.isIP(address) !== 0 || HOST_NAME.test(address)) return undefined;
    return `${JSON.stringify(address)} is not a host name or IP address (no spaces, shell characters, brackets or port)`;
}

/** Why `port` is not a TCP port, or undefined. */
export function portProblem(port: unknown): string | undefined {
    if (typeof port === "number" && Number.isInteger(port) && port >= 1 && port <= 65535) return undefined;
    return `${JSON.stringify(port)} is not an integer from 1 to 65535`;
}

/** Why `user` is not a login name (`root` included), or undefined. */
export function loginUserProblem(user: unknown): string | undefined {
    if (typeof user === "string" && USER_NAME.test(user)) return undefined;
    return `${JSON.stringify(user)} is not a valid login name (${USER_NAME.source})`;
}

/** Why a private key (never quoted) is unusable, or undefined: empty, or a public key by mistake. */
export function privateKeyProblem(key: unknown): string | undefined {
    if (typeof key !== "string" || key.trim().length === 0) return "must be a non-empty private key (OpenSSH or PEM)";
    if (/^\s*(ssh-|ecdsa-|sk-)/.test(key)) return "is a public key; give the private key (-----BEGIN OPENSSH PRIVATE KEY-----...)";
    return undefined;
}

/** Why a password (never quoted) is unusable, or undefined. */
export function passwordProblem(password: unknown): string | undefined {
    return typeof password === "string" && password.length > 0 ? undefined : "must be a non-empty string";
}

const HOST_KEY_TYPES = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/** Why `key` is not a host public key in authorized_keys form (`ssh-ed25519 AAAA... [comment]`), or undefined. */
export function hostKeyProblem(key: unknown): string | undefined {
    const m = typeof key === "string" ? /^(\S+) ([A-Za-z0-9+/]+={0,2})( .*)?$/.exec(key.trim()) : null;
    if (m && m[1] === "ssh-rsa") {
        // pulumi-command 1.2.1 offers only the pinned key's type as host-key algorithm: for an
        // RSA key that is "ssh-rsa" (SHA-1), which OpenSSH 8.8 and later refuse, so every dial
        // would fail with "no common algorithm for host key".
        return "is an ssh-rsa key: the Command provider would offer only ssh-rsa (SHA-1) signatures, which OpenSSH 8.8+ refuses; " +
            "pin the host's ed25519 or ECDSA key instead (ssh-keyscan -t ed25519,ecdsa HOST, or /etc/ssh/ssh_host_ed25519_key.pub)";
    }
    if (m && HOST_KEY_TYPES.includes(m[1]!)) return undefined;
    return `${JSON.stringify(key)} is not a host public key ("<type> <base64>", as in /etc/ssh/ssh_host_ed25519_key.pub; not a known_hosts line)`;
}

/** Why `key` cannot be an EC2 key pair's public key (OpenSSH ed25519 or RSA), or undefined. */
export function ec2PublicKeyProblem(key: unknown): string | undefined {
    if (typeof key === "string" && /^(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/]+={0,2}( .*)?$/.test(key.trim())) return undefined;
    if (typeof key === "string" && /PRIVATE KEY/.test(key)) return "is a private key; give the public key (the .pub file)";
    const shown = typeof key === "string" && key.length > 40 ? JSON.stringify(key.slice(0, 40) + "...") : JSON.stringify(key);
    return `${shown} is not an OpenSSH ed25519 or RSA public key (EC2 key pairs accept only those)`;
}

/** A CIDR block, parsed. */
export interface Cidr {
    family: 4 | 6;
    /** The network address as written. */
    address: string;
    prefix: number;
}

function ipv4ToBigInt(a: string): bigint {
    return a.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigInt(a: string): bigint {
    let text = a;
    // An embedded IPv4 tail (`::ffff:192.0.2.1`) becomes two hextets.
    const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
    if (v4) {
        const n = ipv4ToBigInt(v4[1]!);
        text = text.slice(0, v4.index) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
    }
    const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
    const h = head ? head.split(":") : [];
    const t = tail ? tail.split(":") : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
    return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function formatAddress(family: 4 | 6, n: bigint): string {
    if (family === 4) return [24n, 16n, 8n, 0n].map((s) => ((n >> s) & 0xffn).toString()).join(".");
    const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
    // RFC 5952: compress the longest run (2+) of zero groups.
    let best = -1;
    let bestLen = 1;
    for (let i = 0; i < 8;) {
        if (groups[i] !== 0) { i++; continue; }
        let j = i;
        while (j < 8 && groups[j] === 0) j++;
        if (j - i > bestLen) { best = i; bestLen = j - i; }
        i = j;
    }
    const hex = groups.map((g) => g.toString(16));
    if (best < 0) return hex.join(":");
    return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/**
 * Shortest prefixes accepted for SSH sources. Anything broader is "the Internet" for our purpose
 * (and `0.0.0.0/1` + `128.0.0.0/1` is the classic way around a `0.0.0.0/0` check).
 */
export const MIN_SSH_PREFIX = { 4: 8, 6: 16 } as const;

/** Parses a CIDR block, or says why it is not one (or is not acceptable as an SSH source). */
export function parseSshCidr(cidr: unknown): Cidr | string {
    const q = JSON.stringify(cidr);
    const m = typeof cidr === "string" ? /^([0-9A-Fa-f.:]+)\/(\d{1,3})$/.exec(cidr) : null;
    const family = m ? net.isIP(m[1]!) : 0;
    if (!m || (family !== 4 && family !== 6)) {
        return `${q} is not a CIDR block (address/prefix, e.g. 203.0.113.7/32 or 2001:db8::/64)`;
    }
    const bits = family === 4 ? 32 : 128;
    const prefix = Number(m[2]);
    if (prefix > bits) return `${q} has a prefix longer than /${bits}`;
    if (prefix === 0) {
        return `${q} would open SSH to the whole Internet; list the networks the hosts are administered from`;
    }
    if (prefix < MIN_SSH_PREFIX[family]) {
        return `${q} covers a large part of the Internet (prefixes shorter than /${MIN_SSH_PREFIX[family]} are refused for SSH)`;
    }
    const value = family === 4 ? ipv4ToBigInt(m[1]!) : ipv6ToBigInt(m[1]!);
    const hostMask = (1n << BigInt(bits - prefix)) - 1n;
    if ((value & hostMask) !== 0n) {
        return `${q} has host bits set; the network is ${formatAddress(family, value & ~hostMask)}/${prefix}`;
    }
    return { family, address: m[1]!, prefix };
}

/** Why a list of SSH source CIDRs is not acceptable, or undefined. */
export function sshCidrsProblem(cidrs: unknown): string | undefined {
    if (!Array.isArray(cidrs) || cidrs.length === 0) {
        return "must list at least one network (CIDR) allowed to reach SSH; SSH is never open to the world";
    }
    const seen = new Set<string>();
    for (const c of cidrs) {
        const parsed = parseSshCidr(c);
        if (typeof parsed === "string") return parsed;
        if (seen.has(c)) return `${JSON.stringify(c)} is listed twice`;
        seen.add(c);
    }
    return undefined;
}

/** Why `distro` is not one of {@link DISTRO_IMAGES}' distributions, or undefined. */
export function distroProblem(distro: unknown): string | undefined {
    if (typeof distro === "string" && Object.prototype.hasOwnProperty.call(DISTRO_IMAGES, distro)) return undefined;
    return `${JSON.stringify(distro)} is not one of ${Object.keys(DISTRO_IMAGES).map((d) => JSON.stringify(d)).join(", ")}`;
}

/** Why `type` is not an EC2 instance type name (`family.size`), or undefined. */
export function instanceTypeProblem(type: unknown): string | undefined {
    return typeof type === "string" && /^[a-z0-9-]+\.[a-z0-9-]+$/.test(type) ? undefined : `${JSON.stringify(type)} is not an instance type (e.g. t3.small)`;
}

/** Why `id` is not a subnet ID, or undefined. */
export function subnetIdProblem(id: unknown): string | undefined {
    return typeof id === "string" && /^subnet-[0-9a-f]+$/.test(id) ? undefined : `${JSON.stringify(id)} is not a subnet ID (subnet-...)`;
}

/** Why `id` is not a VPC ID, or undefined. */
export function vpcIdProblem(id: unknown): string | undefined {
    return typeof id === "string" && /^vpc-[0-9a-f]+$/.test(id) ? undefined : `${JSON.stringify(id)} is not a VPC ID (vpc-...)`;
}

/** Why `gib` is not a root volume size (whole GiB, 8 to 16384), or undefined. */
export function rootVolumeProblem(gib: unknown): string | undefined {
    return typeof gib === "number" && Number.isInteger(gib) && gib >= 8 && gib <= 16384
        ? undefined
        : `${JSON.stringify(gib)} is not a whole number of GiB from 8 to 16384`;
}

/**
 * Why one EC2 tag is not acceptable, or undefined: keys of 1 to 128 characters not starting with
 * `aws:` (reserved by AWS), values of at most 256 characters (EC2's limits).
 */
export function tagProblem(key: string, value: unknown): string | undefined {
    if (key.length === 0 || key.length > 128) return `tag keys are 1 to 128 characters long`;
    if (/^aws:/i.test(key)) return `tag keys starting with "aws:" are reserved by AWS`;
    if (typeof value !== "string") return `${JSON.stringify(value)} is not a string (tag values are strings)`;
    if (value.length > 256) return `tag values are at most 256 characters long`;
    return undefined;
}
