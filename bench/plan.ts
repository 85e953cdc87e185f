/**
 * Planning figures (issue #29): `npm run bench:plan -- --hosts 100,300,1000`. For each N, a
 * preview-only plan of N bring-your-own hosts that are never contacted (`existing` kind, listed in
 * a hosts file outside the stack config, userns-remap, two tenants): `pulumi preview` on a stack
 * that was never deployed. It prints the wall time, the CLI's peak memory (the largest resident
 * set of any process in the tree, and the sum at its peak), and where the CPU went, by process:
 * the engine (the `pulumi` CLI: planning, state, display), the language host, the program
 * (Node.js running the stack), the dynamic providers' process and the Command provider. Sampled
 * from /proc every 200 ms (a process that ends between two samples loses its last 200 ms).
 * The stack and its backend are removed at the end.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ProjectStack } from "../test/support/project-stack";
import { cleanupOnce, runBench, trackChild } from "./lab-bench";

const arg = process.argv.indexOf("--hosts");
const COUNTS = (arg > 0 ? process.argv[arg + 1]! : "100,300,1000").split(",").map(Number);
if (COUNTS.some((n) => !Number.isInteger(n) || n < 1 || n > 5000)) throw new Error("--hosts takes counts 1..5000, e.g. 100,300,1000");
const TICK = 100; // USER_HZ on Linux
// --profile DIR: the engine's own CPU and memory profiles (pulumi --profiling DIR/engine-N), for `go tool pprof`.
const profArg = process.argv.indexOf("--profile");
const PROFILE_DIR = profArg > 0 ? path.resolve(process.argv[profArg + 1]!) : undefined;

/** The hosts file: N hosts in a documentation network (never contacted: a preview only). */
function hostsFile(dir: string, n: number): string {
    const key = (i: number) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${Buffer.from(`bench-host-${String(i).padStart(8, "0")}-key-material`).toString("base64").slice(0, 43)}`;
    const lines = ["hosts:"];
    for (let i = 0; i < n; i++) {
        lines.push(`  - { name: node-${i + 1}, address: 198.18.${Math.floor(i / 250)}.${(i % 250) + 1}, user: admin, hostKey: "${key(i)}", runtime: { mode: userns-remap }, tenants: [tenant-a, tenant-b] }`);
    }
    const file = path.join(dir, `hosts-${n}.yaml`);
    fs.writeFileSync(file, `${lines.join("\n")}\n`);
    return file;
}

type Kind = "engine" | "language host" | "program" | "dynamic providers" | "command provider" | "other";
function kindOf(cmdline: string[]): Kind {
    const exe = path.basename(cmdline[0] ?? "");
    const all = cmdline.join(" ");
    if (exe === "pulumi") return "engine";
    if (exe.startsWith("pulumi-language-")) return "language host";
    if (exe === "pulumi-resource-command") return "command provider";
    if (/dynamic|pulumi-resource-pulumi-nodejs/.test(all)) return "dynamic providers";
    if (/cmd\/run|stacks\/main\.js/.test(all)) return "program";
    return "other";
}

/** Every descendant of `root` (and itself). */
function tree(root: number): number[] {
    const parent = new Map<number, number>();
    for (const d of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(d)) continue;
        try {
            const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
            parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
        } catch { /* gone */ }
    }
    const out = [root];
    for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i] && !out.includes(p)) out.push(p);
    return out;
}

async function measure(stack: ProjectStack, n: number): Promise<{ seconds: number; status: number; cpu: Record<string, number>; peakProcess: number; peakTree: number; peakKind: Record<string, number>; out: string }> {
    const { cmd, env } = stack.command(["preview", "--suppress-progress", ...(PROFILE_DIR ? ["--profiling", path.join(PROFILE_DIR, `engine-${n}`)] : [])]);
    const t0 = Date.now();
    const child = spawn("bash", cmd, { env, cwd: "/" });
    const untrack = trackChild(child.pid!);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const cpu = new Map<number, { kind: Kind; seconds: number }>();
    let peakProcess = 0, peakTree = 0;
    const peakKind: Record<string, number> = {};
    const sample = () => {
        let sum = 0;
        for (const pid of tree(child.pid!)) {
            try {
                const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8").slice(0);
                const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
                const seconds = (Number(f[11]) + Number(f[12])) / TICK;
                const rss = Number(f[21]) * 4096;
                // Classified at every sample: the first may see bash before it execs pulumi.
                const known = cpu.get(pid) ?? { kind: "other" as Kind, seconds: 0 };
                known.kind = kindOf(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0"));
                known.seconds = Math.max(known.seconds, seconds);
                cpu.set(pid, known);
                peakProcess = Math.max(peakProcess, rss);
                peakKind[known.kind] = Math.max(peakKind[known.kind] ?? 0, rss);
                sum += rss;
            } catch { /* ended */ }
        }
        peakTree = Math.max(peakTree, sum);
    };
    const timer = setInterval(sample, 200);
    const status = await new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? -1)));
    clearInterval(timer);
    untrack();
    const byKind: Record<string, number> = {};
    for (const { kind, seconds } of cpu.values()) byKind[kind] = (byKind[kind] ?? 0) + seconds;
    return { seconds: (Date.now() - t0) / 1000, status, cpu: byKind, peakProcess, peakTree, peakKind, out };
}

async function main(): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-bench-plan-"));
    const stacks: ProjectStack[] = [];
    const cleanup = cleanupOnce(() => {
        for (const s of stacks) s.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
    });
    try {
        const key = path.join(dir, "key");
        fs.writeFileSync(key, "-----BEGIN OPENSSH PRIVATE KEY-----\nbench, never used: no host is contacted\n-----END OPENSSH PRIVATE KEY-----\n");
        const rows: string[] = [];
        for (const n of COUNTS) {
            const stack = new ProjectStack();
            stacks.push(stack);
            stack.setConfig([
                "config:",
                "  hardened-hosts:machines: existing",
                "  hardened-hosts:tenants: { tenant-a: {}, tenant-b: { size: 131072 } }",
                `  hardened-hosts:hostsFile: ${hostsFile(dir, n)}`,
                "",
            ].join("\n"));
            const { cmd, env } = stack.command(["config", "set", "--secret", "sshPrivateKey"]);
            const { spawnSync } = await import("node:child_process");
            const set = spawnSync("bash", cmd, { env, input: fs.readFileSync(key), encoding: "utf8" });
            if (set.status !== 0) throw new Error(`config set: ${set.stderr}`);
            const m = await measure(stack, n);
            if (m.status !== 0) throw new Error(`preview of ${n} hosts failed:\n${m.out.slice(-4000)}`);
            const resources = /(\d+) to create/.exec(m.out)?.[1] ?? "?";
            const cpu = Object.entries(m.cpu).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(", ");
            const mem = Object.entries(m.peakKind).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / 2 ** 20).toFixed(0)}`).join(", ");
            rows.push(`${n} hosts (${resources} resources to create): ${m.seconds.toFixed(1)} s wall; peak ${(m.peakProcess / 2 ** 20).toFixed(0)} MiB in one process (${mem}), ${(m.peakTree / 2 ** 20).toFixed(0)} MiB in all; CPU: ${cpu}`);
            console.log(rows[rows.length - 1]);
            stack.dispose();
            stacks.pop();
        }
        console.log(`\nPreview-only plans (hosts never contacted, hosts file, userns-remap, 2 tenants), ${os.cpus().length} cores:\n${rows.join("\n")}`);
    } finally {
        cleanup();
    }
}

runBench(main);
