import * as assert from "node:assert/strict";
import type { HostFacts } from "../../components/platform/facts";
import { parseFacts } from "../../components/platform/facts";
import { IMAGE_FACTS, RECORDED } from "../../components/platform/recorded";
import {
    MAX_USER_NAMESPACES, SUPPORT_MODES, SupportDecision, SupportMode, decideSupport, describeDecision, familyOf, fixArgs, packagePlan,
} from "../../components/platform/support";
import { DISTRO_IMAGES } from "../../components/machines/distros";

// Issue #30: the support decision over recorded fact sets (components/platform/recorded.ts), and
// over variations of them for each trap the issue names.
const clone = (f: HostFacts): HostFacts => JSON.parse(JSON.stringify(f));
const decide = (key: string, mode: SupportMode, edit?: (f: HostFacts) => void): SupportDecision => {
    const f = clone(RECORDED[key]!.facts);
    edit?.(f);
    return decideSupport(f, mode);
};

/** The matrix as decided: S supported, R refused (rows: fixture, columns: SUPPORT_MODES). */
const EXPECTED: Record<string, string> = {
    "debian-12": "SSSSS",
    "debian-13": "SSSSS",
    "ubuntu-22.04": "SSSSR",
    "ubuntu-24.04": "SSSSS",
    "rhel-9": "RRRSS",
    "rocky-9": "RRRSS",
    "fedora-41": "SRRSS",
    "amazon-linux-2023": "SRRRS",
};

