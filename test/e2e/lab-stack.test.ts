import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { TestLab, labAvailable } from "../support/lab";
import { ProjectStack } from "../support/project-stack";

// The main job for real: the project's own stack program, run by the real engine over SSH
// against three disposable Debian hosts booting systemd (lab/lab.sh). Nothing is mocked.
//   <lab>-1 busy      Docker running with containers and a daemon.json of other keys -> userns-remap
//   <lab>-2 fresh     no Docker (the component installs it with apt)                   -> rootless Docker
//   <lab>-3 sudo-user reached as the sudoer "deploy"                                   -> rootless Podman
// On bookworm (Docker 20.10: JSON-only config checks) and trixie (Docker 26: `dockerd --validate`,
// the docker CLI as its own package, a newer systemd).
const FILES = ["/etc/subuid", "/etc/subgid", "/etc/docker/daemon.json"];
const SUITES = [
    { suite: "bookworm", lab: "e2e", portBase: 22300, net: 10 },
    { suite: "trixie", lab: "e2et", portBase: 22320, net: 13 },
] as const;

function stackConfig(inventory: string, tenantBSize: number, [H1, H2, H3]: string[]): string {
    return `config:
  hardened-hosts:machines: lab
  hardened-hosts:labInventory: ${inventory}
  hardened-hosts:tenants:
    tenant-a: {}
    tenant-b: { size: ${tenantBSize} }
  hardened-hosts:hosts:
    - name: ${H1}
      runtime: { mode: userns-remap, daemonOptions: { no-new-privileges: true }, existingContainers: stop }
      tenants: [tenant-a, tenant-b]
    - name: ${H2}
      runtime: { mode: docker-rootless, user: dockeruser }
      tenants: [tenant-a]
    - name: ${H3}
      runtime: { mode: podman, user: podmanuser }
      tenants: [tenant-b]
`;
}

