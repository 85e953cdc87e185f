/**
 * Running host scripts over SSH from inside a dynamic provider (`components/verify/host-check.ts`),
 * which has no `@pulumi/command` to lean on: it must observe a host on `pulumi refresh`, and
 * remote.Command has no Read. One session runs several scripts in turn (observe, or repair then
 * observe), so a refresh costs one SSH connection per host.
 *
 * The connection settings are those of `commandConnection()` (plain values: a dynamic provider
 * receives secrets revealed). Nothing secret is ever put into an error message.
 *
 * Everything this module needs is imported inside the functions: dynamic providers are
 * serialized closures, and a `require` inside a function is resolved when it runs, in the
 * provider process, instead of being captured by value.
 */

/** One endpoint, as `commandConnection()` builds it (after secrets are revealed). */
export interface PlainEndpoint {
    host: string;
    port?: number;
    user?: string;
    privateKey?: string;
    password?: string;
    hostKey?: string;
    dialErrorLimit?: number;
    perDialTimeout?: number;
}

/** A host, optionally behind a bastion. */
export interface PlainConnection extends PlainEndpoint {
    proxy?: PlainEndpoint;
}

/** What one script run printed, and how it ended. */
export interface ExecResult {
    stdout: string;
    stderr: string;
    /** Exit status; null when the remote side was killed by a signal. */
    code: number | null;
}

/** A session: runs command lines with the given text on stdin. */
export type Exec = (commandLine: string, stdin: string, timeoutSeconds?: number) => Promise<ExecResult>;

/**
 * ssh2, required when a connection opens. This runs inside the engine's dynamic provider, whose
 * `require` resolves from the user's project: npm hoists ssh2 there, except when the project has
 * another version of its own; then the copy installed under hardened-hosts is the one to use.
 */
function loadSsh2(): typeof import("ssh2") {
    try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        return require("ssh2");
    } catch (e) {
        let own: string;
        try {
            own = require.resolve("ssh2", { paths: [require.resolve("hardened-hosts/package.json")] });
        } catch {
            throw e;
        }
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        return require(own);
    }
}

/**
 * Opens one SSH connection (through the proxy when there is one), hands `body` a function that
 * runs commands on it, and closes everything afterwards, also when `body` fails.
 */
