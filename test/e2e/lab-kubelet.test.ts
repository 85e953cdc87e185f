import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { TestLab, labAvailable } from "../support/lab";
import { ProjectStack } from "../support/project-stack";
import { repoRoot } from "../support/pulumi-cli";

// Issue #31, kubelet-userns end to end through the real engine on ONE bookworm lab host that a
// fixture turns into a Kubernetes node image (kubelet v1.36.3, containerd v2.2.10, runc v1.4.4,
// CNI plugins, built by scripts/k8s-toolchain.sh; kubelet installed, not started). The mode:
// preview shows the kubelet range (idsPerPod 131072: aligned past the 65536-aligned tenant
// "alpha"); up with no kubelet running says "prepared, not proven"; kubelet started with two
// hostUsers:false static pods and one on the host network: a refresh proves the property (maps
// disjoint, in the range, no host root) and reports the host-users pod; the kubelet line changed
// by hand is seen by refresh and repaired by up; destroy gives every file its starting bytes
// (the kubelet account it created deleted). Two `pulumi up`s and one destroy.
const LAB = { name: "k8s", portBase: 23000, net: 170 } as const;
const H = `${LAB.name}-1`;
const IDS = 131072;
const PODS = 8;
const FILES = ["/etc/subuid", "/etc/subgid", "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/gshadow"];
const DROPIN = "/etc/kubernetes/kubelet.conf.d/50-hardened-hosts-userns.conf";

/** A static pod running busybox sleep (exits fast on SIGTERM: a grace period of 1 s). */
function manifest(name: string, hostUsers: boolean): string {
    return [
        "apiVersion: v1",
        "kind: Pod",
        `metadata: {name: ${name}, namespace: default}`,
        "spec:",
        hostUsers ? "  hostNetwork: true" : "  hostUsers: false",
        "  terminationGracePeriodSeconds: 1",
        "  containers:",
        "  - name: sh",
        "    image: docker.io/library/localbb:latest",
        "    imagePullPolicy: Never",
        '    command: ["/bin/sleep", "100000"]',
        "",
    ].join("\n");
}

/**
 * kubepods cgroup directories kubelet's cgroupfs driver made on this machine's cgroup v1
 * hierarchies: at their roots, or under the cgroup this test (and so the lab host) runs in (the
 * memory hierarchy here: /sys/fs/cgroup/memory/<this session's cgroup>/kubepods).
 */
function kubepodsCgroups(): string[] {
    const r = spawnSync("bash", ["-c", "find /sys/fs/cgroup -maxdepth 6 -type d -name kubepods -prune 2>/dev/null || true"], { encoding: "utf8" });
    return r.stdout.split("\n").filter((l) => l !== "");
}

