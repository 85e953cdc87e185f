import * as assert from "node:assert/strict";
import { readHostScript } from "../../components/host/script";
import { TestLab, labAvailable } from "../support/lab";
import { ProjectStack } from "../support/project-stack";

// Issue #18, podman-auto end to end through the real engine, on one lab host per suite (bookworm:
// Podman 4.3.1, trixie: Podman 5.4.2), both installed by the component with apt: the preview
// shows pool and slots, up, verification passes with the observed maps, a no-change preview,
// an opt-out container reported, drift (containers.conf's userns removed by hand) seen by
// refresh and repaired by up, and destroy giving every file its starting bytes. The host starts
// with a containers.conf of its own, symlinked from elsewhere, which must stay a link and keep
// its lines. What the host does is read on the host itself, not only through verify.sh.
const SUITES = [
    { suite: "bookworm", lab: "auto", portBase: 22440, net: 60 },
    { suite: "trixie", lab: "autot", portBase: 22460, net: 64 },
] as const;
const CONF = "/etc/containers/containers.conf";
const TARGET = "/etc/hh-auto-test/containers.conf";
const FILES = ["/etc/subuid", "/etc/subgid", TARGET, "/etc/containers/storage.conf"];
const SLOTS = 3;
const SIZE = 65536;
const ORIGINAL = '# the host\'s own settings\n[engine]\nevents_logger = "file"\n\n[containers]\nlog_size_max = 1048576\n';
const PODMAN = "PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman";

