// SSH connections for remote.Command, with the ssh2 package.
//
// Behaviour of 1.2.1 (provider/pkg/provider/remote/connection.go), re-implemented:
//   * defaults: user "root", port 22, dialErrorLimit 10, perDialTimeout 15 s (0 = no limit);
//   * auth methods, in this order: the private key (optionally with privateKeyPassword), then
//     the password (also answering keyboard-interactive prompts), then the SSH agent at
//     agentSocketPath or $SSH_AUTH_SOCK. A key that does not parse, a host key that does not
//     parse, or an agent socket that cannot be opened fails at once, without retries;
//   * hostKey (authorized_keys format) pins the server key; without it any key is accepted;
//   * every failed dial is retried with a 100 ms delay growing 1.5x up to 5 s, until
//     dialErrorLimit failures (-1: forever); each retry is reported as an ephemeral
//     "Dial N/limit failed: retrying", and the final error reads
//     "after N failed attempts: <cause>";
//   * proxy: dial the bastion ("Dial proxy", its own limit), open a TCP channel through it to
//     host:port ("Dial from proxy"), then run SSH over that channel ("Dial"); errors get a
//     "proxy: " prefix.
// Secrets (password, key, key password) never appear in messages this module produces.

import * as net from "node:net";
import { Client, utils as sshUtils, type AnyAuthMethod, type ConnectConfig } from "ssh2";
import type { OpContext } from "./log";

export interface Endpoint {
    host: string;
    port: number;
    user: string;
    password?: string;
    privateKey?: string;
    privateKeyPassword?: string;
    agentSocketPath?: string;
    dialErrorLimit: number;
    perDialTimeout: number;
    hostKey?: string;
}

export interface Connection extends Endpoint {
    proxy?: Endpoint;
}

function endpointFrom(raw: Record<string, unknown>): Endpoint {
    const str = (k: string) => (typeof raw[k] === "string" ? (raw[k] as string) : undefined);
    const num = (k: string, d: number) => (typeof raw[k] === "number" ? (raw[k] as number) : d);
    const host = str("host");
    if (host === undefined) throw new Error("connection: missing required property 'host'");
    return {
        host,
        port: num("port", 22),
        user: str("user") ?? "root",
        password: str("password"),
        privateKey: str("privateKey"),
        privateKeyPassword: str("privateKeyPassword"),
        agentSocketPath: str("agentSocketPath"),
        dialErrorLimit: num("dialErrorLimit", 10),
        perDialTimeout: num("perDialTimeout", 15),
        hostKey: str("hostKey"),
    };
}

/** Reads a (revealed) `connection` input, applying the schema defaults where absent. */
export function connectionFrom(raw: unknown): Connection {
    if (raw === null || typeof raw !== "object") throw new Error("connection: expected an object");
    const r = raw as Record<string, unknown>;
    const c: Connection = endpointFrom(r);
    if (r.proxy !== null && typeof r.proxy === "object") c.proxy = endpointFrom(r.proxy as Record<string, unknown>);
    return c;
}

/** Go's net.JoinHostPort. */
export function joinHostPort(host: string, port: number): string {
    return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function errText(err: unknown): string {
    return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
        if (signal.aborted) return reject(new Error("context canceled"));
        const t = setTimeout(() => {
            signal.removeEventListener("abort", onAbort);
            resolve();
        }, ms);
        const onAbort = () => {
            clearTimeout(t);
            reject(new Error("context canceled"));
        };
        signal.addEventListener("abort", onAbort, { once: true });
    });
}

/** The retry loop of connection.go's dialWithRetry (delays from pulumi's retry.Until defaults). */
export async function withRetry<T>(what: string, limit: number, ctx: OpContext, attempt: () => Promise<T>): Promise<T> {
    let delay = 100;
    for (let tries = 0; ; tries++) {
        if (ctx.signal.aborted) throw new Error("context canceled");
        try {
            return await attempt();
        } catch (err) {
            const dials = tries + 1;
            if (limit > -1 && dials > limit) throw new Error(`after ${tries} failed attempts: ${errText(err)}`);
            ctx.log.status(`${what} ${dials}/${limit === -1 ? "inf" : limit} failed: retrying`);
            delay = Math.min(delay, 5000);
            await sleep(delay, ctx.signal);
            delay *= 1.5;
        }
    }
}

