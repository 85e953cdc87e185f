import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "./pulumi-cli";

/** One host of a lab inventory (lab/lab.sh writes it; stacks/lab-inventory.ts reads it). */
export interface LabInventoryHost {
    name: string;
    address: string;
    port: number;
    user: string;
    privateKeyFile: string;
    hostKey: string;
    profile: "busy" | "fresh" | "sudo-user" | "podman-host" | "minimal" | "minimal-sudo";
    suite: string;
}

/** Where a test's own lab lives: its name, state dir, SSH ports and subnets never meet another lab's. */
export interface LabSettings {
    name: string;
    portBase: number;
    net: number;
    hosts: number;
    /** Debian suite of the hosts (default bookworm). */
    suite?: "bookworm" | "trixie";
    /** Hosts from the minimal tree (`lab.sh up --minimal`): nothing but systemd, sshd and sudo. */
    minimal?: boolean;
    /** One profile for every host (`lab.sh up --profile`), instead of the profiles in turn. */
    profile?: LabInventoryHost["profile"];
}

/**
 * A lab of disposable Debian hosts (lab/lab.sh) owned by one test file. `down()` removes
 * everything it made, whatever state the hosts are in.
 */
export class TestLab {
    readonly dir: string;
    inventory: { hosts: LabInventoryHost[] } = { hosts: [] };

    constructor(readonly settings: LabSettings) {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `hh-lab-${settings.name}-`));
    }

    get inventoryFile(): string {
        return path.join(this.dir, "state", "inventory.json");
    }

    private env(): NodeJS.ProcessEnv {
        return {
            ...process.env,
            HH_LAB_NAME: this.settings.name,
            HH_LAB_DIR: path.join(this.dir, "state"),
            HH_LAB_PORT_BASE: String(this.settings.portBase),
            HH_LAB_NET: String(this.settings.net),
        };
    }

    /** Runs `lab.sh ARGS`; throws with its output when it fails. */
    lab(...args: string[]): string {
        const r = spawnSync("bash", [path.join(repoRoot, "lab", "lab.sh"), ...args], {
            encoding: "utf8", env: this.env(), timeout: 600_000,
        });
        if (r.status !== 0) throw new Error(`lab.sh ${args.join(" ")} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
        return `${r.stdout}${r.stderr}`;
    }

    up(): void {
        this.lab("up", "--hosts", String(this.settings.hosts), "--suite", this.settings.suite ?? "bookworm", ...(this.settings.minimal ? ["--minimal"] : []),
            ...(this.settings.profile ? ["--profile", this.settings.profile] : []));
        this.inventory = JSON.parse(fs.readFileSync(this.inventoryFile, "utf8"));
    }

    down(): void {
        try {
            this.lab("down");
        } finally {
            fs.rmSync(this.dir, { recursive: true, force: true });
        }
    }

    host(name: string): LabInventoryHost {
        const h = this.inventory.hosts.find((x) => x.name === name);
        if (!h) throw new Error(`no lab host ${name}`);
        return h;
    }

    /** `ssh` arguments that log into a host as its inventory user, pinned to its host key. */
    sshArgs(name: string): string[] {
        const h = this.host(name);
        const known = path.join(this.dir, "state", "known_hosts");
        return [
            "-q", "-i", h.privateKeyFile, "-p", String(h.port), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
            "-o", `UserKnownHostsFile=${known}`, "-o", "StrictHostKeyChecking=yes", "-o", `HostKeyAlias=${h.name}`,
            `${h.user}@${h.address}`,
        ];
    }

    /** Runs a shell command on a host as root (through sudo for the sudo-user host). */
    sh(name: string, script: string): { status: number; stdout: string; stderr: string } {
        const remote = this.host(name).user === "root" ? "bash -s" : "sudo -n bash -s";
        const r = spawnSync("ssh", [...this.sshArgs(name), remote],
            { input: `set -euo pipefail\n${script}\n`, encoding: "utf8", timeout: 120_000 });
        return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    }

    /** Like `sh`, but throws when the command fails, and returns its stdout. */
    run(name: string, script: string): string {
        const r = this.sh(name, script);
        if (r.status !== 0) throw new Error(`${name}: ${script} exited ${r.status}: ${r.stderr}`);
        return r.stdout;
    }

    /**
     * Removes every Docker container of the busy hosts (the profile runs lab-web and lab-worker):
     * hosts with Docker and no workloads, for tests whose subject is not what a switch does to
     * containers (a userns-remap switch that would stop or hide them is refused by default, #28).
     */
    removeContainers(): void {
        for (const h of this.inventory.hosts.filter((x) => x.profile === "busy")) {
            this.run(h.name, "ids=$(docker ps -aq); [ -z \"$ids\" ] || docker rm -f $ids >/dev/null");
        }
    }

    /**
     * The exact bytes of `files` on a host, base64, or null when absent: compared before `up`
     * and after `destroy`.
     */
    snapshot(name: string, files: string[]): Record<string, string | null> {
        const out: Record<string, string | null> = {};
        for (const f of files) {
            const r = this.run(name, `if [ -e '${f}' ]; then base64 -w0 '${f}'; else echo ABSENT; fi`).trim();
            out[f] = r === "ABSENT" ? null : r;
        }
        return out;
    }

    private hostDir(name: string): string {
        return path.join(this.dir, "state", "hosts", name);
    }

    /** Cuts every SSH connection to a host (its forwarder and all forwarded sessions). */
    cutSsh(name: string): void {
        const pid = Number(fs.readFileSync(path.join(this.hostDir(name), "socat.pid"), "utf8"));
        // lab.sh starts each forwarder in its own session: the group holds every forwarded connection.
        try { process.kill(-pid, "SIGKILL"); } catch { /* already gone */ }
    }

    /**
     * Starts a host's forwarder again after `cutSsh`, unless it runs (lab.sh down stops it by its
     * pid file, so there must never be two).
     */
    restoreSsh(name: string): void {
        const d = this.hostDir(name);
        const net = fs.readFileSync(path.join(d, "net"), "utf8").trim();
        const port = fs.readFileSync(path.join(d, "port"), "utf8").trim();
        // Still forwarding? (Asked of the port: a killed forwarder may linger as a zombie.)
        const listening = () => spawnSync("bash", ["-c", `ss -Hltn 'sport = :${port}' | grep -q .`]).status === 0;
        if (listening()) return;
        // Not detached: setsid then execs socat in place (it only forks for a group leader), so the
        // PID is socat's and socat leads its own session, as lab.sh starts it.
        const child = spawn("setsid", ["socat", `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `TCP:10.99.${net}.2:22`], {
            stdio: "ignore",
        });
        child.unref();
        fs.writeFileSync(path.join(d, "socat.pid"), `${child.pid}\n`);
        for (let i = 0; i < 50; i++) {
            if (listening()) return;
            spawnSync("sleep", ["0.1"]);
        }
        throw new Error(`${name}: forwarder on ${port} did not come back`);
    }
}

/** Whether this machine can run the lab (root, systemd-nspawn); CI installs what it needs. */
export function labAvailable(): string | undefined {
    if (process.getuid?.() !== 0) return "needs root";
    for (const t of ["systemd-nspawn", "mmdebstrap", "socat"]) {
        if (spawnSync("bash", ["-c", `command -v ${t}`]).status !== 0) return `${t} is not installed (scripts/bootstrap.sh installs it)`;
    }
    return undefined;
}