for (const { suite, lab: labName, portBase, net } of SUITES) {
    describe(`podman-auto on a ${suite} lab host (real engine): preview, up, verify, drift, destroy`, function () {
        this.timeout(1_200_000);
        const skip = labAvailable();
        const H = `${labName}-1`;
        let lab: TestLab | undefined;
        let stack: ProjectStack | undefined;
        let startBytes: Record<string, string | null> = {};
        let destroyed = false;
        const L = () => lab!;
        const S = () => stack!;
        const up = (...extra: string[]) => S().ok(["up", "--yes", "--skip-preview", ...extra]);
        const pool = () => (S().outputs().allocation as Record<string, { start: number; count: number }>)["containers"]!;
        /** A container's uid_map, started by hand on the host without --userns (containers.conf decides). */
        const uidMapByHand = () => L().run(H, [
            "cd /; t=$(mktemp -d); mkdir -p $t/bin; cp /bin/busybox $t/bin/; ln -s busybox $t/bin/cat",
            `tar -C $t -c . | ${PODMAN} import - localhost/hh-auto-test:1 >/dev/null; rm -rf $t`,
            `${PODMAN} run --rm --network none localhost/hh-auto-test:1 cat /proc/self/uid_map`,
            `${PODMAN} rmi localhost/hh-auto-test:1 >/dev/null`,
        ].join("\n")).trim().replace(/\s+/g, " ");

        before(function () {
            if (skip) this.skip();
            lab = new TestLab({ name: labName, portBase, net, hosts: 1, suite, profile: "fresh" });
            L().up();
            // The host's own containers.conf, a link into another folder (as config management does).
            L().run(H, `mkdir -p /etc/hh-auto-test /etc/containers && echo ${Buffer.from(ORIGINAL).toString("base64")} | base64 -d > ${TARGET} && ln -s ${TARGET} ${CONF}`);
            startBytes = L().snapshot(H, FILES);
            stack = new ProjectStack();
            S().setConfig([
                "config:",
                "  hardened-hosts:machines: lab",
                `  hardened-hosts:labInventory: ${L().inventoryFile}`,
                "  hardened-hosts:tenants: { tenant-a: {} }",
                "  hardened-hosts:hosts:",
                `    - { name: ${H}, runtime: { mode: podman-auto, slots: ${SLOTS}, size: ${SIZE} }, tenants: [tenant-a] }`,
                "",
            ].join("\n"));
        });

        after(function () {
            try {
                if (stack && !destroyed) stack.pulumi(["destroy", "--yes", "--skip-preview"]);
            } finally {
                try { stack?.dispose(); } finally { lab?.down(); }
            }
        });

        it("preview shows the pool owner, the pool and the slots", function () {
            const r = S().ok(["preview", "--diff"]);
            assert.match(r.out, new RegExp(`apply --owner containers --pool \\d+:${SLOTS * SIZE} --slots ${SLOTS} --size ${SIZE}`));
            assert.match(r.out, /containers/);
        });

        it("up: verification passes with two disjoint maps inside the pool, observed", function () {
            up();
            const out = S().outputs();
            const p = pool();
            assert.equal(p.count, SLOTS * SIZE);
            const h = out.hosts[H];
            assert.equal(h.passed, true, JSON.stringify(h.checks, null, 2));
            assert.equal(h.mode, "userns-auto");
            const a = `0 ${p.start} ${SIZE}`;
            const b = `0 ${p.start + SIZE} ${SIZE}`;
            assert.equal(h.checks["auto-maps-disjoint"], `pass: observed uid a: ${a}, b: ${b}; gid a: ${a}, b: ${b}; expected the two containers share no host uid and no host gid`);
            assert.equal(h.checks["bind-mount-owners-differ"], `pass: observed a: ${p.start}:${p.start}, b: ${p.start + SIZE}:${p.start + SIZE}; expected each file owned by its container's first host uid:gid, the two owners different`);
            // On the host itself: the link is still a link, its file kept its lines and got userns,
            // and a container started by hand gets a slice of the pool.
            assert.equal(L().run(H, `readlink ${CONF}`).trim(), TARGET);
            const conf = L().run(H, `cat ${TARGET}`);
            assert.ok(conf.includes('events_logger = "file"') && conf.includes("log_size_max = 1048576"), conf);
            assert.match(conf, /^\[containers\]\nlog_size_max = 1048576\nuserns = "auto"$/m);
            assert.equal(uidMapByHand(), `0 ${p.start} ${SIZE}`);
            assert.deepEqual(L().run(H, "grep -h '^containers:' /etc/subuid /etc/subgid").trim().split("\n"), [`containers:${p.start}:${p.count}`, `containers:${p.start}:${p.count}`]);
            // verify.sh left nothing: no container, no image.
            assert.equal(L().run(H, `${PODMAN} ps -aq; ${PODMAN} images -q`).trim(), "");
        });

        it("a second preview changes nothing", function () {
            S().ok(["preview", "--expect-no-changes"]);
            S().ok(["preview", "--refresh", "--expect-no-changes"]);
        });

        it("a --userns=host container is reported by refresh (not repaired: it is the user's)", function () {
            L().run(H, [
                "cd /; t=$(mktemp -d); mkdir -p $t/bin; cp /bin/busybox $t/bin/; ln -s busybox $t/bin/sleep",
                `tar -C $t -c . | ${PODMAN} import - localhost/hh-auto-optout:1 >/dev/null; rm -rf $t`,
                `${PODMAN} run -d --name optout --userns=host localhost/hh-auto-optout:1 sleep 100000 >/dev/null`,
            ].join("\n"));
            try {
                S().ok(["refresh", "--yes", "--skip-preview"]);
                const h = S().outputs().hosts[H];
                assert.equal(h.passed, false);
                assert.match(h.checks["no-userns-host-containers"], /^FAIL: observed optout \(/);
            } finally {
                L().run(H, `${PODMAN} rm -f -t0 optout >/dev/null; ${PODMAN} rmi localhost/hh-auto-optout:1 >/dev/null`);
            }
            S().ok(["refresh", "--yes", "--skip-preview"]);
            assert.equal(S().outputs().hosts[H].passed, true);
        });

        it("drift: userns removed from containers.conf by hand is seen by refresh and repaired by up", function () {
            L().run(H, `sed -i '/^userns = /d' ${TARGET}`);
            const preview = S().pulumi(["preview", "--refresh", "--diff", "--expect-no-changes"]);
            assert.notEqual(preview.status, 0, "--expect-no-changes must fail on drift");
            assert.match(preview.out, /"auto-maps-disjoint: observed /);
            S().ok(["refresh", "--yes", "--skip-preview"]);
            const h = S().outputs().hosts[H];
            assert.equal(h.passed, false);
            for (const c of ["uid-map", "auto-maps-disjoint", "auto-no-host-root", "bind-mount-owners-differ"]) assert.match(h.checks[c], /^FAIL: /, c);
            up();
            assert.equal(S().outputs().hosts[H].passed, true);
            assert.match(L().run(H, `cat ${TARGET}`), /^userns = "auto"$/m);
            assert.equal(L().run(H, `readlink ${CONF}`).trim(), TARGET);
            S().ok(["preview", "--refresh", "--expect-no-changes"]);
        });

        it("a host whose configuration folder does not exist: apply makes it, remove takes it away again", function () {
            // The script itself, as the component sends it, pointed at a folder that is not there
            // (HH_PODMAN_CONF_DIR): Podman needs no /etc/containers, so a host may have none.
            const dir = "/etc/hh-auto-absent";
            const p = pool();
            const script = readHostScript("podman/podman-auto.sh");
            const run = (args: string) => L().run(H, `HH_PODMAN_CONF_DIR=${dir} bash -s -- ${args} <<'HH_SCRIPT_END'\n${script}\nHH_SCRIPT_END`);
            assert.match(run(`apply --owner containers --pool ${p.start}:${p.count} --size ${SIZE} --slots ${SLOTS} --install no`), /"ok":true/);
            assert.match(L().run(H, `cat ${dir}/containers.conf`), /^userns = "auto"$/m);
            assert.match(run("remove"), new RegExp(`"restored":\\[.*"${dir}"\\]`));
            assert.equal(L().run(H, `[ -e ${dir} ] && echo present || echo absent`).trim(), "absent");
        });

        it("destroy gives every file its starting bytes (the link stays a link)", function () {
            S().ok(["destroy", "--yes", "--skip-preview"]);
            destroyed = true;
            assert.deepEqual(L().snapshot(H, FILES), startBytes);
            assert.equal(L().run(H, `readlink ${CONF}`).trim(), TARGET);
            assert.equal(L().run(H, "ls /etc/containers | grep -c hardened-hosts || true").trim(), "0");
        });
    });
}
