import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseFacts } from "../../components/platform/facts";
import { decideSupport, fixArgs } from "../../components/platform/support";
import { repoRoot } from "../support/pulumi-cli";

// Issue #30: platform.sh on a stand-in root (HH_PLATFORM_ROOT): what observe reads, and fix /
// unfix leaving the tree byte for byte as found. On a real host the same paths are under /.
const SCRIPT = path.join(repoRoot, "components", "platform", "platform.sh");

function run(root: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync("bash", [SCRIPT, ...args], { env: { ...process.env, HH_PLATFORM_ROOT: root }, encoding: "utf8" });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file and folder under root with its mode and content digest. */
function snapshot(root: string): string[] {
    const out: string[] = [];
    const walk = (dir: string) => {
        for (const name of fs.readdirSync(dir).sort()) {
            const p = path.join(dir, name);
            const st = fs.lstatSync(p);
            const rel = path.relative(root, p);
            if (st.isDirectory()) { out.push(`${rel}/ ${st.mode.toString(8)}`); walk(p); }
            else out.push(`${rel} ${st.mode.toString(8)} ${createHash("sha256").update(fs.readFileSync(p)).digest("hex")}`);
        }
    };
    walk(root);
    return out;
}

function write(root: string, rel: string, text: string, mode = 0o644) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text, { mode });
}

