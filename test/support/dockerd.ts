import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { repoRoot } from "./pulumi-cli";

// A private, real dockerd per test suite, next to whatever else runs on the machine:
//   - everything lives in one short temp folder (/tmp/hhd-XXXXXX: unix socket paths are limited
//     to 108 bytes, and containerd/runc put sockets under the exec root);
//   - `--bridge=none --iptables=false`: no docker0 bridge and no iptables rules, so two dockerds
//     (ours and another suite's, or the machine's own) do not fight over docker0 or the DOCKER
//     chains; containers get a loopback-only network, which is all the tests need;
//   - `--cgroup-parent=/hh-<suffix>`: container cgroups go under a folder of our own in every
//     controller instead of the shared /docker, so cleanup removes exactly what we made;
//   - the folder is mode 0711: a remapped root (subordinate UID) must be able to traverse the
//     path to the data root, or dockerd refuses to start ("restricts access to the remapped root").
// The daemon runs in its own session (setsid) with its output in a log file, so it never holds a
// test's pipes. `restart.sh` (docker-remap.sh's HH_DOCKER_RESTART_HOOK) stops it by PID and
// starts it again with the same flags.

export const busyboxImage = "localbb:latest";

export interface Run {
    status: number;
    stdout: string;
    stderr: string;
}

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 120_000, input?: string): Run {
    const r = spawnSync(cmd, args, { env, encoding: "utf8", timeout: timeoutMs, input });
    if (r.error) throw r.error;
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function hasCommand(cmd: string): boolean {
    return run("bash", ["-c", `command -v ${cmd}`]).status === 0;
}

/** Mount points at or below `dir`, deepest first. */
function mountsUnder(dir: string): string[] {
    const decode = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    return fs
        .readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .map((l) => l.split(" ")[4])
        .filter((m): m is string => !!m)
        .map(decode)
        .filter((m) => m === dir || m.startsWith(dir + "/"))
        .sort((a, b) => b.length - a.length);
}

/** PIDs of processes whose command line mentions `needle` (our temp folder). */
function pidsMentioning(needle: string): number[] {
    const pids: number[] = [];
    for (const e of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
        try {
            if (fs.readFileSync(`/proc/${e}/cmdline`, "utf8").includes(needle)) pids.push(Number(e));
        } catch {
            /* gone */
        }
    }
    return pids;
}

const cgroupRoot = "/sys/fs/cgroup";
function cgroupDirs(name: string): string[] {
    if (!fs.existsSync(cgroupRoot)) return [];
    return fs
        .readdirSync(cgroupRoot)
        .map((c) => path.join(cgroupRoot, c, name))
        .filter((p) => fs.existsSync(p));
}
/** rmdir a cgroup folder and its (empty) children, deepest first; errors are ignored. */
function removeCgroup(dir: string): void {
    let entries: fs.Dirent[] = [];
    try {
        entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
        return;
    }
    for (const e of entries) if (e.isDirectory()) removeCgroup(path.join(dir, e.name));
    try {
        fs.rmdirSync(dir);
    } catch {
        /* busy or not empty: not ours to force */
    }
}

export class PrivateDockerd {
    readonly dir: string;
    readonly socket: string;
    readonly config: string;
    readonly log: string;
    readonly pidFile: string;
    readonly hook: string;
    readonly dataRoot: string;
    readonly cgroupParent: string;
    /** dockerd's flags besides --config-file (the hook adds that one). */
    readonly flags: string[];
    private readonly dockerCgroupsBefore: Set<string>;

    constructor() {
        this.dir = fs.mkdtempSync("/tmp/hhd-");
        fs.chmodSync(this.dir, 0o711);
        this.socket = path.join(this.dir, "docker.sock");
        this.config = path.join(this.dir, "daemon.json");
        this.log = path.join(this.dir, "dockerd.log");
        this.pidFile = path.join(this.dir, "pid");
        this.hook = path.join(this.dir, "restart.sh");
        this.dataRoot = path.join(this.dir, "root");
        this.cgroupParent = `hh-${path.basename(this.dir).slice(4)}`;
        this.dockerCgroupsBefore = new Set(cgroupDirs("docker"));
        this.flags = [
            "--data-root", this.dataRoot,
            "--exec-root", path.join(this.dir, "exec"),
            "--pidfile", this.pidFile,
            "-H", `unix://${this.socket}`,
            "--bridge=none",
            "--iptables=false",
            // dockerd turns net.ipv4.ip_forward on at start unless told not to: the machine's
            // setting is not ours to change.
            "--ip-forward=false",
            `--cgroup-parent=/${this.cgroupParent}`,
        ];
        // dockerd refuses a --config-file that does not exist: with no daemon.json the hook
        // gives it an empty object, which is what "no daemon.json" means to dockerd.
        fs.writeFileSync(path.join(this.dir, "none.json"), "{}\n");
        fs.writeFileSync(
            this.hook,
            `#!/usr/bin/env bash
# Restarts one test suite's private dockerd (HH_DOCKER_RESTART_HOOK of docker-remap.sh): stops it
# by PID, starts it again with the same flags, exits 0 once its API answers, 1 if it exits first.
set -u
dir=${this.dir}
cfg=$dir/daemon.json
[ -e "$cfg" ] || cfg=$dir/none.json
if [ -s "$dir/pid" ]; then
  pid=$(cat "$dir/pid")
  if grep -qs "$dir" "/proc/$pid/cmdline"; then
    kill -TERM "$pid"
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; sleep 0.5; fi
  fi
fi
echo "--- restart.sh: starting dockerd with $cfg ---" >> "$dir/dockerd.log"
setsid dockerd --config-file "$cfg" ${this.flags.map((f) => `'${f}'`).join(" ")} >> "$dir/dockerd.log" 2>&1 < /dev/null &
new=$!
for _ in $(seq 600); do
  if docker -H "unix://$dir/docker.sock" version --format '{{.Server.Version}}' >/dev/null 2>&1; then exit 0; fi
  if ! kill -0 "$new" 2>/dev/null || grep -qs '^State:[[:space:]]*Z' "/proc/$new/status"; then
    echo "restart.sh: dockerd exited" >&2
    exit 1
  fi
  sleep 0.1
done
echo "restart.sh: dockerd did not answer within 60s" >&2
exit 1
`,
            { mode: 0o755 },
        );
    }

    /** Environment for docker-remap.sh and the docker CLI: this daemon, never the machine's. */
    get env(): NodeJS.ProcessEnv {
        return {
            ...process.env,
            DOCKER_HOST: `unix://${this.socket}`,
            HH_DOCKER_CONFIG: this.config,
            HH_DOCKER_RESTART_HOOK: this.hook,
            HH_DOCKER_LOG: this.log,
            HH_DOCKERD_FLAGS: ["--config-file", this.config, ...this.flags].join(" "),
            HH_DOCKER_WAIT: "30",
        };
    }

    /** (Re)start through the hook; throws with the log's tail when it does not come up. */
    start(): void {
        const r = run(this.hook, []);
        if (r.status !== 0) throw new Error(`private dockerd did not start: ${r.stderr}\n${this.logTail(15)}`);
    }

    pid(): number | undefined {
        try {
            return Number(fs.readFileSync(this.pidFile, "utf8").trim()) || undefined;
        } catch {
            return undefined;
        }
    }

    logText(): string {
        return fs.existsSync(this.log) ? fs.readFileSync(this.log, "utf8") : "";
    }

    logTail(n: number): string {
        return this.logText().trimEnd().split("\n").slice(-n).join("\n");
    }

    docker(...args: string[]): Run {
        return run("docker", args, { ...process.env, DOCKER_HOST: `unix://${this.socket}` });
    }

    /** docker CLI call that must succeed; returns trimmed stdout. */
    dockerOk(...args: string[]): string {
        const r = this.docker(...args);
        if (r.status !== 0) throw new Error(`docker ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
        return r.stdout.trim();
    }

    serving(): boolean {
        return this.docker("version", "--format", "{{.Server.Version}}").status === 0;
    }

    info(): { securityOptions: string[]; rootDir: string } {
        const out = this.dockerOk("info", "--format", "{{json .SecurityOptions}}\t{{.DockerRootDir}}");
        const [sec, rootDir] = out.split("\t");
        return { securityOptions: JSON.parse(sec) ?? [], rootDir };
    }

    /** Imports the busybox tar as localbb:latest (needed again after the data root changes). */
    importBusybox(tar: string): void {
        this.dockerOk("import", tar, busyboxImage);
    }

    /**
     * Stops the daemon (by its PID, then anything else whose command line names our folder:
     * containerd, shims), unmounts what is mounted below the folder, removes it, and removes the
     * cgroup folders the daemon created. Safe to call on a half-started daemon.
     */
    dispose(): void {
        const pid = this.pid();
        if (pid && fs.existsSync(`/proc/${pid}/cmdline`) && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(this.dir)) {
            process.kill(pid, "SIGTERM");
            const deadline = Date.now() + 30_000;
            while (Date.now() < deadline && fs.existsSync(`/proc/${pid}`)) run("sleep", ["0.2"]);
        }
        for (let round = 0; round < 3; round++) {
            const left = pidsMentioning(this.dir);
            if (left.length === 0) break;
            for (const p of left) {
                try {
                    process.kill(p, "SIGKILL");
                } catch {
                    /* gone */
                }
            }
            run("sleep", ["0.5"]);
        }
        for (const m of mountsUnder(this.dir)) {
            if (run("umount", [m]).status !== 0) run("umount", ["-l", m]);
        }
        const still = mountsUnder(this.dir);
        if (still.length > 0) throw new Error(`still mounted, not removing ${this.dir}: ${still.join(", ")}`);
        run("rm", ["-rf", "--one-file-system", this.dir]);
        for (const d of cgroupDirs(this.cgroupParent)) removeCgroup(d);
        for (const d of cgroupDirs("docker")) if (!this.dockerCgroupsBefore.has(d)) removeCgroup(d);
    }
}

/** A tar of /bin/busybox and its applet links, for `docker import` (no registry here). */
export function makeBusyboxTar(dir: string): string {
    const root = path.join(dir, "bb");
    fs.mkdirSync(path.join(root, "bin"), { recursive: true });
    fs.mkdirSync(path.join(root, "tmp"), { mode: 0o1777 });
    fs.copyFileSync("/bin/busybox", path.join(root, "bin", "busybox"));
    fs.chmodSync(path.join(root, "bin", "busybox"), 0o755);
    const applets = run("/bin/busybox", ["--list"]).stdout.split("\n").filter((a) => a && a !== "busybox");
    for (const a of applets) fs.symlinkSync("busybox", path.join(root, "bin", a));
    const tar = path.join(dir, "busybox.tar");
    const r = run("tar", ["-C", root, "-cf", tar, "."]);
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
    fs.rmSync(root, { recursive: true, force: true });
    return tar;
}

// Subordinate ranges in the REAL /etc/subuid and /etc/subgid, written with the project's own
// subids-host.sh. Its managed block holds every hardened-hosts entry, and `apply` rewrites the
// whole block: these helpers re-apply the entries already there (another suite's) plus or minus
// ours, instead of replacing them.
const subidsScript = path.join(repoRoot, "components", "subids", "subids-host.sh");

// The block holds other suites' entries too, some of them remap users (system accounts by
// design): subids-host.sh refuses a system account unless --system names it (issue 28).
const systemFlags = (entries: readonly string[]): string[] =>
    entries.map((e) => e.split(":")[0]!).filter((o) => /^[a-z_][a-z0-9_-]{0,31}$/.test(o)).flatMap((o) => ["--system", o]);
const BEGIN = "# BEGIN hardened-hosts managed block (do not edit)";

function managedEntries(): string[] {
    let text = "";
    try {
        text = fs.readFileSync("/etc/subuid", "utf8");
    } catch {
        return [];
    }
    const lines = text.split("\n");
    const b = lines.indexOf(BEGIN);
    if (b < 0) return [];
    const out: string[] = [];
    for (let i = b + 1; i < lines.length && !lines[i].startsWith("# END hardened-hosts managed block"); i++) {
        if (lines[i].trim()) out.push(lines[i]);
    }
    return out;
}

/**
 * Our test owner's range in /etc/subuid and /etc/subgid. Normally written by subids-host.sh
 * (re-applying the block's other entries with it). When the block's markers are damaged
 * (subids-host.sh exit 4: shadow's useradd, when it allocates a range for a normal user,
 * rewrites /etc/subuid and moves our BEGIN line below the END line), the range is appended as a
 * plain line instead and exactly that line is removed afterwards: never someone else's lines.
 */
export class TestSubids {
    private mode: "block" | "line" | undefined;
    readonly line: string;

    constructor(readonly owner: string, readonly start: number, readonly count = 65536) {
        this.line = `${owner}:${start}:${count}`;
    }

    add(): void {
        const entries = managedEntries().filter((e) => !e.startsWith(`${this.owner}:`));
        const r = run("bash", [subidsScript, "apply", ...systemFlags([...entries, this.line]), ...entries, this.line]);
        if (r.status === 0) {
            this.mode = "block";
            return;
        }
        if (r.status !== 4) throw new Error(`subids-host.sh apply failed (${r.status}): ${r.stdout}${r.stderr}`);
        console.warn(`      (subids-host.sh: ${JSON.parse(r.stdout.trim()).error}; appending ${this.line} as a plain line)`);
        for (const f of ["/etc/subuid", "/etc/subgid"]) {
            const text = fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "";
            fs.appendFileSync(f, (text && !text.endsWith("\n") ? "\n" : "") + this.line + "\n");
        }
        this.mode = "line";
    }

    /** Present in both files? */
    present(): boolean {
        return ["/etc/subuid", "/etc/subgid"].every((f) => fs.existsSync(f) && fs.readFileSync(f, "utf8").split("\n").includes(this.line));
    }

    /**
     * Puts the range back when something else removed it (another suite sharing this machine that
     * re-applies or removes the whole managed block, or a userdel). Returns whether it had to.
     */
    ensure(): boolean {
        if (this.present()) return false;
        console.warn(`      (${this.line} disappeared from /etc/subuid or /etc/subgid: another suite rewrote them; adding it again)`);
        this.add();
        return true;
    }

    drop(): void {
        const mode = this.mode;
        this.mode = undefined;
        if (mode === "block") {
            const all = managedEntries();
            const rest = all.filter((e) => !e.startsWith(`${this.owner}:`));
            if (rest.length === all.length && all.length > 0) return; // already gone (userdel)
            const r = rest.length > 0 ? run("bash", [subidsScript, "apply", ...systemFlags(rest), ...rest]) : run("bash", [subidsScript, "remove"]);
            if (r.status === 0) return;
            if (r.status !== 4) throw new Error(`subids-host.sh failed (${r.status}): ${r.stdout}${r.stderr}`);
            // Markers damaged meanwhile: take out our own line only.
        }
        if (mode === undefined) return;
        for (const f of ["/etc/subuid", "/etc/subgid"]) {
            if (!fs.existsSync(f)) continue;
            const lines = fs.readFileSync(f, "utf8").split("\n");
            const i = lines.indexOf(this.line);
            if (i >= 0) {
                lines.splice(i, 1);
                fs.writeFileSync(f, lines.join("\n"));
            }
        }
    }
}

/** A start for a test range: 2^31 + a random multiple of 65536 (far above any account's ID). */
export function randomSubidStart(): number {
    return 2 ** 31 + 65536 * (1 + Math.floor(Math.random() * 30000));
}

export function accountExists(name: string, db: "passwd" | "group" = "passwd"): boolean {
    return run("getent", [db, name]).status === 0;
}

/** Deletes a test user and its group if they exist (after its subordinate ranges are dropped:
 * userdel also deletes the user's lines from /etc/subuid and /etc/subgid). */
export function deleteAccount(name: string): void {
    if (accountExists(name)) run("userdel", [name]);
    if (accountExists(name, "group")) run("groupdel", [name]);
}
