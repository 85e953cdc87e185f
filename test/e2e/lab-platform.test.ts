import * as assert from "node:assert/strict";
import { TestLab, labAvailable } from "../support/lab";
import { ProjectStack } from "../support/project-stack";

// Issue #30 end to end through the real engine, on two lab hosts presenting what the lab can
// present of other distributions (the kernel here has no AppArmor, and its user namespaces are
// this machine's: the values are presented inside each host's own mount namespace, on tmpfs over
// /proc/sys/kernel and /proc/sys/user, every other entry a link to a read-only proc; nothing of
// this machine's kernel settings is written):
//
// - plat-1 (busy: Docker running; userns-remap): user.max_user_namespaces reads 0. First with a
//   policy file /etc/sysctl.d/99-stig.conf setting it: refused naming the file, left byte for
//   byte. Then without it: raised in our own sysctl.d file, verified, taken back on destroy.
// - plat-2 (fresh; rootless Docker): /etc/os-release says Ubuntu 24.04 and
//   kernel.apparmor_restrict_unprivileged_userns reads 1. First with no profile covering
//   /usr/bin/rootlesskit and no AppArmor to load one: refused, left byte for byte. Then with
//   Ubuntu's own rootlesskit profile in /etc/apparmor.d: supported with no fix, and verification
//   (not the decision) says passed. Last, without Ubuntu's profile but with stand-ins for
//   AppArmor's tools (aa-enabled says yes, apparmor_parser records its calls: nothing is loaded
//   into a kernel): a profile of ours for /usr/bin/rootlesskit, taken back on destroy.
const H1 = "plat-1";
const H2 = "plat-2";
const UBUNTU_OS_RELEASE = 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nVERSION="24.04.1 LTS (Noble Numbat)"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n';
// As Ubuntu 24.04's apparmor package ships it (recorded.ts cites the source).
const UBUNTU_ROOTLESSKIT_PROFILE = "abi <abi/4.0>,\ninclude <tunables/global>\n\nprofile rootlesskit /usr/bin/rootlesskit flags=(unconfined) {\n  userns,\n\n  # Site-specific additions and overrides. See local/README for details.\n  include if exists <local/rootlesskit>\n}\n";
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** Shell: presents sysctl values in this host only (see the head of this file). */
function presentSysctls(values: Record<string, string>): string {
    const dirs = [...new Set(Object.keys(values).map((k) => k.split("/")[0]!))];
    return [
        "mkdir -p /run/hh-proc",
        "mountpoint -q /run/hh-proc || mount -t proc -o ro,nosuid,nodev,noexec hh-proc /run/hh-proc",
        // Private: nothing mounted below propagates anywhere.
        "mount --make-rprivate /proc/sys",
        ...dirs.map((d) => `mountpoint -q /proc/sys/${d} && [ -L /proc/sys/${d}/$(ls /run/hh-proc/sys/${d} | head -n 1) ] || { mount -t tmpfs -o mode=0755 hh-sysctl-${d} /proc/sys/${d}; for f in /run/hh-proc/sys/${d}/*; do ln -s "$f" "/proc/sys/${d}/\${f##*/}"; done; }`),
        ...Object.entries(values).map(([k, v]) => `rm -f /proc/sys/${k}; echo ${v} > /proc/sys/${k}`),
    ].join("\n");
}

// The lab's kernel has no AppArmor (and a container's /sys shows no module parameters): stand-ins
// for AppArmor's own tools, aa-enabled saying yes and an apparmor_parser recording its calls.
const STUB_PARSER = "#!/bin/sh\necho \"$*\" >> /var/log/hh-apparmor-parser.log\n";
const STUB_AA_ENABLED = "#!/bin/sh\n[ \"$1\" = --quiet ] || echo Yes\n";

/** Shell: every file, link and folder under the paths that matter, with mode, owner and content digest. */
const TREE = "{ find /etc /home /root /var/lib/hardened-hosts /usr/local -xdev -printf '%y %p %m %U:%G %l\\n' 2>/dev/null || true; } | LC_ALL=C sort; " +
    "{ find /etc /home /usr/local -xdev -type f -print0 2>/dev/null || true; } | LC_ALL=C sort -z | xargs -0 sha256sum; " +
    "cat /proc/sys/user/max_user_namespaces /proc/sys/kernel/apparmor_restrict_unprivileged_userns 2>/dev/null || true";

