/**
 * State size per host (issue #29): `npm run bench:state -- --hosts 4,12,48`. One lab of as many
 * "busy" hosts as the largest N (Docker preinstalled: no package installs), each hardened with
 * userns-remap (its containers stopped, as asked: existingContainers stop) and one tenant; for each N a fresh `pulumi up`, then from the checkpoint (the file
 * backend's `.pulumi/stacks/<project>/<stack>.json`, what every step of an update rewrites):
 *   - its bytes, and per host (the checkpoint less the fleet's shared part, over N);
 *   - the bytes of each resource a host has (compact JSON, inputs and outputs included), by type
 *     and name suffix;
 *   - the bytes the engine wrote to the backend during that `up` (write(2) calls on files under
 *     the backend's directory, counted by strace), which grows with the square of N when each
 *     step rewrites a checkpoint that grows with N.
 * `--mixed` gives the hosts the lab's profiles in turn with the dev stack's four modes (busy:
 * userns-remap, fresh: docker-rootless, sudo-user: podman, podman-host: podman-auto), as the
 * issue's figures were taken on the dev stack. `--dump DIR` keeps each N's checkpoint there.
 * Lab HH_STATE_LAB or "st" (ports HH_STATE_PORT_BASE or 23100.., subnets HH_STATE_NET or 180) and the stack are
 * removed at the end, or first thing when the bench is stopped (lab-bench.ts's runBench).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { TestLab } from "../test/support/lab";
import { ProjectStack } from "../test/support/project-stack";
import { cleanupOnce, labStackConfig, runBench, trackChild } from "./lab-bench";

const argv = process.argv.slice(2);
const opt = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const COUNTS = (opt("--hosts") ?? "4,12").split(",").map(Number);
if (COUNTS.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw new Error("--hosts takes counts 1..64, e.g. 4,12,48");
const MAX = Math.max(...COUNTS);
const MIXED = argv.includes("--mixed");
const kb = (b: number) => `${(b / 1000).toFixed(1)} KB`;

const MIXED_RUNTIMES: Record<string, string> = {
    busy: "{ mode: userns-remap, daemonOptions: { no-new-privileges: true }, existingContainers: stop }",
    fresh: "{ mode: docker-rootless, user: dockeruser }",
    "sudo-user": "{ mode: podman, user: podmanuser }",
    "podman-host": "{ mode: podman-auto, slots: 16, size: 65536 }",
};

/** The hosts of the first N and their runtimes. */
function hostsOf(lab: TestLab, n: number): [string, string][] {
    return lab.inventory.hosts.slice(0, n).map((h) => [h.name, MIXED ? MIXED_RUNTIMES[h.profile]! : "{ mode: userns-remap, existingContainers: stop }"]);
}