// Go's wording for the common socket errors, so messages read like the real provider's.
const SOCKET_ERRORS: Record<string, string> = {
    ECONNREFUSED: "connect: connection refused",
    ECONNRESET: "connect: connection reset by peer",
    EHOSTUNREACH: "connect: no route to host",
    ENETUNREACH: "connect: network is unreachable",
    ETIMEDOUT: "i/o timeout",
};

/** TCP connect with Go's per-dial timeout; errors read "dial tcp host:port: <reason>". */
function tcpConnect(host: string, port: number, timeoutSec: number, signal: AbortSignal): Promise<net.Socket> {
    const where = `dial tcp ${joinHostPort(host, port)}`;
    return new Promise((resolve, reject) => {
        const sock = net.connect({ host, port });
        let timer: NodeJS.Timeout | undefined;
        const done = (err?: Error) => {
            if (timer) clearTimeout(timer);
            signal.removeEventListener("abort", onAbort);
            sock.removeAllListeners("connect");
            sock.removeAllListeners("error");
            if (err) {
                sock.destroy();
                reject(err);
            } else {
                resolve(sock);
            }
        };
        const onAbort = () => done(new Error(`${where}: operation was canceled`));
        signal.addEventListener("abort", onAbort, { once: true });
        if (timeoutSec > 0) timer = setTimeout(() => done(new Error(`${where}: i/o timeout`)), timeoutSec * 1000);
        sock.once("connect", () => done());
        sock.once("error", (e: NodeJS.ErrnoException) => {
            if (e.code === "ENOTFOUND" || e.code === "EAI_AGAIN") done(new Error(`${where}: lookup ${host}: no such host`));
            else done(new Error(`${where}: ${SOCKET_ERRORS[e.code ?? ""] ?? e.message}`));
        });
    });
}

/** Parses an authorized_keys line ("ssh-ed25519 AAAA... comment") into its type and key blob. */
export function parseHostKey(line: string): { type: string; blob: Buffer } {
    const parsed = sshUtils.parseKey(line.trim());
    if (parsed instanceof Error) throw new Error(`failed to parse host key: ${parsed.message}`);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    return { type: key.type, blob: key.getPublicSSH() };
}

/** Checks that the agent socket can be opened, as Go does before dialing (net.Dial("unix", path)). */
function probeAgent(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
        const s = net.connect({ path: socketPath });
        s.once("connect", () => {
            s.destroy();
            resolve();
        });
        s.once("error", (e: NodeJS.ErrnoException) => {
            const reason = e.code === "ENOENT" ? "no such file or directory" : e.code === "ECONNREFUSED" ? "connection refused" : e.message;
            reject(new Error(`dial unix ${socketPath}: connect: ${reason}`));
        });
    });
}

interface PreparedAuth {
    user: string;
    /** Auth methods in the order to try them. */
    methods: AnyAuthMethod[];
    config: ConnectConfig;
}

/** Builds the ssh2 settings for one endpoint; fails at once for unusable keys or agent. */
async function prepare(e: Endpoint): Promise<PreparedAuth> {
    const methods: AnyAuthMethod[] = [];
    if (e.privateKey !== undefined) {
        const parsed = sshUtils.parseKey(e.privateKey, e.privateKeyPassword);
        // ssh2's messages describe the problem (format, missing passphrase), never the key.
        if (parsed instanceof Error) throw new Error(`ssh: cannot use privateKey: ${parsed.message}`);
        methods.push({ type: "publickey", username: e.user, key: Array.isArray(parsed) ? parsed[0] : parsed });
    }
    if (e.password !== undefined) {
        const password = e.password;
        methods.push({ type: "password", username: e.user, password });
        methods.push({
            type: "keyboard-interactive",
            username: e.user,
            prompt: (_name: string, _instructions: string, _lang: string, prompts: unknown[], finish: (answers: string[]) => void) =>
                finish(prompts.map(() => password)),
        });
    }
    const agent = e.agentSocketPath ?? (process.env.SSH_AUTH_SOCK ? process.env.SSH_AUTH_SOCK : undefined);
    if (agent !== undefined) {
        await probeAgent(agent);
        methods.push({ type: "agent", username: e.user, agent });
    }

    const config: ConnectConfig = {
        username: e.user,
        readyTimeout: e.perDialTimeout > 0 ? e.perDialTimeout * 1000 : 0,
    };
    if (e.hostKey !== undefined) {
        const pinned = parseHostKey(e.hostKey);
        config.hostVerifier = (key: Buffer) => key.equals(pinned.blob);
        config.algorithms = {
            // As 1.2.1 does: only the pinned key's type. For an RSA key that is "ssh-rsa" (SHA-1),
            // which OpenSSH 8.8+ refuses: the dial fails here as it would for a real user.
            serverHostKey: [pinned.type] as never,
        };
    }
    return { user: e.user, methods, config };
}

