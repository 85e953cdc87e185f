import * as assert from "node:assert/strict";
import { readHostScript } from "../../components/host/script";
import { TestLab, labAvailable } from "../support/lab";
import { ProjectStack } from "../support/project-stack";
import { compare, differentialScript, generateCorpus } from "../support/shadow-corpus";

// Issue #13, hosts as they really are: hosts with nothing but systemd, sshd and sudo (no python3,
// no busybox, no procps, no iptables, no Docker; `lab.sh up --minimal`), one per runtime mode,
// the third reached as a sudoer. The first `pulumi up` must install what each mode and its own
// verification need and pass every check, on bookworm and on trixie; destroy gives the files back.
// On the same hosts: subids-host.sh against each suite's own getsubids (shadow 4.13 / 4.17) and
// getent (glibc 2.36 / 2.41), per notation and on generated whole files.
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

        it(`reads /etc/subuid numbers exactly as ${suite}'s own getsubids does (differential, on the host)`, function () {
            // The second host has uidmap now (rootless Docker needs it). One foreign line per
            // notation, read by the host's getsubids, and by subids-host.sh in a copy of /etc.
            const h = HOSTS[1]!;
            const notations = ["2147483648", "0x80000000", "020000000000", " 2147483648", "+2147483648", "-0", "08",
                "2147483648 ", "0x", "", "4294967296", "-2147483648", "18446744073709551615"];
            const script = readHostScript("subids/subids-host.sh");
            const out = lab!.run(h, [
                "cat > /tmp/hh-subids.sh <<'HH_SCRIPT_END'", script.trimEnd(), "HH_SCRIPT_END",
                "id hhdiff >/dev/null 2>&1 || useradd -M -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 hhdiff",
                "cp -p /etc/subuid /tmp/hh-subuid.orig; d=$(mktemp -d); cp /etc/passwd /etc/group $d/; : > $d/subgid",
                ...notations.map((n) => [
                    `line='hhdiff:${n}:65536'`,
                    `{ cat /tmp/hh-subuid.orig; printf '%s\\n' "$line"; } > /etc/subuid`,
                    `g=$(getsubids hhdiff 2>/dev/null | sed -n 's/^0: [^ ]* \\([0-9]*\\) [0-9]*$/\\1/p' || true)`,
                    `printf '%s\\n' "$line" > $d/subuid`,
                    `rc=0; HH_ETC=$d bash /tmp/hh-subids.sh check planned:2147483648:65536 >/dev/null 2>&1 || rc=$?`,
                    `printf 'R\\t%s\\t%s\\n' "\${g:-none}" "$rc"`,
                ].join("\n")),
                "cp -p /tmp/hh-subuid.orig /etc/subuid; userdel hhdiff; rm -rf $d /tmp/hh-subids.sh /tmp/hh-subuid.orig",
            ].join("\n"));
            const rows = out.split("\n").filter((l) => l.startsWith("R\t")).map((l) => l.split("\t"));
            assert.equal(rows.length, notations.length);
            rows.forEach(([, g, rc], i) => {
                const start = g === "none" ? undefined : BigInt(g!);
                const overlaps = start !== undefined && start < 2147483648n + 65536n && 2147483648n < start + 65536n;
                assert.equal(rc, overlaps ? "3" : "0", `${JSON.stringify(notations[i])}: getsubids reads ${g}, subids-host.sh check exited ${rc}`);
            });
        });

        it(`reads generated subuid, subgid, passwd and group files exactly as ${suite}'s getsubids and getent do`, function () {
            // test/support/shadow-corpus.ts: seen as /etc in a private mount namespace only.
            for (const seed of [101, 102, 103]) {
                const corpus = generateCorpus(seed);
                const r = lab!.sh(HOSTS[1]!, differentialScript(corpus));
                assert.equal(r.status, 0, r.stderr);
                assert.deepEqual(compare(corpus, r.stdout), []);
            }
        });

        it("destroy puts /etc/subuid, /etc/subgid and daemon.json back byte for byte", function () {
            stack!.ok(["destroy", "--yes", "--skip-preview"]);
            destroyed = true;
            for (const h of HOSTS) assert.deepEqual(lab!.snapshot(h, FILES), startBytes[h], h);
        });
    });
}