function endToEnd({ suite, lab: labName, portBase, net }: (typeof SUITES)[number]): void {
    const [H1, H2, H3] = [1, 2, 3].map((n) => `${labName}-${n}`) as [string, string, string];
    const HOSTS = [H1, H2, H3];

    describe(`main job end to end on ${suite}: pulumi up on three lab hosts (real engine, SSH, systemd hosts)`, function () {
        this.timeout(900_000);
        const skip = labAvailable();
        let lab: TestLab | undefined;
        let stack: ProjectStack | undefined;
        const startBytes: Record<string, Record<string, string | null>> = {};
        let destroyed = false;

        before(function () {
            if (skip) {
                if (process.env.CI) throw new Error(`the lab cannot run here: ${skip}`);
                this.skip();
            }
            lab = new TestLab({ name: labName, portBase, net, hosts: 3, suite });
            lab.up();
            for (const h of HOSTS) startBytes[h] = lab.snapshot(h, FILES);
            stack = new ProjectStack();
            stack.setConfig(stackConfig(lab.inventoryFile, 131072, HOSTS));
        });

        after(function () {
            // Cleanup even when a step failed: the stack first (it knows the hosts), then the hosts.
            try {
                if (stack && lab && !destroyed) stack.pulumi(["destroy", "--yes"]);
            } finally {
                stack?.dispose();
                lab?.down();
            }
        });

        afterEach(function () {
            // A slow step says why: the engine's transcript and what the hosts' sshd logged.
            const slow = (stack?.runs ?? []).filter((r) => r.seconds >= 60);
            stack?.runs.splice(0);
            if (slow.length === 0 || !lab) return;
            for (const run of slow) {
                console.log(`      slow: pulumi ${run.args.join(" ")} took ${run.seconds.toFixed(0)} s; its lines with timings:`);
                const lines = run.out.split("\n").filter((l) => /\(\d+s\)|Dial|error|Duration/.test(l)).slice(-60);
                console.log(lines.map((l) => `        ${l.slice(0, 200)}`).join("\n"));
            }
            // The hosts' journals during the first slow run (the machine and the hosts share a clock).
            const since = slow[0]!.started.toISOString().slice(0, 19).replace("T", " ");
            for (const h of HOSTS) {
                const log = lab.sh(h, `journalctl --since '${since}' -o short-precise --no-pager | grep -v 'pam_env\\|pam_unix\\|pam_limits\\|podman\\[\\|hh-verify' | head -n 40`);
                console.log(`      ${h} journal:\n${log.stdout.split("\n").map((l) => `        ${l.slice(0, 220)}`).join("\n")}`);
            }
        });

        it("starts from the lab's profiles: Docker busy on the first host, none on the second, a sudoer on the third", function () {
            assert.match(lab!.run(H1, "docker ps --format '{{.Names}}' | sort | tr '\\n' ' '"), /lab-web lab-worker/);
            assert.equal(startBytes[H1]["/etc/docker/daemon.json"] !== null, true);
            assert.equal(lab!.sh(H2, "command -v dockerd").status, 1);
            assert.equal(lab!.host(H3).user, "deploy");
        });

        it("previews what will be written on which host, readably", function () {
            const r = stack!.ok(["preview", "--diff"]);
            for (const h of HOSTS) assert.match(r.out, new RegExp(`${h}-subids-write`));
            // The subordinate lines and the daemon.json keys are spelled out, not hashed.
            // (The lines first, then --stack, --system, --docker-config: a preview shortens long values.)
            assert.match(r.out, /apply dockremap:\d+:65536 tenant-a:\d+:65536 tenant-b:\d+:131072/);
            assert.match(r.out, /--options '\{\\?"no-new-privileges\\?":true\}'/);
            assert.match(r.out, /--mode docker-rootless --user dockeruser/);
            assert.match(r.out, /sudo -n bash -s -- apply --mode podman --user podmanuser/);
        });

        it("pulumi up hardens all three hosts and every verification passes", function () {
            stack!.ok(["up", "--yes", "--skip-preview"]);
            const out = stack!.outputs();
            assert.deepEqual(out.summary, { failing: [], hostsFailed: 0, hostsPassed: 3, warnings: out.summary.warnings });
            const mode = Object.fromEntries(HOSTS.map((h) => [h, out.hosts[h].mode]));
            assert.deepEqual(mode, { [H1]: "userns-remap", [H2]: "rootless", [H3]: "rootless" });
            for (const h of HOSTS) assert.equal(out.hosts[h].passed, true, JSON.stringify(out.hosts[h], null, 1));
            // On the hosts themselves: the daemon reports userns, other keys kept, ranges written.
            assert.match(lab!.run(H1, "docker info -f '{{json .SecurityOptions}}'"), /name=userns/);
            const daemon = JSON.parse(lab!.run(H1, "cat /etc/docker/daemon.json"));
            assert.equal(daemon["userns-remap"], "dockremap");
            assert.deepEqual(daemon["labels"], ["lab=busy", "team=platform"]);
            assert.deepEqual(daemon["log-opts"], { "max-size": "10m", "max-file": "3" });
            const start = out.allocation["dockremap"].start;
            assert.match(lab!.run(H1, "cat /etc/subuid"), new RegExp(`^dockremap:${start}:65536$`, "m"));
            // The busy host's containers were stopped and hidden because the stack asked
            // (existingContainers: stop), and the outputs say so; no other host stopped anything.
            const sorted = (e: { stopped: string[]; hidden: string[]; remapTakenOverFrom: string | null }) =>
                ({ stopped: [...e.stopped].sort(), hidden: [...e.hidden].sort(), remapTakenOverFrom: e.remapTakenOverFrom });
            assert.deepEqual(Object.keys(out.containers), [H1], JSON.stringify(out.containers));
            assert.deepEqual(sorted(out.containers[H1]), { stopped: ["lab-web", "lab-worker"], hidden: ["lab-web", "lab-worker"], remapTakenOverFrom: null });
        });

        it("a second preview shows no changes", function () {
            stack!.ok(["preview", "--expect-no-changes"]);
        });

        it("changing one tenant's size touches only that tenant's hosts, and not a runtime", function () {
            stack!.setConfig(stackConfig(lab!.inventoryFile, 196608, HOSTS));
            const changes = stack!.changes();
            const urns = changes.map((c) => c.urn.split("::").pop()!);
            assert.ok(urns.some((u) => u === `${H1}-subids-write`), urns.join(" "));
            assert.ok(urns.some((u) => u === `${H3}-subids-write`), urns.join(" "));
            assert.deepEqual(urns.filter((u) => u.startsWith(H2)), [], `${H2} has no tenant-b`);
            assert.deepEqual(urns.filter((u) => /docker-daemon|runtime/.test(u)), [], "no runtime is touched");
            // Writes are updates in place, and so is verification (it observes again).
            assert.deepEqual(changes.filter((c) => c.op !== "update"), [], "updates only, no replacements");
            stack!.ok(["up", "--yes", "--skip-preview"]);
            const tenantB = stack!.outputs().allocation["tenant-b"];
            assert.equal(tenantB.count, 196608);
            for (const h of [H1, H3]) {
                assert.match(lab!.run(h, "cat /etc/subuid"), new RegExp(`^tenant-b:${tenantB.start}:196608$`, "m"));
            }
            assert.doesNotMatch(lab!.run(H2, "cat /etc/subuid"), /tenant-b/);
            stack!.ok(["preview", "--expect-no-changes"]);
        });

        it("pulumi destroy puts every host's /etc/subuid, /etc/subgid and daemon.json back byte for byte", function () {
            stack!.ok(["destroy", "--yes", "--skip-preview"]);
            destroyed = true;
            for (const h of HOSTS) assert.deepEqual(lab!.snapshot(h, FILES), startBytes[h], h);
            assert.doesNotMatch(lab!.run(H1, "docker info -f '{{json .SecurityOptions}}'"), /userns/);
            // The busy host's own containers live under the daemon's original root: back and running.
            assert.match(lab!.run(H1, "docker ps --format '{{.Names}}' | sort | tr '\\n' ' '"), /lab-web lab-worker/);
        });

        it("lab down leaves none of the busy host's container cgroups on this machine (cgroup v1)", function () {
            // Its containers are running when it powers off; under cgroup v1 their cgroups sit in
            // this machine's /sys/fs/cgroup/*/docker, named by container ID.
            const ids = lab!.run(H1, "docker ps -q --no-trunc").split("\n").filter((l) => /^[0-9a-f]{64}$/.test(l));
            assert.ok(ids.length >= 2, "the busy host runs its containers");
            lab!.down();
            const left = ids.flatMap((id) => fs.readdirSync("/sys/fs/cgroup").map((c) => `/sys/fs/cgroup/${c}/docker/${id}`)).filter((d) => fs.existsSync(d));
            assert.deepEqual(left, []);
        });
    });
}

for (const settings of SUITES) endToEnd(settings);