/** `pulumi ARGS` under strace: the bytes written to files below `dir` (the backend). */
async function bytesWritten(stack: ProjectStack, args: string[]): Promise<{ bytes: number; wall: number }> {
    const { cmd, env } = stack.command(args);
    const log = path.join(stack.stateDir, "..", `${path.basename(stack.stateDir)}.strace`);
    const t0 = Date.now();
    const child = spawn("strace", ["-f", "-qq", "--seccomp-bpf", "-e", "trace=write,pwrite64", "-e", "signal=none", "-y", "-s", "0", "-o", log, "bash", ...cmd], {
        env, stdio: ["ignore", "pipe", "pipe"],
    });
    const untrack = trackChild(child.pid!);
    let out = "";
    child.stdout.on("data", (b) => { out += b; });
    child.stderr.on("data", (b) => { out += b; });
    const code: number = await new Promise((resolve) => child.on("close", (c) => resolve(c ?? -1)));
    untrack();
    const wall = (Date.now() - t0) / 1000;
    try {
        if (code !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${code}:\n${out.slice(-4000)}`);
        let bytes = 0;
        const dir = fs.realpathSync(stack.stateDir);
        // A thread's call may be cut in two by another's: its fd's path is on the first line only.
        const pending = new Map<string, string>();
        for (const line of fs.readFileSync(log, "utf8").split("\n")) {
            // 1234 write(7</tmp/hh-stack-state-x/.pulumi/stacks/p/s.json>, ""..., 5678) = 5678
            const full = /^(\d+) +p?write(?:64)?\(\d+<([^>]*)>.*= (\d+)$/.exec(line);
            const cut = /^(\d+) +p?write(?:64)?\(\d+<([^>]*)>.*<unfinished \.\.\.>$/.exec(line);
            const resumed = /^(\d+) +<\.\.\. p?write(?:64)? resumed>.*= (\d+)$/.exec(line);
            if (full && full[2]!.startsWith(dir)) bytes += Number(full[3]);
            else if (cut) pending.set(cut[1]!, cut[2]!);
            else if (resumed) {
                if (pending.get(resumed[1]!)?.startsWith(dir)) bytes += Number(resumed[2]);
                pending.delete(resumed[1]!);
            }
        }
        return { bytes, wall };
    } finally {
        fs.rmSync(log, { force: true });
    }
}

interface StateResource { urn: string; type: string; inputs?: unknown; outputs?: unknown }

/** The checkpoint file of the stack (the file backend's). */
function checkpointFile(stack: ProjectStack): string {
    const root = path.join(stack.stateDir, ".pulumi", "stacks");
    for (const project of fs.readdirSync(root)) {
        const f = path.join(root, project, `${stack.name}.json`);
        if (fs.existsSync(f)) return f;
    }
    throw new Error(`no checkpoint of ${stack.name} under ${root}`);
}

async function main(): Promise<void> {
    const lab = new TestLab({
        name: process.env.HH_STATE_LAB ?? "st", portBase: Number(process.env.HH_STATE_PORT_BASE ?? 23100), net: Number(process.env.HH_STATE_NET ?? 180),
        hosts: MAX, ...(MIXED ? {} : { profile: "busy" as const }),
    });
    let stack: ProjectStack | undefined;
    let destroyed = true;
    const done = cleanupOnce(() => {
        try {
            if (!destroyed) stack?.pulumi(["destroy", "--yes", "--skip-preview"]);
        } finally {
            stack?.dispose();
            lab.down();
        }
    });
    const rows: string[] = [];
    let previous: { n: number; checkpoint: number } | undefined;
    try {
        lab.up();
        stack = new ProjectStack();
        for (const n of COUNTS) {
            const hosts = hostsOf(lab, n);
            stack.setConfig(labStackConfig(lab.inventoryFile, hosts));
            destroyed = false;
            const up = await bytesWritten(stack, ["up", "--yes", "--skip-preview"]);
            const file = checkpointFile(stack);
            const checkpoint = fs.statSync(file).size;
            const exported = stack.ok(["stack", "export"]).stdout.length;
            const resources: StateResource[] = JSON.parse(fs.readFileSync(file, "utf8")).checkpoint.latest.resources;
            // --dump DIR: the checkpoint of each N, to read what a host's resources hold.
            if (opt("--dump")) fs.copyFileSync(file, path.join(opt("--dump")!, `checkpoint-${n}.json`));
            // A host's resources are named after it (`<host>-...`); the rest is the fleet's.
            const names = hosts.map(([h]) => h);
            const hostOf = (r: StateResource) => names.find((h) => r.urn.split("::").pop()!.startsWith(`${h}-`) || r.urn.split("::").pop() === h);
            const kinds = new Map<string, number[]>();
            let perHostBytes = 0;
            for (const r of resources) {
                const h = hostOf(r);
                if (h === undefined) continue;
                const bytes = JSON.stringify(r).length;
                perHostBytes += bytes;
                const kind = `${r.type} ${r.urn.split("::").pop()!.slice(h.length)}`;
                kinds.set(kind, [...(kinds.get(kind) ?? []), bytes]);
            }
            console.log(`N=${n}: checkpoint ${kb(checkpoint)} (stack export ${kb(exported)}), ${resources.length} resources; ` +
                `the hosts' own resources ${kb(perHostBytes)} = ${kb(perHostBytes / n)} per host; checkpoint / N ${kb(checkpoint / n)}; ` +
                `up: ${(up.bytes / 1e6).toFixed(1)} MB written to the backend in ${up.wall.toFixed(0)} s`);
            for (const [kind, sizes] of [...kinds].sort()) {
                console.log(`      ${kind}: ${kb(Math.min(...sizes))}-${kb(Math.max(...sizes))} (${sizes.length})`);
            }
            // Linear growth: each host past the previous N adds this much.
            const slope = previous ? kb((checkpoint - previous.checkpoint) / (n - previous.n)) : "";
            previous = { n, checkpoint };
            rows.push(`| ${n} | ${kb(checkpoint)} | ${kb(checkpoint / n)} | ${slope} | ${kb(perHostBytes / n)} | ${(up.bytes / 1e6).toFixed(1)} MB |`);
            // The review of a tenant resize (tenant-a 65536 -> 131072 on every host): the lines of
            // `preview --diff`, which must stay short (issue #29: at most 40 on the dev stack).
            stack.setConfig(labStackConfig(lab.inventoryFile, hosts).replace("tenant-a: {}", "tenant-a: { size: 131072 }"));
            const reviewText = stack.ok(["preview", "--diff"]).stdout.trimEnd();
            const review = reviewText.split("\n").length;
            if (opt("--dump")) fs.writeFileSync(path.join(opt("--dump")!, `resize-${n}.txt`), reviewText);
            console.log(`      tenant resize, preview --diff: ${review} lines (${(review / n).toFixed(1)} a host)`);
            stack.setConfig(labStackConfig(lab.inventoryFile, hosts));
            stack.ok(["destroy", "--yes", "--skip-preview"]);
            destroyed = true;
        }
        console.log(`\n${MIXED ? "mixed modes (dev stack's four, profiles in turn)" : "userns-remap on busy hosts"}`);
        console.log("| hosts | checkpoint | checkpoint / hosts | per host added since the previous N | a host's own resources (compact JSON), per host | written to the backend by the fresh up |");
        console.log("| --- | --- | --- | --- | --- | --- |");
        for (const r of rows) console.log(r);
    } finally {
        done();
    }
}

runBench(main);