describe("kubelet-userns on a bookworm lab host (real engine, real kubelet): preview, prepared, proven, drift, destroy", function () {
    this.timeout(2_400_000);
    const skip = labAvailable();
    let lab: TestLab | undefined;
    let stack: ProjectStack | undefined;
    let startBytes: Record<string, string | null> = {};
    let cgroupsBefore: string[] = [];
    let destroyed = false;
    const L = () => lab!;
    const S = () => stack!;
    const up = (...extra: string[]) => S().ok(["up", "--yes", "--skip-preview", ...extra]);
    const range = () => (S().outputs().allocation as Record<string, { start: number; count: number }>)["kubelet"]!;

    before(function () {
        if (skip) this.skip();
        // HH_K8S_TOOLCHAIN=skip (bootstrap's switch for the build) skips this test too.
        if (process.env.HH_K8S_TOOLCHAIN === "skip") this.skip();
        // The node image's binaries: cached by version; a cold build waits here (bootstrap
        // started it in the background).
        const t0 = Date.now();
        const tc = spawnSync("bash", [path.join(repoRoot, "scripts", "k8s-toolchain.sh")], { encoding: "utf8", timeout: 2_000_000 });
        if (tc.status !== 0) throw new Error(`k8s-toolchain.sh exited ${tc.status}: ${tc.stderr.slice(-2000)}`);
        const cache = tc.stdout.trim();
        console.log(`      (k8s toolchain ready in ${Math.round((Date.now() - t0) / 1000)} s)`);
        cgroupsBefore = kubepodsCgroups();
        lab = new TestLab({ ...LAB, hosts: 1, suite: "bookworm", profile: "fresh" });
        L().up();
        // Copied in through the host's root on this machine (its overlay), as an image has them.
        const root = path.join(L().dir, "state", "hosts", H, "merged");
        const put = (src: string, dir: string) => {
            fs.mkdirSync(path.join(root, dir), { recursive: true });
            fs.copyFileSync(path.join(cache, src), path.join(root, dir, path.basename(src)));
            fs.chmodSync(path.join(root, dir, path.basename(src)), 0o755);
        };
        put("kubelet-v1.36.3/kubelet", "usr/local/bin");
        for (const b of ["containerd", "ctr", "containerd-shim-runc-v2"]) put(`containerd-v2.2.10/${b}`, "usr/local/bin");
        put("runc-v1.4.4/runc", "usr/local/sbin");
        for (const b of ["bridge", "host-local", "loopback"]) put(`cni-plugins-v1.9.1/${b}`, "opt/cni/bin");
        for (const t of ["localbb.oci.tar", "pause.oci.tar"]) put(`images-3.10.1/${t}`, "root");
        L().run(H, fs.readFileSync(path.join(repoRoot, "test", "fixtures", "kubelet-node", "setup.sh"), "utf8"));
        startBytes = L().snapshot(H, FILES);
        stack = new ProjectStack();
        S().setConfig([
            "config:",
            "  hardened-hosts:machines: lab",
            `  hardened-hosts:labInventory: ${L().inventoryFile}`,
            "  hardened-hosts:tenants: { alpha: {} }",
            "  hardened-hosts:hosts:",
            `    - { name: ${H}, runtime: { mode: kubelet-userns, idsPerPod: ${IDS}, maxPods: ${PODS} }, tenants: [alpha] }`,
            "",
        ].join("\n"));
    });

    after(function () {
        try {
            if (stack && !destroyed) stack.pulumi(["destroy", "--yes", "--skip-preview"]);
        } finally {
            try { stack?.dispose(); } finally {
                try { lab?.down(); } finally {
                    // kubelet's cgroupfs driver made kubepods hierarchies at the machine's cgroup v1
                    // roots: the empty ones this test's host made go (depth first; rmdir refuses the rest).
                    for (const c of kubepodsCgroups().filter((x) => !cgroupsBefore.includes(x))) {
                        spawnSync("bash", ["-c", 'find "$1" -depth -type d -exec rmdir {} + 2>/dev/null || true', "_", c]);
                    }
                }
            }
        }
    });

    it("preview shows the kubelet range, aligned to idsPerPod and sized idsPerPod x maxPods", function () {
        const r = S().ok(["preview", "--diff"]);
        const m = new RegExp(`apply --range (\\d+):${IDS * PODS} --ids-per-pod ${IDS} --max-pods ${PODS}`).exec(r.out);
        assert.ok(m, r.out);
        assert.equal(Number(m![1]) % IDS, 0, `start ${m![1]} is a multiple of ${IDS}`);
        assert.match(r.out, new RegExp(`kubelet:${m![1]}:${IDS * PODS}`));
    });

    it("up with no kubelet running: the range, the account, the drop-in; prepared, not proven", function () {
        up();
        const k = range();
        const alpha = (S().outputs().allocation as Record<string, { start: number; count: number }>)["alpha"]!;
        assert.equal(k.count, IDS * PODS);
        assert.equal(k.start % IDS, 0);
        assert.ok(alpha.start + alpha.count <= k.start || k.start + k.count <= alpha.start, "disjoint from the tenant");
        const h = S().outputs().hosts[H];
        assert.equal(h.status, "prepared, not proven", JSON.stringify(h, null, 2));
        assert.equal(h.passed, false);
        assert.equal(h.mode, "no-kubelet");
        assert.match(h.checks["getsubids"], /^pass: /);
        assert.match(h.checks["subuid-range"], /^pass: /);
        assert.match(h.checks["userns-proven"], /^warn: observed prepared, not proven: no kubelet runs/);
        // On the host: what kubelet will read.
        assert.equal(L().run(H, "getsubids kubelet; getsubids -g kubelet").trim(), `0: kubelet ${k.start} ${k.count}\n0: kubelet ${k.start} ${k.count}`);
        const dropin = L().run(H, `cat ${DROPIN}`);
        assert.match(dropin, new RegExp(`^maxPods: ${PODS}$`, "m"));
        assert.match(dropin, new RegExp(`^userNamespaces:\\n  idsPerPod: ${IDS}$`, "m"));
        assert.match(L().run(H, "getent passwd kubelet"), /^kubelet:x:\d+:\d+::\/nonexistent:\/usr\/sbin\/nologin$/m);
        S().ok(["preview", "--expect-no-changes"]);
    });

    it("kubelet started with two hostUsers:false static pods and a host-network one: refresh proves the property", function () {
        L().run(H, [
            ...["userns-a", "userns-b"].map((n) => `cat > /etc/kubernetes/manifests/${n}.yaml <<'EOM'\n${manifest(n, false)}EOM`),
            `cat > /etc/kubernetes/manifests/hostusers-c.yaml <<'EOM'\n${manifest("hostusers-c", true)}EOM`,
            "systemctl start kubelet.service",
            // Three pods' sleep processes (their containers), up to 3 minutes.
            "for i in $(seq 180); do [ \"$(ps -eo comm= | grep -cx sleep)\" -ge 3 ] && exit 0; sleep 1; done",
            "journalctl -u kubelet --no-pager | tail -n 30 >&2; exit 1",
        ].join("\n"));
        S().ok(["refresh", "--yes", "--skip-preview"]);
        const h = S().outputs().hosts[H];
        const k = range();
        assert.equal(h.status, "passed", JSON.stringify(h, null, 2));
        assert.equal(h.passed, true);
        assert.equal(h.mode, "kubelet-userns");
        for (const c of ["pod-uid-maps", "pod-gid-maps", "pod-maps-disjoint", "pod-no-host-root", "getsubids", "userns-proven"]) {
            assert.match(h.checks[c], /^pass: /, `${c}: ${h.checks[c]}`);
        }
        assert.match(h.checks["host-users-pods"], /^warn: observed pod [0-9a-f]{8} \(/);
        // Each pod's map, as observed, cross-checked on the host: one slot of IDS IDs of the range.
        const pods: string[] = h.pods;
        const slot = (name: string) => {
            // A static pod's name (its hostname) carries the node's: userns-a-k8s-1.
            const p = pods.find((x) => x.startsWith(`${name}-${H}: uid 0 `));
            assert.ok(p, `${name} in ${JSON.stringify(pods)}`);
            const start = Number(/^\S+: uid 0 (\d+) (\d+),/.exec(p!)![1]);
            assert.match(p!, new RegExp(`^${name}-${H}: uid 0 ${start} ${IDS}, gid 0 ${start} ${IDS}, root uid ${start}$`));
            assert.ok(start >= k.start && start + IDS <= k.start + k.count && start % IDS === 0, `${name} at ${start}`);
            return start;
        };
        assert.notEqual(slot("userns-a"), slot("userns-b"));
        assert.ok(pods.some((p) => /host user namespace \(hostUsers: true\), uid 0 0 4294967295/.test(p)), JSON.stringify(pods));
        // kubelet's own record of each pod's mapping (no trailing newline in the files).
        const recorded = L().run(H, "for f in /var/lib/kubelet/pods/*/userns; do cat \"$f\"; echo; done").trim().split("\n");
        assert.equal(recorded.length, 2, recorded.join("\n"));
        for (const r of recorded) assert.match(r, new RegExp(`"length":${IDS}`));
    });

    it("drift: the kubelet line changed by hand is seen by refresh and repaired by up", function () {
        const k = range();
        L().run(H, `sed -i 's/^kubelet:${k.start}:${k.count}$/kubelet:${k.start}:${k.count - IDS}/' /etc/subuid`);
        const preview = S().pulumi(["preview", "--refresh", "--diff", "--expect-no-changes"]);
        assert.notEqual(preview.status, 0, "--expect-no-changes must fail on drift");
        assert.match(preview.out, /getsubids: observed /);
        S().ok(["refresh", "--yes", "--skip-preview"]);
        let h = S().outputs().hosts[H];
        assert.equal(h.status, "failed");
        for (const c of ["subuid-managed-lines", "subuid-range", "getsubids"]) assert.match(h.checks[c], /^FAIL: /, c);
        up();
        h = S().outputs().hosts[H];
        assert.equal(h.status, "passed", JSON.stringify(h.checks, null, 2));
        assert.equal(L().run(H, "getsubids kubelet").trim(), `0: kubelet ${k.start} ${k.count}`);
        S().ok(["preview", "--refresh", "--expect-no-changes"]);
    });

    it("destroy gives the account files, /etc/subuid and /etc/subgid their starting bytes and removes the drop-in", function () {
        S().ok(["destroy", "--yes", "--skip-preview"]);
        destroyed = true;
        // kubelet still runs (it keeps the range it read until it restarts): the remove notes it on
        // its stderr, which host work (a dynamic resource, #29) cannot show in the run's output.
        assert.deepEqual(L().snapshot(H, FILES), startBytes);
        assert.equal(L().run(H, `[ -e ${DROPIN} ] && echo present || echo absent`).trim(), "absent");
        assert.equal(L().run(H, "ls -A /etc/kubernetes/kubelet.conf.d /etc | grep -c hardened-hosts || true").trim(), "0");
    });
});