export async function withSsh<T>(conn: PlainConnection, body: (exec: Exec) => Promise<T>): Promise<T> {
    const ssh2 = loadSsh2();

    const where = (e: PlainEndpoint) => `${e.user ?? "root"}@${e.host}:${e.port ?? 22}`;
    const clients: import("ssh2").Client[] = [];
    // The key a host offered when it was not the pinned one, per endpoint: the handshake's error
    // then names both keys (ssh2 alone says "Host denied (verification failed)"), and it is
    // never retried: a changed host key answers the same way every time.
    const offered = new Map<PlainEndpoint, Buffer>();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const sha256 = (b: Buffer) => (require("node:crypto") as typeof import("node:crypto")).createHash("sha256").update(b).digest("base64").replace(/=+$/, "");
    /** "ssh-ed25519 SHA256:..." of a public key blob, as ssh-keygen -l prints it. */
    const fingerprint = (blob: Buffer) => {
        const n = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
        const type = n > 0 && n < 64 && blob.length >= 4 + n ? blob.subarray(4, 4 + n).toString("latin1") : "key";
        return `${type} SHA256:${sha256(blob)}`;
    };
    const pinned = new Map<PlainEndpoint, Buffer>();

    const settings = (e: PlainEndpoint): import("ssh2").ConnectConfig => {
        const c: import("ssh2").ConnectConfig = {
            username: e.user ?? "root",
            // Bounds the whole handshake, not only the TCP connect.
            readyTimeout: (e.perDialTimeout ?? 15) * 1000,
            keepaliveInterval: 15000,
        };
        if (e.privateKey !== undefined) c.privateKey = e.privateKey;
        if (e.password !== undefined) c.password = e.password;
        if (e.hostKey !== undefined) {
            const parsed = ssh2.utils.parseKey(e.hostKey.trim());
            if (parsed instanceof Error) throw new Error(`${where(e)}: hostKey does not parse: ${parsed.message}`);
            const key = Array.isArray(parsed) ? parsed[0] : parsed;
            const blob = key.getPublicSSH();
            pinned.set(e, blob);
            c.hostVerifier = (k: Buffer) => {
                if (k.equals(blob)) return true;
                offered.set(e, Buffer.from(k));
                return false;
            };
            c.algorithms = {
                serverHostKey: (key.type === "ssh-rsa" ? ["rsa-sha2-512", "rsa-sha2-256"] : [key.type]) as never,
            };
        }
        return c;
    };

    const handshake = (e: PlainEndpoint, sock?: NodeJS.ReadableStream): Promise<import("ssh2").Client> =>
        new Promise((resolve, reject) => {
            const client = new ssh2.Client();
            let settled = false;
            const fail = (err: Error) => {
                if (settled) return;
                settled = true;
                client.end();
                const got = offered.get(e), want = pinned.get(e);
                if (got && want) {
                    reject(new Error(`ssh ${where(e)}: host key mismatch: the host offered ${fingerprint(got)}, not the pinned hostKey ${fingerprint(want)} (the host key changed, or this is another host): not retried`));
                } else if (want && /no matching host key/i.test(err.message)) {
                    reject(new Error(`ssh ${where(e)}: host key mismatch: the host offers no ${fingerprint(want).split(" ")[0]} host key, the type of the pinned hostKey ${fingerprint(want)} (${err.message})`));
                } else {
                    reject(new Error(`ssh ${where(e)}: ${err.message}`));
                }
            };
            client.on("error", fail);
            client.once("close", () => fail(new Error("connection closed")));
            client.once("ready", () => {
                settled = true;
                clients.push(client);
                resolve(client);
            });
            const cfg = settings(e);
            if (sock) client.connect({ ...cfg, sock: sock as never });
            else client.connect({ ...cfg, host: e.host, port: e.port ?? 22 });
        });

    // Bounded retries for hosts still booting; a wrong key or host key fails the same way each
    // time, so the limit keeps that short too.
    const dial = async (e: PlainEndpoint, open: () => Promise<import("ssh2").Client>): Promise<import("ssh2").Client> => {
        const limit = Math.max(1, Math.min(e.dialErrorLimit ?? 10, 20));
        let delay = 200;
        for (let attempt = 1; ; attempt++) {
            try {
                return await open();
            } catch (err) {
                const msg = (err as Error).message;
                if (attempt >= limit || /authentication|host key|hostKey/i.test(msg)) {
                    throw new Error(`${msg} (after ${attempt} attempt${attempt === 1 ? "" : "s"})`);
                }
                await new Promise((r) => setTimeout(r, delay));
                delay = Math.min(delay * 1.5, 5000);
            }
        }
    };

    const tunnel = (via: import("ssh2").Client, e: PlainEndpoint): Promise<NodeJS.ReadableStream> =>
        new Promise((resolve, reject) =>
            via.forwardOut("127.0.0.1", 0, e.host, e.port ?? 22, (err, stream) => (err ? reject(err) : resolve(stream))),
        );

    try {
        let client: import("ssh2").Client;
        if (conn.proxy) {
            const proxy = conn.proxy;
            const bastion = await dial(proxy, () => handshake(proxy));
            // A failed handshake spoils its tunnel: every attempt opens a fresh one.
            client = await dial(conn, async () => handshake(conn, await tunnel(bastion, conn)));
        } else {
            client = await dial(conn, () => handshake(conn));
        }
        const exec: Exec = (commandLine, stdin, timeoutSeconds = 900) =>
            new Promise((resolve, reject) => {
                client.exec(commandLine, (err, stream) => {
                    if (err) return reject(new Error(`ssh ${where(conn)}: ${err.message}`));
                    const out: Buffer[] = [];
                    const errs: Buffer[] = [];
                    const timer = setTimeout(() => {
                        stream.close();
                        reject(new Error(`ssh ${where(conn)}: no answer within ${timeoutSeconds}s`));
                    }, timeoutSeconds * 1000);
                    stream.on("data", (d: Buffer) => out.push(d));
                    stream.stderr.on("data", (d: Buffer) => errs.push(d));
                    stream.on("close", (code: number | null) => {
                        clearTimeout(timer);
                        resolve({ stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(errs).toString("utf8"), code: code ?? null });
                    });
                    stream.end(stdin);
                });
            });
        return await body(exec);
    } finally {
        for (const c of clients.reverse()) c.end();
    }
}
