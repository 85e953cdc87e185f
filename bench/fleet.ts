/**
 * Fleet figures (issue #16): `npm run bench:fleet -- --hosts 1,3,6,12`. One lab of as many hosts
 * as the largest N, every host "busy" (Docker preinstalled and running two containers) and
 * hardened with userns-remap, so each N measures the same per-host work (no package installs)
 * and `destroy` gives the hosts back as found for the next N. For each N it prints:
 *   - the wall time of a fresh `pulumi up`, the host work (SSH session time on each host, from
 *     its sshd journal: the slowest host and the sum), SSH sessions per host, and what the wall
 *     time does not explain by the slowest host (engine, program, and waiting for CPU);
 *   - the engine's peak memory (all processes under `pulumi`, sampled every 200 ms);
 *   - the host-work-free steps, a no-change `pulumi preview` and a no-change `pulumi up` (the
 *     median of five runs each and their range), and a no-change `pulumi up --refresh` (one
 *     observation per host), and the ratio of each to N = 1;
 *   - the SSH parallelism achieved: the most sessions open at once across hosts;
 *   - the machine's background CPU before the host-work-free steps (the hosts' own processes).
 * The hosts share this machine's cores with the engine: "not explained" grows when host work
 * competes for CPU, which the sum of host work against the wall time shows.
 * Lab "fleet" (ports 22700.., subnets 10.99.101..) and the stack are removed at the end, or
 * first thing when the bench is stopped (SIGINT, SIGTERM, SIGHUP: lab-bench.ts's runBench).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import { TestLab } from "../test/support/lab";
import { ProjectStack } from "../test/support/project-stack";
import { cleanupOnce, hostNow, labStackConfig, previewBreakdown, runBench, sshSessions, trackChild } from "./lab-bench";

const arg = process.argv.indexOf("--hosts");
const COUNTS = (arg > 0 ? process.argv[arg + 1]! : "1,3,6,12").split(",").map(Number);
if (COUNTS.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new Error("--hosts takes counts 1..64, e.g. 1,3,6,12,48");
const MAX = Math.max(...COUNTS);
const RUNS = 5;
const names = (n: number) => Array.from({ length: n }, (_, i) => `fleet-${i + 1}`);
const f1 = (n: number) => n.toFixed(1);

const config = (inventory: string, hosts: string[]) => labStackConfig(inventory, hosts.map((h) => [h, "{ mode: userns-remap, existingContainers: stop }"])); // busy hosts: stopping their containers is asked for (#28)


/** The most intervals open at one time. */
function peakOverlap(intervals: [number, number][]): number {
    const ev = intervals.flatMap(([a, b]) => [[a, 1], [b, -1]] as [number, number][]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let now = 0, peak = 0;
    for (const [, d] of ev) peak = Math.max(peak, (now += d));
    return peak;
}

/** RSS (KiB) of a process and all its descendants, from /proc. */
function treeRss(root: number): number {
    const children = new Map<number, number[]>();
    let total = 0;
    const rss = new Map<number, number>();
    for (const d of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(d)) continue;
        try {
            const st = fs.readFileSync(`/proc/${d}/status`, "utf8");
            const ppid = Number(/^PPid:\s+(\d+)/m.exec(st)?.[1]);
            rss.set(Number(d), Number(/^VmRSS:\s+(\d+)/m.exec(st)?.[1] ?? 0));
            children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
        } catch { /* gone */ }
    }
    const walk = (p: number) => { total += rss.get(p) ?? 0; for (const c of children.get(p) ?? []) walk(c); };
    walk(root);
    return total;
}

/** Busy and total jiffies of all CPUs (/proc/stat's first line; idle and iowait are not busy). */
function cpuJiffies(): { busy: number; total: number } {
    const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: total - f[3]! - f[4]!, total };
}

/**
 * The machine's CPU busy (in cores) while nothing of ours runs, over `seconds`: the hosts' own
 * processes (dockerd, containers, journald) compete with the engine for the same cores, and a
 * host-work-free step of N hosts is only comparable to one of 1 host under the same load.
 */
async function backgroundCores(seconds: number): Promise<number> {
    const a = cpuJiffies();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const b = cpuJiffies();
    const cores = os.cpus().length;
    return ((b.busy - a.busy) / (b.total - a.total)) * cores;
}

