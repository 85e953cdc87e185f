// A throw-away OpenSSH server for tests: its own config, host key, client keys and
// authorized_keys in a temp dir, listening on 127.0.0.1 on a free port. It never reads or
// changes the machine's sshd config or keys. Needs /usr/sbin/sshd and ssh-keygen (Debian:
// openssh-server, openssh-client).
//
// The library has its own, smaller copy (test/support/sshd.ts): the package's tests import
// nothing from outside the package.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export const SSHD = "/usr/sbin/sshd";
const SSH_KEYGEN = "ssh-keygen";

/** Why the SSH tests cannot run here, or undefined when they can. */
export function sshdMissing(): string | undefined {
    if (!fs.existsSync(SSHD)) return `${SSHD} not found (Debian: apt-get install -y openssh-server)`;
    if (spawnSync(SSH_KEYGEN, ["-?"], { stdio: "ignore" }).error) return "ssh-keygen not found (Debian: apt-get install -y openssh-client)";
    return undefined;
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const port = (srv.address() as net.AddressInfo).port;
            srv.close(() => resolve(port));
        });
    });
}

function keygen(file: string, passphrase = ""): void {
    const r = spawnSync(SSH_KEYGEN, ["-q", "-t", "ed25519", "-N", passphrase, "-C", "hh-test", "-f", file], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
}

/** Resolves once the server sends its SSH banner. */
async function waitForBanner(port: number, timeoutMs: number, proc: ChildProcess, logFile: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        if (proc.exitCode !== null) throw new Error(`sshd exited with ${proc.exitCode}:\n${fs.readFileSync(logFile, "utf8")}`);
        const ok = await new Promise<boolean>((resolve) => {
            const s = net.connect({ host: "127.0.0.1", port });
            s.once("data", (d) => {
                s.destroy();
                resolve(d.toString().startsWith("SSH-"));
            });
            s.once("error", () => resolve(false));
        });
        if (ok) return;
        if (Date.now() > deadline) throw new Error(`sshd did not start on port ${port}:\n${fs.readFileSync(logFile, "utf8")}`);
        await new Promise((r) => setTimeout(r, 100));
    }
}

export interface SshdOptions {
    /** Variable name patterns for sshd's AcceptEnv (none: sshd refuses every "env" request). */
    acceptEnv?: string[];
}

export class ThrowawaySshd {
    readonly user = os.userInfo().username;
    /** Client key authorized for `user`, OpenSSH format, no passphrase. */
    readonly clientKey: string;
    /** A second authorized client key, encrypted with `encryptedKeyPassphrase`. */
    readonly encryptedClientKey: string;
    readonly encryptedKeyPassphrase = "correct horse battery staple";
    /** A valid key that is NOT authorized. */
    readonly strangerKey: string;
    /** The server's host public key, authorized_keys format. */
    readonly hostKey: string;

    private constructor(
        readonly dir: string,
        readonly port: number,
        private readonly proc: ChildProcess,
    ) {
        this.clientKey = fs.readFileSync(path.join(dir, "client_key"), "utf8");
        this.encryptedClientKey = fs.readFileSync(path.join(dir, "client_key_enc"), "utf8");
        this.strangerKey = fs.readFileSync(path.join(dir, "stranger_key"), "utf8");
        this.hostKey = fs.readFileSync(path.join(dir, "ssh_host_ed25519_key.pub"), "utf8").trim();
    }

    static async start(opts: SshdOptions = {}): Promise<ThrowawaySshd> {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-sshd-"));
        try {
            const port = await freePort();
            keygen(path.join(dir, "ssh_host_ed25519_key"));
            keygen(path.join(dir, "client_key"));
            keygen(path.join(dir, "client_key_enc"), "correct horse battery staple");
            keygen(path.join(dir, "stranger_key"));
            fs.writeFileSync(
                path.join(dir, "authorized_keys"),
                fs.readFileSync(path.join(dir, "client_key.pub"), "utf8") + fs.readFileSync(path.join(dir, "client_key_enc.pub"), "utf8"),
                { mode: 0o600 },
            );
            const config = [
                `Port ${port}`,
                "ListenAddress 127.0.0.1",
                `HostKey ${path.join(dir, "ssh_host_ed25519_key")}`,
                `PidFile ${path.join(dir, "pid")}`,
                `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
                "StrictModes no",
                "UsePAM no",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "AllowTcpForwarding yes",
                // In-process SFTP: no dependency on the sftp-server binary's path.
                "Subsystem sftp internal-sftp",
                ...(opts.acceptEnv?.length ? [`AcceptEnv ${opts.acceptEnv.join(" ")}`] : []),
                "LogLevel VERBOSE",
            ].join("\n");
            fs.writeFileSync(path.join(dir, "sshd_config"), config + "\n");
            // sshd running as root insists on its privilege-separation directory; it is an
            // empty runtime directory, not configuration.
            if (process.getuid?.() === 0) fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
            const logFile = path.join(dir, "sshd.log");
            const log = fs.openSync(logFile, "a");
            const proc = spawn(SSHD, ["-D", "-e", "-f", path.join(dir, "sshd_config")], { stdio: ["ignore", log, log] });
            fs.closeSync(log);
            const sshd = new ThrowawaySshd(dir, port, proc);
            try {
                await waitForBanner(port, 10_000, proc, logFile);
            } catch (err) {
                await sshd.stop();
                throw err;
            }
            return sshd;
        } catch (err) {
            fs.rmSync(dir, { recursive: true, force: true });
            throw err;
        }
    }

    /** A `connection` input for this server. */
    connection(extra: Record<string, unknown> = {}): Record<string, unknown> {
        return { host: "127.0.0.1", port: this.port, user: this.user, privateKey: this.clientKey, dialErrorLimit: 1, perDialTimeout: 5, ...extra };
    }

    /** The server's log so far (for assertion messages). */
    log(): string {
        try {
            return fs.readFileSync(path.join(this.dir, "sshd.log"), "utf8");
        } catch {
            return "";
        }
    }

    /** Stops the server and removes every file it used. Safe to call twice. */
    async stop(): Promise<void> {
        if (this.proc.exitCode === null && this.proc.signalCode === null) {
            const exited = new Promise<void>((resolve) => this.proc.once("exit", () => resolve()));
            this.proc.kill("SIGTERM");
            const timer = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
            await exited;
            clearTimeout(timer);
        }
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}