describe("platform support decision (pure)", function () {
    it("every recorded fact set cites its sources and says what is unconfirmed", function () {
        assert.deepEqual(Object.keys(RECORDED).sort(), Object.keys(EXPECTED).sort());
        for (const [key, r] of Object.entries(RECORDED)) {
            assert.ok(r.sources.length > 0 && r.sources.every((s) => s.length > 20), `${key}: sources`);
            assert.ok(Array.isArray(r.unconfirmed), `${key}: unconfirmed`);
            assert.equal(r.facts.format, 1);
        }
    });

    it("every distro x mode is supported (with packages) or refused with a reason and a remedy", function () {
        for (const [key, row] of Object.entries(EXPECTED)) {
            SUPPORT_MODES.forEach((mode, i) => {
                const d = decide(key, mode);
                const want = row[i] === "S" ? "supported" : "refused";
                assert.equal(d.status, want, `${key} x ${mode}: ${describeDecision(d)}`);
                if (d.status === "refused") {
                    assert.ok(d.reason && d.reason.length > 20, `${key} x ${mode}: a reason`);
                    assert.ok(d.remedy && d.remedy.length > 10, `${key} x ${mode}: what to do`);
                    assert.deepEqual(d.fixes, [], "a refused host gets no fix");
                } else {
                    assert.ok(d.packages.length > 0, `${key} x ${mode}: packages`);
                    assert.ok(d.packageManager === "apt" || d.packageManager === "dnf");
                }
                // kubelet-userns ran on bookworm lab hosts only (test/e2e/lab-kubelet.test.ts).
                const proven = mode === "kubelet-userns" ? key === "debian-12" : key.startsWith("debian-");
                assert.equal(d.evidence, proven ? "proven" : "recorded-facts", `${key} x ${mode}: evidence`);
            });
        }
    });

    it("families from os-release: ID first, then ID_LIKE (rebuilds of RHEL are rhel)", function () {
        const os = (id: string, idLike = "") => ({ id, idLike, versionId: "1" });
        assert.equal(familyOf(os("rocky", "rhel centos fedora")), "rhel");
        assert.equal(familyOf(os("almalinux", "rhel centos fedora")), "rhel");
        assert.equal(familyOf(os("centos", "rhel fedora")), "rhel");
        assert.equal(familyOf(os("rhel", "fedora")), "rhel");
        assert.equal(familyOf(os("amzn", "fedora")), "amzn");
        assert.equal(familyOf(os("linuxmint", "ubuntu debian")), "ubuntu");
        assert.equal(familyOf(os("arch")), null);
    });

    it("unknown distributions, releases older than the facts, and a missing package manager are refused", function () {
        const arch = decide("debian-12", "podman", (f) => { f.osRelease = { id: "arch", idLike: "", versionId: "", prettyName: "Arch Linux" }; });
        assert.equal(arch.status, "refused");
        assert.match(arch.reason!, /Arch Linux .* not a distribution this library knows/);
        const old = decide("debian-12", "userns-remap", (f) => { f.osRelease.versionId = "11"; });
        assert.equal(old.status, "refused");
        assert.match(old.reason!, /debian from 12 on, not 11/);
        const noApt = decide("ubuntu-22.04", "podman", (f) => { f.packageManager = null; });
        assert.equal(noApt.status, "refused");
        assert.match(noApt.reason!, /no known package manager, not apt/);
    });

    describe("Ubuntu 24.04: kernel.apparmor_restrict_unprivileged_userns = 1", function () {
        it("the package paths are covered by Ubuntu's own profiles: no fix, the note names the profile", function () {
            for (const mode of ["docker-rootless", "podman"] as const) {
                const d = decide("ubuntu-24.04", mode);
                assert.equal(d.status, "supported");
                assert.deepEqual(d.fixes, []);
                assert.ok(d.notes.some((n) => n.includes(mode === "podman" ? "/etc/apparmor.d/podman lets /usr/bin/podman" : "/etc/apparmor.d/rootlesskit lets /usr/bin/rootlesskit")), d.notes.join("\n"));
            }
        });
        it("a rootlesskit elsewhere (resolved path) gets a profile for that exact path, never the host-wide one", function () {
            const d = decide("ubuntu-24.04", "docker-rootless", (f) => {
                f.binaries.rootlesskit = { path: "/usr/local/bin/rootlesskit", realPath: "/opt/docker/bin/rootlesskit", version: "2.3.1" };
            });
            assert.equal(d.status, "supported");
            assert.deepEqual(d.fixes.map((x) => x.kind === "apparmor-userns" && x.path), ["/opt/docker/bin/rootlesskit"]);
            assert.deepEqual(fixArgs(d.fixes), ["fix", "--apparmor-userns", "/opt/docker/bin/rootlesskit"]);
        });
        it("our own profile does not count as covering: the fix stays decided (destroy takes it back)", function () {
            const d = decide("ubuntu-24.04", "podman", (f) => {
                f.apparmor.profiles["/usr/bin/podman"] = [{ file: "/etc/apparmor.d/hardened-hosts.usr.bin.podman", attachment: "/usr/bin/podman", userns: true, ours: true }];
            });
            assert.deepEqual(fixArgs(d.fixes), ["fix", "--apparmor-userns", "/usr/bin/podman"]);
        });
        it("no profile and no parser to load ours: refused, naming what to do", function () {
            const d = decide("ubuntu-24.04", "podman", (f) => {
                f.apparmor.profiles["/usr/bin/podman"] = [];
                f.apparmor.parser = null;
            });
            assert.equal(d.status, "refused");
            assert.match(d.reason!, /apparmor_restrict_unprivileged_userns is 1, no profile with userns covers \/usr\/bin\/podman, and apparmor_parser is missing/);
            assert.match(d.remedy!, /install apparmor/);
        });
        it("a host profile on the same path without userns: refused (a second profile would conflict), pointing at its local include", function () {
            const d = decide("ubuntu-24.04", "podman", (f) => {
                f.apparmor.profiles["/usr/bin/podman"] = [{ file: "/etc/apparmor.d/podman", attachment: "/usr/bin/podman", userns: false, ours: false }];
            });
            assert.equal(d.status, "refused");
            assert.match(d.reason!, /\/etc\/apparmor\.d\/podman attaches to \/usr\/bin\/podman without allowing userns/);
            assert.match(d.remedy!, /add "userns," to \/etc\/apparmor\.d\/local\/podman/);
        });
        it("the rootful modes are not restricted (a note says so); the failed probe is expected there and refuses nothing", function () {
            for (const mode of ["userns-remap", "podman-auto"] as const) {
                const d = decide("ubuntu-24.04", mode);
                assert.equal(d.status, "supported");
                assert.deepEqual(d.fixes, []);
                assert.ok(d.notes.some((n) => n.includes("restricts unprivileged processes only")));
            }
        });
    });

    describe("user.max_user_namespaces", function () {
        it("0 set by a policy file of the host (RHEL 9 STIG): every mode refused, naming the file", function () {
            for (const mode of SUPPORT_MODES) {
                const d = decide("rocky-9", mode, (f) => {
                    f.binaries.podman = { path: "/usr/bin/podman", realPath: "/usr/bin/podman", version: "5.2.2" };
                    f.binaries.slirp4netns = { path: "/usr/bin/slirp4netns", realPath: "/usr/bin/slirp4netns", version: "1.3.1" };
                    f.binaries.dockerd = { path: "/usr/bin/dockerd", realPath: "/usr/bin/dockerd", version: "27.3.1" };
                    f.binaries.rootlesskit = { path: "/usr/bin/rootlesskit", realPath: "/usr/bin/rootlesskit", version: "2.3.1" };
                    f.binaries["dockerd-rootless.sh"] = { path: "/usr/bin/dockerd-rootless.sh", realPath: "/usr/bin/dockerd-rootless.sh", version: null };
                    f.userns.maxUserNamespaces = 0;
                    f.userns.setBy = [{ file: "/etc/sysctl.d/99-stig.conf", value: "0", ours: false }];
                });
                assert.equal(d.status, "refused", mode);
                assert.match(d.reason!, /set to 0 by \/etc\/sysctl\.d\/99-stig\.conf/);
                assert.match(d.remedy!, /does not override a policy file/);
            }
        });
        it("0 with no file setting it: raised in our own sysctl.d file, for every mode (root's namespaces too)", function () {
            for (const mode of SUPPORT_MODES) {
                const d = decide("debian-12", mode, (f) => { f.userns.maxUserNamespaces = 0; f.userns.probe = { ran: true, works: false, error: "exit 1: unshare: No space left on device" }; });
                assert.equal(d.status, "supported", mode);
                assert.deepEqual(fixArgs(d.fixes), ["fix", "--max-user-namespaces", String(MAX_USER_NAMESPACES)]);
            }
        });
        it("once our file raised it, the fix stays decided (same command line: no change on the next run)", function () {
            const d = decide("debian-12", "podman", (f) => {
                f.userns.maxUserNamespaces = MAX_USER_NAMESPACES;
                f.userns.setBy = [{ file: "/etc/sysctl.d/90-hardened-hosts-userns.conf", value: String(MAX_USER_NAMESPACES), ours: true }];
                f.fixes = { apparmorProfiles: [], maxUserNamespaces: MAX_USER_NAMESPACES };
            });
            assert.deepEqual(fixArgs(d.fixes), ["fix", "--max-user-namespaces", String(MAX_USER_NAMESPACES)]);
        });
        it("a file setting a non-zero value is no policy against us", function () {
            const d = decide("debian-13", "podman", (f) => { f.userns.setBy = [{ file: "/usr/lib/sysctl.d/50-default.conf", value: "15000", ours: false }]; });
            assert.deepEqual(d.fixes, []);
        });
    });

    it("a failed uid_map probe with nothing to explain it refuses the rootless modes only", function () {
        const edit = (f: HostFacts) => { f.userns.probe = { ran: true, works: false, error: "exit 1: unshare: unshare failed: Operation not permitted" }; };
        for (const mode of SUPPORT_MODES) {
            const d = decide("debian-12", mode, edit);
            const rootless = mode === "docker-rootless" || mode === "podman";
            assert.equal(d.status, rootless ? "refused" : "supported", mode);
            if (rootless) assert.match(d.reason!, /cannot create a user namespace and write its uid_map here: exit 1/);
        }
        const clone0 = decide("debian-12", "docker-rootless", (f) => { f.userns.unprivilegedUsernsClone = 0; });
        assert.match(clone0.reason!, /unprivileged_userns_clone is 0/);
    });

    it("dnf families: rootless modes need their packages by hand (rootless.sh installs with apt only); present, they are supported", function () {
        const d = decide("fedora-41", "podman", (f) => {
            f.binaries.podman = { path: "/usr/bin/podman", realPath: "/usr/bin/podman", version: "5.3.1" };
            f.binaries.slirp4netns = { path: "/usr/bin/slirp4netns", realPath: "/usr/bin/slirp4netns", version: "1.3.1" };
        });
        assert.equal(d.status, "supported");
        assert.equal(d.installedBy, "by-hand");
        assert.ok(d.notes.some((n) => n.includes("SELinux is enforcing")));
        assert.ok(d.notes.some((n) => n.includes("verify.image")), "verification's image on a family without busybox-static");
        const refused = decide("fedora-41", "podman");
        assert.match(refused.remedy!, /^dnf install -y podman shadow-utils slirp4netns fuse-overlayfs crun/);
        assert.deepEqual(packagePlan("rhel", "podman-auto"), { packages: ["podman", "shadow-utils"], installedBy: "script", requires: ["podman", "newuidmap"] });
        // RHEL has no Docker engine of its own: refused, pointing at Docker's repository or podman-auto.
        const remap = decide("rhel-9", "userns-remap");
        assert.match(remap.remedy!, /download\.docker\.com.*podman-auto/);
        // Amazon Linux: AWS's docker package, no rootless extras, no Podman.
        assert.match(decide("amazon-linux-2023", "docker-rootless").reason!, /no rootless extras/);
        assert.match(decide("amazon-linux-2023", "podman-auto").reason!, /SPAL/);
    });

    it("every EC2 image has recorded facts", function () {
        for (const distro of Object.keys(DISTRO_IMAGES) as (keyof typeof DISTRO_IMAGES)[]) {
            assert.ok(RECORDED[IMAGE_FACTS[distro]], distro);
        }
    });

    it("parseFacts reads platform.sh's report and refuses anything else", function () {
        const text = JSON.stringify({ ok: true, action: "observe", ...RECORDED["debian-12"]!.facts });
        assert.equal(parseFacts(`platform: observe ...\n${text}\n`).osRelease.id, "debian");
        assert.throws(() => parseFacts('{"ok":false,"action":"observe","exitCode":1,"error":"boom"}'), /platform.sh observe: boom/);
        assert.throws(() => parseFacts("garbage"), /printed no report/);
        assert.throws(() => parseFacts(JSON.stringify({ ok: true, action: "observe", format: 2 })), /format 2/);
    });
});