function handshakeError(err: unknown): Error {
    const msg = errText(err);
    if (/All configured authentication methods failed/.test(msg)) {
        return new Error("ssh: handshake failed: ssh: unable to authenticate, no supported methods remain");
    }
    if (/verification failed/i.test(msg)) return new Error("ssh: handshake failed: ssh: host key mismatch");
    return new Error(`ssh: handshake failed: ${msg}`);
}

/** One SSH handshake over an open stream. */
function handshake(sock: NodeJS.ReadWriteStream | net.Socket, prepared: PreparedAuth): Promise<Client> {
    const methods = [...prepared.methods];
    return new Promise((resolve, reject) => {
        const client = new Client();
        let settled = false;
        const onError = (err: Error) => {
            if (settled) return;
            settled = true;
            client.removeListener("ready", onReady);
            client.removeListener("close", onClose);
            client.end();
            (sock as net.Socket).destroy?.();
            reject(handshakeError(err));
        };
        // A server that hangs up without an SSH error would otherwise leave us waiting forever.
        const onClose = () => onError(new Error("connection closed by the server"));
        const onReady = () => {
            client.removeListener("error", onError);
            client.removeListener("close", onClose);
            // Keep a listener so a late error (e.g. connection reset) never crashes the process;
            // the operation using the client watches "close" and reports it.
            client.on("error", () => undefined);
            settled = true;
            resolve(client);
        };
        // "on", not "once": ssh2 may report more than one error while failing; the first one wins.
        client.on("error", onError);
        client.once("close", onClose);
        client.once("ready", onReady);
        client.connect({
            ...prepared.config,
            sock: sock as never,
            // Go's client always starts with "none" to learn which methods the server allows,
            // then tries the configured methods in order, skipping those the server does not offer.
            authHandler: (methodsLeft, _partial, next) => {
                if (methodsLeft === null) return next({ type: "none", username: prepared.user });
                for (let m = methods.shift(); m !== undefined; m = methods.shift()) {
                    if (methodsLeft.includes(m.type)) return next(m);
                }
                return next(false as never);
            },
        });
    });
}

async function dialEndpoint(e: Endpoint, prepared: PreparedAuth, signal: AbortSignal): Promise<Client> {
    const sock = await tcpConnect(e.host, e.port, e.perDialTimeout, signal);
    return handshake(sock, prepared);
}

function forwardOut(via: Client, host: string, port: number): Promise<NodeJS.ReadWriteStream> {
    return new Promise((resolve, reject) => {
        via.forwardOut("127.0.0.1", 0, host, port, (err, stream) => {
            if (err) reject(new Error(`dial tcp ${joinHostPort(host, port)} via proxy: ${err.message}`));
            else resolve(stream);
        });
    });
}

/** Dials the connection (through its proxy, if any), retrying as 1.2.1 does. */
export async function dial(c: Connection, ctx: OpContext): Promise<Client> {
    const prepared = await prepare(c);
    if (!c.proxy) return withRetry("Dial", c.dialErrorLimit, ctx, () => dialEndpoint(c, prepared, ctx.signal));

    const proxy = c.proxy;
    let proxyClient: Client;
    try {
        const p = await prepare(proxy);
        proxyClient = await withRetry("Dial proxy", proxy.dialErrorLimit, ctx, () => dialEndpoint(proxy, p, ctx.signal));
    } catch (err) {
        throw new Error(`proxy: ${errText(err)}`);
    }
    try {
        let stream = await withRetry("Dial from proxy", c.dialErrorLimit, ctx, () => forwardOut(proxyClient, c.host, c.port));
        let first = true;
        const client = await withRetry("Dial", c.dialErrorLimit, ctx, async () => {
            // A failed handshake leaves the tunnel unusable: open a fresh one for each retry.
            if (!first) stream = await forwardOut(proxyClient, c.host, c.port);
            first = false;
            return handshake(stream, prepared);
        });
        client.once("close", () => proxyClient.end());
        return client;
    } catch (err) {
        proxyClient.end();
        throw new Error(`proxy: ${errText(err)}`);
    }
}
