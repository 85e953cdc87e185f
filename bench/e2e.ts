/**
 * End-to-end figures for the main job (`npm run bench:e2e`): the project's stack program run by
 * the real engine against lab hosts (lab/lab.sh), on this machine. Prints:
 *   - wall time of a cold `pulumi up` hardening 1 host, then 3 hosts, split into host work (the
 *     sum of SSH session time on each host, from its sshd journal), SSH handshakes (sessions x a
 *     measured `ssh true`), and engine + program (the wall time the busiest host does not explain);
 *   - SSH sessions opened per host by a full `up`, and by a no-change `up` (aim: zero);
 *   - wall time of a no-change `pulumi preview` and `pulumi up`;
 *   - truthful outputs (issue #12): a no-change `pulumi up --refresh` (wall, SSH sessions per host:
 *     aim one), what the refresh adds per host (the checks' own observation time), and the wall
 *     time of repairing a hand-removed userns-remap with `pulumi up --refresh`.
 * Its own lab (bench-1..3, ports 22501.., subnets 10.99.31..) and stack are removed at the end.
 * Figures, no thresholds: the machine (2 cores) is shared, so read them as one run's numbers.
 */
import { spawnSync } from "node:child_process";
import { TestLab } from "../test/support/lab";
import { ProjectStack } from "../test/support/project-stack";
import { cleanupOnce, hostNow, labStackConfig, runBench, sshSessions } from "./lab-bench";

const HOSTS = ["bench-1", "bench-2", "bench-3"];
const RUNTIMES: Record<string, string> = {
    "bench-1": "{ mode: userns-remap, existingContainers: stop }", // the busy host's containers: stopped, as asked (#28)
    "bench-2": "{ mode: docker-rootless, user: dockeruser }",
    "bench-3": "{ mode: podman, user: podmanuser }",
};

const config = (inventory: string, hosts: string[]) => labStackConfig(inventory, hosts.map((h) => [h, RUNTIMES[h]!]));

/** SSH sessions on a host since `since` (sshd's journal): count and summed duration. */
function sessions(lab: TestLab, host: string, since: string): { count: number; seconds: number } {
    const s = sshSessions(lab, host, since);
    return { count: s.length, seconds: s.reduce((a, [o, c]) => a + c - o, 0) };
}

function timed<T>(f: () => T): [T, number] {
    const t = process.hrtime.bigint();
    const r = f();
    return [r, Number(process.hrtime.bigint() - t) / 1e9];
}

function handshake(lab: TestLab, host: string): number {
    const [, s] = timed(() => {
        for (let i = 0; i < 5; i++) spawnSync("ssh", [...lab.sshArgs(host), "true"]);
    });
    return s / 5;
}

const f1 = (n: number) => n.toFixed(1);

function measuredUp(lab: TestLab, stack: ProjectStack, hosts: string[], label: string): void {
    const since = Object.fromEntries(hosts.map((h) => [h, hostNow(lab, h)]));
    const [, wall] = timed(() => stack.ok(["up", "--yes", "--skip-preview"]));
    // Sessions are read before the handshake probe, whose own logins would count.
    const counted = Object.fromEntries(hosts.map((h) => [h, sessions(lab, h, since[h])]));
    const hs = handshake(lab, hosts[0]);
    console.log(`${label}: wall ${f1(wall)} s`);
    let busiest = 0;
    for (const h of hosts) {
        const s = counted[h];
        const ssh = s.count * hs;
        busiest = Math.max(busiest, s.seconds + ssh);
        console.log(`  ${h}: ${s.count} SSH sessions, host work ${f1(s.seconds)} s, handshakes ~${f1(ssh)} s (${(hs * 1000).toFixed(0)} ms each)`);
    }
    console.log(`  engine + program (wall not explained by the busiest host): ~${f1(Math.max(0, wall - busiest))} s`);
}

async function main(): Promise<void> {
    const lab = new TestLab({ name: "bench", portBase: 22500, net: 30, hosts: 3 });
    let stack: ProjectStack | undefined;
    const done = cleanupOnce(() => {
        try { stack?.pulumi(["destroy", "--yes", "--skip-preview"]); } finally {
            stack?.dispose();
            lab.down();
        }
    });
    try {
        const [, labUp] = timed(() => lab.up());
        console.log(`lab up (3 hosts, cached root filesystems): ${f1(labUp)} s`);
        stack = new ProjectStack();

        stack.setConfig(config(lab.inventoryFile, ["bench-1"]));
        measuredUp(lab, stack, ["bench-1"], "cold up, 1 host (userns-remap, Docker preinstalled)");
        stack.ok(["destroy", "--yes", "--skip-preview"]);

        stack.setConfig(config(lab.inventoryFile, HOSTS));
        measuredUp(lab, stack, HOSTS, "cold up, 3 hosts (remap; rootless Docker and Podman installed with apt)");

        const since = Object.fromEntries(HOSTS.map((h) => [h, hostNow(lab, h)]));
        const [, preview] = timed(() => stack!.ok(["preview", "--expect-no-changes"]));
        const [, noop] = timed(() => stack!.ok(["up", "--yes", "--skip-preview"]));
        console.log(`no-change preview: ${f1(preview)} s; no-change up: ${f1(noop)} s`);
        console.log(`  SSH sessions during both: ${HOSTS.map((h) => `${h} ${sessions(lab, h, since[h]).count}`).join(", ")}`);

        const sinceRefresh = Object.fromEntries(HOSTS.map((h) => [h, hostNow(lab, h)]));
        const [, refreshUp] = timed(() => stack!.ok(["up", "--yes", "--skip-preview", "--refresh", "--expect-no-changes"]));
        const refreshed = Object.fromEntries(HOSTS.map((h) => [h, sessions(lab, h, sinceRefresh[h])]));
        console.log(`no-change up --refresh: ${f1(refreshUp)} s (no-change up without refresh: ${f1(noop)} s)`);
        for (const h of HOSTS) {
            console.log(`  ${h}: ${refreshed[h].count} SSH session(s), drift check on the host ${f1(refreshed[h].seconds)} s`);
        }

        lab.run("bench-1", [
            "python3 - <<'PY'",
            "import json",
            "p = '/etc/docker/daemon.json'",
            "d = json.load(open(p)); d.pop('userns-remap')",
            "json.dump(d, open(p, 'w'), indent=2)",
            "PY",
            "systemctl restart docker",
        ].join("\n"));
        const [, repair] = timed(() => stack!.ok(["up", "--yes", "--skip-preview", "--refresh"]));
        const [, after] = timed(() => stack!.ok(["up", "--yes", "--skip-preview", "--refresh", "--expect-no-changes"]));
        console.log(`userns-remap removed by hand on bench-1: up --refresh repairs it in ${f1(repair)} s (docker restart of the busy host included); the next up --refresh: ${f1(after)} s, no changes`);

        const [, destroy] = timed(() => stack!.ok(["destroy", "--yes", "--skip-preview"]));
        console.log(`destroy, 3 hosts: ${f1(destroy)} s`);
    } finally {
        done();
    }
}

runBench(main);