describe("README's Supported hosts table says what the decision decides", function () {
    it("each row's cells: proven / decided where supported (proven only for the releases run here), refused where refused", async function () {
        const fs = await import("node:fs");
        const path = await import("node:path");
        const readme = fs.readFileSync(path.join(__dirname, "..", "..", "README.md"), "utf8");
        const section = readme.slice(readme.indexOf("## Supported hosts"));
        const rows: Record<string, string[]> = {
            "Debian 12": ["debian-12"],
            "Debian 13": ["debian-13"],
            "Ubuntu 22.04": ["ubuntu-22.04"],
            "Ubuntu 24.04": ["ubuntu-24.04"],
            "RHEL 9, Rocky/Alma 9": ["rhel-9", "rocky-9"],
            "Fedora 41": ["fedora-41"],
            "Amazon Linux 2023": ["amazon-linux-2023"],
        };
        const header = section.split("\n").find((l) => l.startsWith("| distribution |"))!;
        assert.deepEqual(header.split("|").slice(2, -1).map((c) => c.trim()), [...SUPPORT_MODES]);
        for (const [label, keys] of Object.entries(rows)) {
            const line = section.split("\n").find((l) => l.startsWith(`| ${label} |`));
            assert.ok(line, `a row for ${label}`);
            const cells = line!.split("|").slice(2, -1).map((c) => c.trim());
            SUPPORT_MODES.forEach((mode, i) => {
                for (const key of keys) {
                    const d = decide(key, mode);
                    const cell = cells[i]!;
                    const said = cell.startsWith("**proven**") ? "proven" : cell.startsWith("decided") ? "recorded-facts" : cell.startsWith("refused") ? "refused" : cell;
                    assert.equal(said, d.status === "refused" ? "refused" : d.evidence, `${label} x ${mode} (${key}): README says ${JSON.stringify(cell)}; ${describeDecision(d)}`);
                }
            });
        }
    });
});