/** Runs `pulumi ARGS` on the stack, sampling its process tree's memory; wall seconds and peak MiB. */
async function measured(stack: ProjectStack, args: string[]): Promise<{ wall: number; peakMiB: number }> {
    const { cmd, env } = stack.command(args);
    const t0 = process.hrtime.bigint();
    const child = spawn("bash", cmd, { env, stdio: ["ignore", "pipe", "pipe"] });
    const untrack = trackChild(child.pid!);
    let out = "";
    child.stdout.on("data", (b) => { out += b; });
    child.stderr.on("data", (b) => { out += b; });
    let peak = 0;
    const timer = setInterval(() => { peak = Math.max(peak, treeRss(child.pid!)); }, 200);
    const code: number = await new Promise((resolve) => child.on("close", (c) => resolve(c ?? -1)));
    clearInterval(timer);
    untrack();
    if (code !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${code}:\n${out.slice(-4000)}`);
    return { wall: Number(process.hrtime.bigint() - t0) / 1e9, peakMiB: peak / 1024 };
}

/** RUNS runs of `pulumi ARGS`: the median wall time, the range, and the peak memory of all. */
async function median(stack: ProjectStack, args: string[]): Promise<{ wall: number; spread: string; peakMiB: number }> {
    const runs: { wall: number; peakMiB: number }[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measured(stack, args));
    const walls = runs.map((r) => r.wall).sort((a, b) => a - b);
    return {
        wall: walls[Math.floor(walls.length / 2)]!,
        spread: `${walls[0]!.toFixed(2)}-${walls[walls.length - 1]!.toFixed(2)}`,
        peakMiB: Math.max(...runs.map((r) => r.peakMiB)),
    };
}

async function main(): Promise<void> {
    const lab = new TestLab({ name: "fleet", portBase: 22700, net: 100, hosts: MAX, profile: "busy" });
    let stack: ProjectStack | undefined;
    const done = cleanupOnce(() => {
        try { stack?.pulumi(["destroy", "--yes", "--skip-preview"]); } finally {
            stack?.dispose();
            lab.down();
        }
    });
    const rows: string[] = [];
    let base: { preview: number; noop: number; refresh: number } | undefined;
    try {
        const t = process.hrtime.bigint();
        lab.up();
        console.log(`lab up: ${MAX} busy hosts in ${f1(Number(process.hrtime.bigint() - t) / 1e9)} s`);
        console.log(lab.lab("status").trimEnd());
        stack = new ProjectStack();
        for (const n of COUNTS) {
            const hosts = names(n);
            stack.setConfig(config(lab.inventoryFile, hosts));
            const since = Object.fromEntries(hosts.map((h) => [h, hostNow(lab, h)]));
            const up = await measured(stack, ["up", "--yes", "--skip-preview"]);
            const per = hosts.map((h) => sshSessions(lab, h, since[h]!));
            const work = per.map((s) => s.reduce((a, [o, c]) => a + c - o, 0));
            const slowest = Math.max(...work), sum = work.reduce((a, b) => a + b, 0);
            const parallel = peakOverlap(per.flat());
            // The host-work-free steps, five runs each, the median kept: one run of a 2-4 s step
            // proves little on a shared machine.
            const background = await backgroundCores(5);
            const preview = await median(stack, ["preview", "--expect-no-changes"]);
            const noop = await median(stack, ["up", "--yes", "--skip-preview", "--expect-no-changes"]);
            // Every N: what grows with the hosts is what the goal is about.
            const verbose = stack.pulumi(["preview", "--expect-no-changes", "-v=7", "--logtostderr", "--logflow"]);
            console.log(`      no-change preview, where the time goes: ${previewBreakdown(verbose.out)}`);
            const sinceRefresh = Object.fromEntries(hosts.map((h) => [h, hostNow(lab, h)]));
            const refresh = await measured(stack, ["up", "--yes", "--skip-preview", "--refresh", "--expect-no-changes"]);
            const refreshSessions = hosts.map((h) => sshSessions(lab, h, sinceRefresh[h]!).length);
            base ??= { preview: preview.wall, noop: noop.wall, refresh: refresh.wall };
            console.log(`N=${n}: fresh up ${f1(up.wall)} s (peak ${up.peakMiB.toFixed(0)} MiB); host work: slowest ${f1(slowest)} s, sum ${f1(sum)} s; ` +
                `not explained by the slowest host ${f1(Math.max(0, up.wall - slowest))} s; SSH sessions per host ${[...new Set(per.map((s) => s.length))].join("/")}, ` +
                `at most ${parallel} open at once`);
            console.log(`      background CPU before the host-work-free steps (the hosts' own processes, 5 s): ${background.toFixed(2)} of ${os.cpus().length} cores`);
            console.log(`      no-change preview ${preview.wall.toFixed(2)} s median of ${RUNS} (${preview.spread}; ${(preview.wall / base.preview).toFixed(2)}x N=1, peak ${preview.peakMiB.toFixed(0)} MiB); ` +
                `no-change up ${noop.wall.toFixed(2)} s median of ${RUNS} (${noop.spread}; ${(noop.wall / base.noop).toFixed(2)}x N=1)`);
            console.log(`      no-change up --refresh ${f1(refresh.wall)} s (${(refresh.wall / base.refresh).toFixed(2)}x N=1, peak ${refresh.peakMiB.toFixed(0)} MiB, ` +
                `sessions per host ${[...new Set(refreshSessions)].join("/")})`);
            rows.push(`| ${n} | ${f1(up.wall)} | ${f1(slowest)} | ${f1(sum)} | ${parallel} | ${preview.wall.toFixed(2)} (${preview.spread}) | ${noop.wall.toFixed(2)} (${noop.spread}) | ${f1(refresh.wall)} | ${up.peakMiB.toFixed(0)} | ${background.toFixed(2)} |`);
            const destroy = await measured(stack, ["destroy", "--yes", "--skip-preview"]);
            console.log(`      destroy ${f1(destroy.wall)} s`);
        }
        console.log("\n| hosts | fresh up s | slowest host work s | host work sum s | SSH open at once | no-change preview s, median (range) | no-change up s, median (range) | no-change up --refresh s | up peak MiB | background CPU, cores |");
        console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for (const r of rows) console.log(r);
    } finally {
        done();
    }
}

runBench(main);
