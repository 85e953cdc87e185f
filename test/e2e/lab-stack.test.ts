import * as assert from "node:assert/strict";
import { TestLab, labAvailable } from "../support/lab";
import { ProjectStack } from "../support/project-stack";

// The main job for real: the project's own stack program, run by the real engine over SSH
// against three disposable Debian hosts booting systemd (lab/lab.sh). Nothing is mocked.
//   e2e-1 busy      Docker running with containers and a daemon.json of other keys -> userns-remap
//   e2e-2 fresh     no Docker (the component installs it with apt)                   -> rootless Docker
//   e2e-3 sudo-user reached as the sudoer "deploy"                                   -> rootless Podman
const FILES = ["/etc/subuid", "/etc/subgid", "/etc/docker/daemon.json"];
const HOSTS = ["e2e-1", "e2e-2", "e2e-3"];

function stackConfig(inventory: string, tenantBSize: number): string {
    return `config:
  hardened-hosts:machines: lab
  hardened-hosts:labInventory: ${inventory}
  hardened-hosts:tenants:
    tenant-a: {}
    tenant-b: { size: ${tenantBSize} }
  hardened-hosts:hosts:
    - name: e2e-1
      runtime: { mode: userns-remap, daemonOptions: { no-new-privileges: true } }
      tenants: [tenant-a, tenant-b]
    - name: e2e-2
      runtime: { mode: docker-rootless, user: dockeruser }
      tenants: [tenant-a]
    - name: e2e-3
      runtime: { mode: podman, user: podmanuser }
      tenants: [tenant-b]
`;
}

describe("main job end to end: pulumi up on three lab hosts (real engine, SSH, systemd hosts)", function () {
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
        lab = new TestLab({ name: "e2e", portBase: 22300, net: 10, hosts: 3 });
        lab.up();
        for (const h of HOSTS) startBytes[h] = lab.snapshot(h, FILES);
        stack = new ProjectStack();
        stack.setConfig(stackConfig(lab.inventoryFile, 131072));
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

    it("starts from the lab's profiles: Docker busy on e2e-1, none on e2e-2, a sudoer on e2e-3", function () {
        assert.match(lab!.run("e2e-1", "docker ps --format '{{.Names}}' | sort | tr '\\n' ' '"), /lab-web lab-worker/);
        assert.equal(startBytes["e2e-1"]["/etc/docker/daemon.json"] !== null, true);
        assert.equal(lab!.sh("e2e-2", "command -v dockerd").status, 1);
        assert.equal(lab!.host("e2e-3").user, "deploy");
    });

    it("previews what will be written on which host, readably", function () {
        const r = stack!.ok(["preview", "--diff"]);
        for (const h of HOSTS) assert.match(r.out, new RegExp(`${h}-subids-write`));
        // The subordinate lines and the daemon.json keys are spelled out, not hashed.
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
        assert.deepEqual(mode, { "e2e-1": "userns-remap", "e2e-2": "rootless", "e2e-3": "rootless" });
        for (const h of HOSTS) assert.equal(out.hosts[h].passed, true, JSON.stringify(out.hosts[h], null, 1));
        // On the hosts themselves: the daemon reports userns, other keys kept, ranges written.
        assert.match(lab!.run("e2e-1", "docker info -f '{{json .SecurityOptions}}'"), /name=userns/);
        const daemon = JSON.parse(lab!.run("e2e-1", "cat /etc/docker/daemon.json"));
        assert.equal(daemon["userns-remap"], "dockremap");
        assert.deepEqual(daemon["labels"], ["lab=busy", "team=platform"]);
        assert.deepEqual(daemon["log-opts"], { "max-size": "10m", "max-file": "3" });
        const start = out.allocation["dockremap"].start;
        assert.match(lab!.run("e2e-1", "cat /etc/subuid"), new RegExp(`^dockremap:${start}:65536$`, "m"));
    });

    it("a second preview shows no changes", function () {
        stack!.ok(["preview", "--expect-no-changes"]);
    });

    it("changing one tenant's size touches only that tenant's hosts, and not a runtime", function () {
        stack!.setConfig(stackConfig(lab!.inventoryFile, 196608));
        const changes = stack!.changes();
        const urns = changes.map((c) => c.urn.split("::").pop()!);
        assert.ok(urns.some((u) => u === "e2e-1-subids-write"), urns.join(" "));
        assert.ok(urns.some((u) => u === "e2e-3-subids-write"), urns.join(" "));
        assert.deepEqual(urns.filter((u) => u.startsWith("e2e-2")), [], "e2e-2 has no tenant-b");
        assert.deepEqual(urns.filter((u) => /docker-daemon|runtime/.test(u)), [], "no runtime is touched");
        // Writes are updates in place; verification is a one-shot command, so it runs again (replace).
        assert.deepEqual(changes.filter((c) => c.op !== "update" && !c.urn.endsWith("-verify-observe")), [],
            "updates only, no replacements besides verification");
        stack!.ok(["up", "--yes", "--skip-preview"]);
        const tenantB = stack!.outputs().allocation["tenant-b"];
        assert.equal(tenantB.count, 196608);
        for (const h of ["e2e-1", "e2e-3"]) {
            assert.match(lab!.run(h, "cat /etc/subuid"), new RegExp(`^tenant-b:${tenantB.start}:196608$`, "m"));
        }
        assert.doesNotMatch(lab!.run("e2e-2", "cat /etc/subuid"), /tenant-b/);
        stack!.ok(["preview", "--expect-no-changes"]);
    });

    it("pulumi destroy puts every host's /etc/subuid, /etc/subgid and daemon.json back byte for byte", function () {
        stack!.ok(["destroy", "--yes", "--skip-preview"]);
        destroyed = true;
        for (const h of HOSTS) assert.deepEqual(lab!.snapshot(h, FILES), startBytes[h], h);
        assert.doesNotMatch(lab!.run("e2e-1", "docker info -f '{{json .SecurityOptions}}'"), /userns/);
        // The busy host's own containers live under the daemon's original root: back and running.
        assert.match(lab!.run("e2e-1", "docker ps --format '{{.Names}}' | sort | tr '\\n' ' '"), /lab-web lab-worker/);
    });
});