describe("platform support on lab hosts presenting Ubuntu 24.04's AppArmor restriction and a zero user-namespace limit (real engine)", function () {
    this.timeout(1_800_000);
    const skip = labAvailable();
    let lab: TestLab | undefined;
    let stack: ProjectStack | undefined;
    let destroyed = false;
    const L = () => lab!;
    const S = () => stack!;
    /** Resources in the stack's state, by name: their outputs. */
    const state = (): Map<string, { type: string; outputs: Record<string, any> }> => {
        const doc = JSON.parse(S().ok(["stack", "export", "--show-secrets"]).stdout);
        return new Map((doc.deployment.resources ?? []).map((r: { urn: string; type: string; outputs?: Record<string, any> }) =>
            [r.urn.split("::").pop()!, { type: r.type, outputs: r.outputs ?? {} }]));
    };

    before(function () {
        if (skip) this.skip();
        lab = new TestLab({ name: "plat", portBase: 22940, net: 150, hosts: 2 });
        L().up();
        // plat-1: the limit reads 0, set by a policy file of the host's.
        L().run(H1, presentSysctls({ "user/max_user_namespaces": "0" }));
        L().run(H1, "printf '# STIG: no user namespaces\\nuser.max_user_namespaces = 0\\n' > /etc/sysctl.d/99-stig.conf");
        // plat-2: Ubuntu 24.04 with the restriction on, and no profile in /etc/apparmor.d.
        L().run(H2, `rm -f /etc/os-release && echo ${b64(UBUNTU_OS_RELEASE)} | base64 -d > /etc/os-release`);
        L().run(H2, presentSysctls({ "kernel/apparmor_restrict_unprivileged_userns": "1" }));
        stack = new ProjectStack();
        S().setConfig([
            "config:",
            "  hardened-hosts:machines: lab",
            `  hardened-hosts:labInventory: ${L().inventoryFile}`,
            "  hardened-hosts:tenants: { tenant-a: {} }",
            "  hardened-hosts:hosts:",
            `    - { name: ${H1}, runtime: { mode: userns-remap, existingContainers: stop }, tenants: [tenant-a] }`,
            `    - { name: ${H2}, runtime: { mode: docker-rootless, user: builder } }`,
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

    it("observes the presented facts as a host script reads them", function () {
        assert.equal(L().run(H1, "cat /proc/sys/user/max_user_namespaces").trim(), "0");
        assert.equal(L().run(H2, "cat /proc/sys/kernel/apparmor_restrict_unprivileged_userns; . /etc/os-release; echo $ID $VERSION_ID").trim(), "1\nubuntu 24.04");
        // Other entries still read through (and nothing of this machine's changed).
        assert.match(L().run(H2, "cat /proc/sys/kernel/osrelease"), /^\d+\.\d+/);
    });

    it("refuses both at the first step, naming the reason and what to do, and leaves each host byte for byte as found", function () {
        const before: Record<string, string> = { [H1]: L().run(H1, TREE), [H2]: L().run(H2, TREE) };
        const r = S().pulumi(["up", "--yes", "--skip-preview", "--continue-on-error"]);
        assert.notEqual(r.status, 0, r.out);
        assert.match(r.out, /plat-1: userns-remap on debian 12: refused: user\.max_user_namespaces is set to 0 by \/etc\/sysctl\.d\/99-stig\.conf .*What you can do: change it in \/etc\/sysctl\.d\/99-stig\.conf/);
        assert.match(r.out, /plat-2: docker-rootless on ubuntu 24\.04: refused: kernel\.apparmor_restrict_unprivileged_userns is 1, no profile with userns covers \/usr\/bin\/rootlesskit, and AppArmor does not report itself enabled.*What you can do: install apparmor/);
        assert.match(r.out, /Nothing was written to the host/);
        for (const h of [H1, H2]) assert.equal(L().run(h, TREE), before[h], `${h} is byte for byte as found`);
        // The state records the refusals; no later step of either host exists, so nothing says passed.
        const s = state();
        assert.equal(s.get(`${H1}-support`)?.outputs.decision?.status, "refused");
        assert.equal(s.get(`${H2}-support`)?.outputs.decision?.status, "refused");
        for (const n of [`${H1}-subids-write`, `${H1}-docker-daemon`, `${H1}-verify-check`, `${H2}-subids-write`, `${H2}-docker-rootless-runtime`, `${H2}-verify-check`]) {
            assert.ok(!s.has(n), `${n} never ran`);
        }
    });

    it("the outputs say refused, with the reason, and no host passed (after a refresh records what the failed up left)", function () {
        S().ok(["refresh", "--yes", "--skip-preview"]);
        const out = S().outputs();
        assert.match(out.support?.[H1] ?? "", /^userns-remap on debian 12: refused: user\.max_user_namespaces is set to 0 by \/etc\/sysctl\.d\/99-stig\.conf/, JSON.stringify(out));
        assert.match(out.support?.[H2] ?? "", /^docker-rootless on ubuntu 24\.04: refused: kernel\.apparmor_restrict_unprivileged_userns is 1/);
        for (const h of [H1, H2]) assert.notEqual(out.hosts?.[h]?.passed, true, `${h} never says passed`);
        assert.notEqual(out.summary?.hostsPassed, 2);
    });

    it("decided again on the next up: the policy file gone, the limit is raised in our own file; Ubuntu's profile present, no fix; verification passes both", function () {
        L().run(H1, "rm /etc/sysctl.d/99-stig.conf");
        L().run(H2, `mkdir -p /etc/apparmor.d && echo ${b64(UBUNTU_ROOTLESSKIT_PROFILE)} | base64 -d > /etc/apparmor.d/rootlesskit`);
        S().ok(["up", "--yes", "--skip-preview"]);
        const out = S().outputs();
        assert.match(out.support[H1], /^userns-remap on debian 12: supported \(proven on real hosts here; .*fixes: user\.max_user_namespaces = 28633\)$/);
        assert.match(out.support[H2], /^docker-rootless on ubuntu 24\.04: supported \(decided from recorded facts; packages with apt: /);
        assert.doesNotMatch(out.support[H2], /fixes/);
        assert.equal(L().run(H1, "cat /proc/sys/user/max_user_namespaces").trim(), "28633");
        assert.match(L().run(H1, "cat /etc/sysctl.d/90-hardened-hosts-userns.conf"), /^user\.max_user_namespaces = 28633$/m);
        assert.deepEqual(state().get(`${H1}-support`)?.outputs.fixesApplied, ["max_user_namespaces 28633"]);
        // Verification decides passed, from what it observed on each host.
        assert.equal(out.summary.hostsPassed, 2, JSON.stringify(out.summary));
        assert.equal(L().run(H2, "ls /etc/apparmor.d").trim(), "rootlesskit", "no profile of ours where Ubuntu's covers the path");
    });

    it("a no-change preview changes nothing (the decision is stable)", function () {
        const changes = S().changes();
        assert.deepEqual(changes, []);
    });

    it("destroy takes the fix back: our sysctl file gone, the limit back to what it was", function () {
        S().ok(["destroy", "--yes", "--skip-preview"]);
        destroyed = true;
        assert.equal(L().run(H1, "cat /proc/sys/user/max_user_namespaces").trim(), "0");
        assert.equal(L().run(H1, "ls -d /etc/sysctl.d/90-hardened-hosts-userns.conf /var/lib/hardened-hosts/platform 2>/dev/null || true").trim(), "");
    });

    it("no profile covers the rootlesskit in use and one can be loaded: a profile of ours for that exact path, kept by a no-change preview, taken back on destroy", function () {
        L().run(H2, [
            "rm /etc/apparmor.d/rootlesskit",
            `echo ${b64(STUB_PARSER)} | base64 -d > /usr/sbin/apparmor_parser && chmod 755 /usr/sbin/apparmor_parser`,
            `echo ${b64(STUB_AA_ENABLED)} | base64 -d > /usr/sbin/aa-enabled && chmod 755 /usr/sbin/aa-enabled`,
        ].join("\n"));
        destroyed = false;
        S().ok(["up", "--yes", "--skip-preview"]);
        const out = S().outputs();
        assert.match(out.support[H2], /^docker-rootless on ubuntu 24\.04: supported \(.*; fixes: AppArmor userns profile for \/usr\/bin\/rootlesskit\)$/);
        const profile = L().run(H2, "cat /etc/apparmor.d/hardened-hosts.usr.bin.rootlesskit");
        assert.match(profile, /^profile hardened-hosts\.usr\.bin\.rootlesskit \/usr\/bin\/rootlesskit flags=\(unconfined\) \{\n {2}userns,$/m);
        assert.equal(L().run(H2, "ls /etc/apparmor.d").trim(), "hardened-hosts.usr.bin.rootlesskit", "one profile, for that path only");
        assert.equal(L().run(H2, "cat /var/log/hh-apparmor-parser.log").trim(), "-r -W /etc/apparmor.d/hardened-hosts.usr.bin.rootlesskit");
        assert.equal(out.summary.hostsPassed, 2, JSON.stringify(out.summary));
        assert.deepEqual(S().changes(), [], "the decision keeps our own profile: nothing to change");
        S().ok(["destroy", "--yes", "--skip-preview"]);
        destroyed = true;
        assert.equal(L().run(H2, "ls -A /etc/apparmor.d; ls -d /var/lib/hardened-hosts/platform 2>/dev/null || true").trim(), "");
        assert.equal(L().run(H2, "cat /var/log/hh-apparmor-parser.log").trim(),
            "-r -W /etc/apparmor.d/hardened-hosts.usr.bin.rootlesskit\n-R /etc/apparmor.d/hardened-hosts.usr.bin.rootlesskit");
    });
});
