import { spawnSync, SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { readHostScript } from "../../components/host/script";
import { rootlessDecisionArgs } from "../../components/rootless/plan";
import { repoRoot } from "./pulumi-cli";

// Helpers for the rootless runtime tests (test/rootless): run components/rootless/rootless.sh the
// way the Command provider does, run commands as a test user, write and take back the test users'
// subordinate ID ranges without disturbing entries other tests put into the managed block.

export const rootlessScript = path.join(repoRoot, "components", "rootless", "rootless.sh");
const subidsScript = path.join(repoRoot, "components", "subids", "subids-host.sh");

// The block holds other suites' entries too, some of them remap users (system accounts by
// design): subids-host.sh refuses a system account unless --system names it (issue 28).
const systemFlags = (entries: readonly string[]): string[] =>
    entries.map((e) => e.split(":")[0]!).filter((o) => /^[a-z_][a-z0-9_-]{0,31}$/.test(o)).flatMap((o) => ["--system", o]);
const BEGIN = "# BEGIN hardened-hosts managed block (do not edit)";
const END = "# END hardened-hosts managed block";
export const SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface RootlessRun {
    status: number;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    json: any;
    stdout: string;
    stderr: string;
    ms: number;
}

/**
 * The arguments as RootlessRuntime gives them: an `apply` for a known mode gets the decisions of
 * components/rootless/plan.ts after the test's own arguments (unless the test gives --packages).
 */
export function withDecisions(args: string[]): string[] {
    const mode = args[args.indexOf("--mode") + 1];
    if (args[0] !== "apply" || args.includes("--packages") || (mode !== "docker-rootless" && mode !== "podman")) return args;
    return [...args, ...rootlessDecisionArgs(mode)];
}

/**
 * Runs rootless.sh as remote.Command does: `bash -s -- ARGS` with the script text on stdin,
 * `apply` with the decisions RootlessRuntime adds ({@link withDecisions}).
 * spawnSync returns only when stdout and stderr are closed, so a daemon that kept our pipes
 * would show up here as a timeout (an SSH session would hang the same way).
 */
export function runRootless(args: string[]): RootlessRun {
    const t0 = Date.now();
    const r = spawnSync("bash", ["-s", "--", ...withDecisions(args)], {
        input: readHostScript("rootless/rootless.sh"), // as shipped: the prelude, then the script
        encoding: "utf8",
        timeout: 300_000,
    });
    const ms = Date.now() - t0;
    const stdout = r.stdout ?? "";
    const lines = stdout.trim().split("\n");
    let json: unknown;
    try {
        json = JSON.parse(lines[lines.length - 1] ?? "");
    } catch {
        json = { unparsable: stdout };
    }
    return { status: r.status ?? -1, json, stdout, stderr: r.stderr ?? "", ms };
}

/** A local account as passwd has it. */
export interface Account {
    name: string;
    uid: number;
    gid: number;
    home: string;
    shell: string;
}

export function account(name: string): Account | undefined {
    const r = spawnSync("getent", ["passwd", name], { encoding: "utf8" });
    if (r.status !== 0) return undefined;
    const f = r.stdout.trim().split(":");
    return { name, uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] };
}

/** Runs a command as the user with a clean environment (as rootless.sh does), in its home. */
export function asUser(a: Account, cmd: string[], env: Record<string, string> = {}, input?: string): SpawnSyncReturns<string> {
    const vars = {
        HOME: a.home,
        USER: a.name,
        LOGNAME: a.name,
        PATH: SYS_PATH,
        LANG: "C.UTF-8",
        XDG_RUNTIME_DIR: `/run/user/${a.uid}`,
        ...env,
    };
    return spawnSync(
        "setpriv",
        [`--reuid=${a.uid}`, `--regid=${a.gid}`, "--init-groups", "env", "-i", ...Object.entries(vars).map(([k, v]) => `${k}=${v}`), ...cmd],
        { encoding: "utf8", cwd: a.home, input, timeout: 180_000 },
    );
}

export function mustAsUser(a: Account, cmd: string[], env: Record<string, string> = {}): string {
    const r = asUser(a, cmd, env);
    if (r.status !== 0) throw new Error(`${cmd.join(" ")} as ${a.name} failed (${r.status}): ${r.stdout}${r.stderr}`);
    return r.stdout;
}

/** A busybox image as a tar (no registry here): /bin/busybox plus one link per applet. */
export function makeBusyboxTar(dir: string): string {
    const root = path.join(dir, "bb-root");
    fs.mkdirSync(path.join(root, "bin"), { recursive: true });
    fs.copyFileSync("/bin/busybox", path.join(root, "bin", "busybox"));
    fs.chmodSync(path.join(root, "bin", "busybox"), 0o755);
    const list = spawnSync("/bin/busybox", ["--list"], { encoding: "utf8" }).stdout.split("\n").filter((x) => x && x !== "busybox");
    for (const applet of list) fs.symlinkSync("busybox", path.join(root, "bin", applet));
    fs.mkdirSync(path.join(root, "tmp"), { mode: 0o1777 });
    const tar = path.join(dir, "busybox.tar");
    const r = spawnSync("tar", ["-C", root, "-cf", tar, "."], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
    fs.chmodSync(tar, 0o644);
    return tar;
}

/** The "start count" rows of a uid_map/gid_map text. */
export function mapRows(text: string): number[][] {
    return text.trim().split("\n").map((l) => l.trim().split(/\s+/).map(Number));
}

/** PIDs of host processes whose command line is exactly argv. */
export function pidsWithArgv(argv: string[]): number[] {
    const want = argv.join("\0") + "\0";
    const out: number[] = [];
    for (const d of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(d)) continue;
        try {
            if (fs.readFileSync(`/proc/${d}/cmdline`, "latin1") === want) out.push(Number(d));
        } catch {
            // gone meanwhile
        }
    }
    return out;
}

