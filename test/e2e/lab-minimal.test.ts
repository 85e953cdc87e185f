import * as assert from "node:assert/strict";
import { TestLab, labAvailable } from "../support/lab";
import { ProjectStack } from "../support/project-stack";

// Issue #13, hosts as they really are: hosts with nothing but systemd, sshd and sudo (no python3,
// no busybox, no procps, no iptables, no Docker; `lab.sh up --minimal`), one per runtime mode,
// the third reached as a sudoer. The first `pulumi up` must install what each mode and its own
// verification need and pass every check, on bookworm and on trixie; destroy gives the files back.
const FILES = ["/etc/subuid", "/etc/subgid", "/etc/docker/daemon.json"];
const SUITES = [
    { suite: "bookworm", lab: "min", portBase: 22360, net: 40 },
    { suite: "trixie", lab: "mint", portBase: 22380, net: 44 },
] as const;

for (const { suite, lab: name, portBase, net } of SUITES) {
    const HOSTS = [1, 2, 3].map((n) => `${name}-${n}`);
    describe(`minimal hosts on ${suite}: one up passes every check in each mode (real engine, lab hosts)`, function () {
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
            lab = new TestLab({ name, portBase, net, hosts: 3, suite, minimal: true });
            lab.up();
            for (const h of HOSTS) startBytes[h] = lab.snapshot(h, FILES);
            stack = new ProjectStack();
            stack.setConfig(`config:
  hardened-hosts:machines: lab
  hardened-hosts:labInventory: ${lab.inventoryFile}
  hardened-hosts:tenants: { tenant-a: {} }
  hardened-hosts:hosts:
    - { name: ${HOSTS[0]}, runtime: { mode: userns-remap }, tenants: [tenant-a] }
    - { name: ${HOSTS[1]}, runtime: { mode: docker-rootless, user: dockeruser }, tenants: [tenant-a] }
    - { name: ${HOSTS[2]}, runtime: { mode: podman, user: podmanuser }, tenants: [tenant-a] }
`);
        });
        after(function () {
            try {
                if (stack && lab && !destroyed) stack.pulumi(["destroy", "--yes", "--skip-preview"]);
            } finally {
                stack?.dispose();
                lab?.down();
            }
        });

        it("starts from hosts without python3, busybox, ps, iptables or Docker", function () {
            for (const h of HOSTS) {
                const r = lab!.sh(h, "for c in python3 busybox ps iptables docker podman jq; do command -v $c; done; true");
                assert.equal(r.stdout.trim(), "", `${h} has: ${r.stdout}`);
            }
            assert.equal(lab!.host(HOSTS[2]!).user, "deploy");
        });

        it("the first pulumi up passes every check on every host", function () {
            stack!.ok(["up", "--yes", "--skip-preview"]);
            const out = stack!.outputs();
            for (const h of HOSTS) {
                assert.equal(out.hosts[h].passed, true, JSON.stringify(out.hosts[h].checks, null, 1));
                const failed = Object.entries(out.hosts[h].checks as Record<string, string>).filter(([, v]) => !v.startsWith("pass"));
                assert.deepEqual(failed, [], `${h}: every check passes, warnings included`);
            }
            stack!.ok(["preview", "--refresh", "--expect-no-changes"]);
        });

        it("destroy puts /etc/subuid, /etc/subgid and daemon.json back byte for byte", function () {
            stack!.ok(["destroy", "--yes", "--skip-preview"]);
            destroyed = true;
            for (const h of HOSTS) assert.deepEqual(lab!.snapshot(h, FILES), startBytes[h], h);
        });
    });
}