describe("platform.sh (stand-in root)", function () {
    let root: string;
    beforeEach(function () {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "hh-platform-"));
        write(root, "etc/os-release", 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n');
        write(root, "usr/bin/apt-get", "#!/bin/sh\n", 0o755);
        write(root, "usr/bin/rootlesskit", "#!/bin/sh\n", 0o755);
        write(root, "usr/sbin/apparmor_parser", "#!/bin/sh\n", 0o755);
        write(root, "proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1\n");
        write(root, "proc/sys/user/max_user_namespaces", "0\n");
        write(root, "sys/module/apparmor/parameters/enabled", "Y\n");
        write(root, "etc/apparmor.d/rootlesskit", "abi <abi/4.0>,\ninclude <tunables/global>\n\nprofile rootlesskit /usr/bin/rootlesskit flags=(unconfined) {\n  userns,\n\n  include if exists <local/rootlesskit>\n}\n");
        write(root, "etc/apparmor.d/podman", "profile podman /usr/bin/podman flags=(unconfined) {\n  # no userns here\n  include if exists <local/podman>\n}\n");
        write(root, "etc/apparmor.d/unprivileged_userns", "profile unprivileged_userns {\n  userns,\n}\n");
        write(root, "etc/login.defs", "UID_MIN 1000\nUID_MAX 60000\nSUB_UID_MIN 524288\n#SUB_UID_MAX 1\nSUB_UID_MAX 600100000\n");
        write(root, "usr/lib/sysctl.d/50-default.conf", "kernel.sysrq = 16\n");
        fs.mkdirSync(path.join(root, "var/lib"), { recursive: true }); // on every host
    });
    afterEach(function () {
        fs.rmSync(root, { recursive: true, force: true });
    });

    it("observe: os-release, apt, the restriction, which profiles cover which path, login.defs, sysctl setters", function () {
        write(root, "etc/sysctl.d/10-userns.conf", "# policy\nuser.max_user_namespaces = 0\n");
        // A podman in use elsewhere, its profile granting userns in the site-local include.
        write(root, "usr/local/bin/podman", "#!/bin/sh\n", 0o755);
        write(root, "etc/apparmor.d/usr.local.bin.podman", "abi <abi/4.0>,\nprofile podman-local /usr/local/bin/podman flags=(unconfined) {\n  #include <local/usr.local.bin.podman>\n}\n");
        write(root, "etc/apparmor.d/local/usr.local.bin.podman", "# site additions\n  userns,\n");
        const r = run(root, "observe");
        assert.equal(r.code, 0, r.stderr);
        const f = parseFacts(r.stdout);
        assert.deepEqual(f.osRelease, { id: "ubuntu", idLike: "debian", versionId: "24.04", prettyName: "Ubuntu 24.04.1 LTS" });
        assert.equal(f.packageManager, "apt");
        assert.equal(f.apparmor.enabled, true);
        assert.equal(f.apparmor.restrictUnprivilegedUserns, 1);
        assert.equal(f.apparmor.unprivilegedUsernsProfile, true);
        assert.deepEqual(f.apparmor.profiles["/usr/bin/rootlesskit"], [{ file: "/etc/apparmor.d/rootlesskit", attachment: "/usr/bin/rootlesskit", userns: true, ours: false }]);
        assert.deepEqual(f.apparmor.profiles["/usr/bin/podman"], [{ file: "/etc/apparmor.d/podman", attachment: "/usr/bin/podman", userns: false, ours: false }]);
        assert.deepEqual(f.apparmor.profiles["/usr/local/bin/podman"], [{ file: "/etc/apparmor.d/usr.local.bin.podman", attachment: "/usr/local/bin/podman", userns: true, ours: false }]);
        assert.equal(f.userns.maxUserNamespaces, 0);
        assert.deepEqual(f.userns.setBy, [{ file: "/etc/sysctl.d/10-userns.conf", value: "0", ours: false }]);
        assert.equal(f.loginDefs.SUB_UID_MIN, 524288);
        assert.equal(f.loginDefs.SUB_UID_MAX, 600100000);
        assert.equal(f.loginDefs.UID_MIN, 1000);
        assert.equal(f.binaries.rootlesskit?.path, "/usr/bin/rootlesskit");
        // The decision over what was observed: the policy file is named.
        const d = decideSupport(f, "docker-rootless");
        assert.equal(d.status, "refused");
        assert.match(d.reason!, /\/etc\/sysctl\.d\/10-userns\.conf/);
    });

    it("sysctl files in systemd-sysctl's order: a name in /etc hides the same name in /usr/lib; /etc/sysctl.conf last", function () {
        write(root, "usr/lib/sysctl.d/20-a.conf", "user.max_user_namespaces=0\n");
        write(root, "etc/sysctl.d/20-a.conf", "user/max_user_namespaces = 100\n");
        write(root, "usr/lib/sysctl.d/30-b.conf", "-user.max_user_namespaces = 7 # comment\n");
        write(root, "etc/sysctl.conf", "user.max_user_namespaces=5\n");
        const f = parseFacts(run(root, "observe").stdout);
        assert.deepEqual(f.userns.setBy.map((s) => `${s.file}=${s.value}`), ["/etc/sysctl.d/20-a.conf=100", "/usr/lib/sysctl.d/30-b.conf=7", "/etc/sysctl.conf=5"]);
    });

    it("fix applies the decided fixes in files of its own, fix again changes nothing, unfix leaves the tree byte for byte as found", function () {
        // No profile attaches to /usr/bin/podman: the decision asks for ours, and for the sysctl.
        fs.rmSync(path.join(root, "etc/apparmor.d/podman"));
        const before = snapshot(root);
        const f = parseFacts(run(root, "observe").stdout);
        const d = decideSupport(f, "podman");
        assert.equal(d.status, "supported");
        const args = fixArgs(d.fixes);
        assert.deepEqual(args, ["fix", "--max-user-namespaces", "28633", "--apparmor-userns", "/usr/bin/podman"]);
        const r1 = run(root, ...args);
        assert.equal(r1.code, 0, r1.stderr);
        assert.equal(JSON.parse(r1.stdout).changed, true);
        const profile = fs.readFileSync(path.join(root, "etc/apparmor.d/hardened-hosts.usr.bin.podman"), "utf8");
        assert.match(profile, /^profile hardened-hosts\.usr\.bin\.podman \/usr\/bin\/podman flags=\(unconfined\) \{\n {2}userns,$/m);
        assert.equal(fs.readFileSync(path.join(root, "etc/apparmor.d/unprivileged_userns"), "utf8"), "profile unprivileged_userns {\n  userns,\n}\n", "the host-wide profile is not touched");
        assert.match(fs.readFileSync(path.join(root, "etc/sysctl.d/90-hardened-hosts-userns.conf"), "utf8"), /^user\.max_user_namespaces = 28633$/m);
        assert.equal(fs.readFileSync(path.join(root, "proc/sys/user/max_user_namespaces"), "utf8").trim(), "28633");

        // Observed again: our profile and file are ours, and the decision is the same command line.
        const f2 = parseFacts(run(root, "observe").stdout);
        assert.deepEqual(f2.fixes, { apparmorProfiles: ["/usr/bin/podman"], maxUserNamespaces: 28633 });
        assert.ok(f2.apparmor.profiles["/usr/bin/podman"]!.some((p) => p.ours && p.userns));
        assert.deepEqual(fixArgs(decideSupport(f2, "podman").fixes), args);
        const r2 = run(root, ...args);
        assert.equal(JSON.parse(r2.stdout).changed, false, r2.stderr);

        // Fewer fixes: the profile no longer asked for goes.
        const r3 = run(root, "fix", "--max-user-namespaces", "28633");
        assert.deepEqual(JSON.parse(r3.stdout).changes, ["apparmor -/usr/bin/podman"]);
        assert.equal(fs.existsSync(path.join(root, "etc/apparmor.d/hardened-hosts.usr.bin.podman")), false);

        const r4 = run(root, "unfix");
        assert.equal(r4.code, 0, r4.stderr);
        assert.deepEqual(snapshot(root), before, "the tree is as found (the value back to 0, our files and state gone)");
        assert.equal(JSON.parse(run(root, "unfix").stdout).changed, false);
    });

    it("fix with nothing to fix writes nothing; a profile file that is not ours is never overwritten", function () {
        const before = snapshot(root);
        const r = run(root, "fix");
        assert.equal(r.code, 0, r.stderr);
        assert.equal(JSON.parse(r.stdout).changed, false);
        assert.deepEqual(snapshot(root), before);
        write(root, "etc/apparmor.d/hardened-hosts.usr.bin.podman", "# someone's\n");
        const r2 = run(root, "fix", "--apparmor-userns", "/usr/bin/podman");
        assert.equal(r2.code, 3, r2.stdout);
        assert.match(JSON.parse(r2.stdout).error, /exists and is not ours/);
        assert.equal(fs.readFileSync(path.join(root, "etc/apparmor.d/hardened-hosts.usr.bin.podman"), "utf8"), "# someone's\n");
    });

    it("a profile the parser refuses is removed again, and the host keeps nothing of ours", function () {
        const before = snapshot(root);
        write(root, "usr/sbin/apparmor_parser", "#!/bin/sh\necho 'AppArmor parser error' >&2\nexit 1\n", 0o755);
        const beforeParser = snapshot(root);
        const r = run(root, "fix", "--apparmor-userns", "/opt/rk/rootlesskit");
        assert.equal(r.code, 10, r.stdout);
        assert.match(JSON.parse(r.stdout).error, /could not load the profile for \/opt\/rk\/rootlesskit \(removed again\)/);
        assert.deepEqual(snapshot(root), beforeParser);
        assert.notDeepEqual(before, beforeParser);
    });

    it("bad arguments are refused before anything is read", function () {
        for (const args of [[], ["bogus"], ["observe", "--x", "1"], ["fix", "--apparmor-userns", "relative/path"], ["fix", "--apparmor-userns", "/a/../b"], ["fix", "--max-user-namespaces", "0"]]) {
            const r = run(root, ...args);
            assert.equal(r.code, 2, `${args.join(" ")}: ${r.stdout}`);
        }
    });
});