/** Real UID of a process, from /proc (ps prints UIDs above 2^31 as negative numbers). */
export function processUid(pid: number): number {
    const m = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    if (!m) throw new Error(`no Uid line for ${pid}`);
    return Number(m[1]);
}

export async function waitFor<T>(what: string, f: () => T | undefined, ms = 20_000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
        const v = f();
        if (v !== undefined) return v;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 200));
    }
}

export function processAlive(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.replace(/^.*\) /s, "")[0] !== "Z";
    } catch {
        return false;
    }
}

function managedEntries(): string[] {
    if (!fs.existsSync("/etc/subuid")) return [];
    const lines = fs.readFileSync("/etc/subuid", "utf8").split("\n");
    const b = lines.indexOf(BEGIN);
    const e = lines.findIndex((l) => l.startsWith(END));
    if (b < 0 || e < b) return [];
    return lines.slice(b + 1, e).filter((l) => /^[^:#\s]+:\d+:\d+$/.test(l));
}

/**
 * The test users' ranges in the real /etc/subuid and /etc/subgid. Other tests on this machine
 * may hold entries in the managed block at the same time, so we re-apply theirs along with ours
 * and take back only ours (subids-host.sh rewrites the whole block). If the block's markers are
 * damaged (shadow's useradd moves them when it adds an automatic range), we append plain lines
 * instead: they then count as "foreign" ranges, outside the block.
 */
export class TestSubids {
    mode: "block" | "line" | undefined;
    constructor(readonly entries: string[]) {}

    private owners(): string[] {
        return this.entries.map((e) => e.split(":")[0]);
    }

    add(): void {
        const mine = new Set(this.owners());
        const others = managedEntries().filter((e) => !mine.has(e.split(":")[0]));
        const r = spawnSync("bash", [subidsScript, "apply", ...systemFlags([...others, ...this.entries]), ...others, ...this.entries], { encoding: "utf8" });
        if (r.status === 0) {
            this.mode = "block";
            return;
        }
        if (r.status !== 4) throw new Error(`subids-host.sh apply failed (${r.status}): ${r.stdout}${r.stderr}`);
        console.warn(`      (subids-host.sh refused: ${r.stdout.trim()}; appending plain lines)`);
        appendLines(this.entries);
        this.mode = "line";
    }

    drop(): void {
        const mode = this.mode;
        this.mode = undefined;
        if (mode === "block") {
            const mine = new Set(this.owners());
            const all = managedEntries();
            const rest = all.filter((e) => !mine.has(e.split(":")[0]));
            if (rest.length === all.length && all.length > 0) return; // ours are gone already (userdel)
            const r = rest.length > 0
                ? spawnSync("bash", [subidsScript, "apply", ...systemFlags(rest), ...rest], { encoding: "utf8" })
                : spawnSync("bash", [subidsScript, "remove"], { encoding: "utf8" });
            if (r.status === 0) return;
            if (r.status !== 4) throw new Error(`subids-host.sh failed (${r.status}): ${r.stdout}${r.stderr}`);
        }
        if (mode !== undefined) removeLines(this.entries);
    }
}

/** Appends lines to both files, outside any block (a "foreign" range, as useradd makes). */
export function appendLines(entries: string[]): void {
    for (const f of ["/etc/subuid", "/etc/subgid"]) {
        const text = fs.existsSync(f) ? fs.readFileSync(f, "utf8") : "";
        fs.appendFileSync(f, (text && !text.endsWith("\n") ? "\n" : "") + entries.map((e) => e + "\n").join(""));
    }
}

/** Takes out exactly these lines (first occurrence each) from both files. */
export function removeLines(entries: string[]): void {
    for (const f of ["/etc/subuid", "/etc/subgid"]) {
        if (!fs.existsSync(f)) continue;
        const lines = fs.readFileSync(f, "utf8").split("\n");
        let changed = false;
        for (const e of entries) {
            const i = lines.indexOf(e);
            if (i >= 0) {
                lines.splice(i, 1);
                changed = true;
            }
        }
        if (changed) fs.writeFileSync(f, lines.join("\n"));
    }
}

/** Device permissions as getfacl prints them (with owner, mode and any ACL), for restoring. */
export function saveDeviceAcl(dev: string): string {
    const r = spawnSync("getfacl", ["-p", dev], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`getfacl ${dev}: ${r.stderr}`);
    return r.stdout;
}

export function restoreDeviceAcl(saved: string): void {
    const r = spawnSync("setfacl", ["--restore=-"], { input: saved, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`setfacl --restore: ${r.stderr}`);
}

/** Everything the test users might have left: processes first, then files the script kept. */
export function killUserProcesses(uid: number): void {
    spawnSync("pkill", ["-KILL", "-U", String(uid)]);
    const end = Date.now() + 10_000;
    while (Date.now() < end && spawnSync("pgrep", ["-U", String(uid)]).status === 0) {
        spawnSync("sleep", ["0.2"]);
    }
}
