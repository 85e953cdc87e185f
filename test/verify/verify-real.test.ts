import * as assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { Check, Expectations, HostResult, VerifyRuntime, hostResult, parseObservations } from "../../components/verify/checks";
import { PrivateDockerd, busyboxImage, deleteAccount, hasCommand, makeBusyboxTar } from "../support/dockerd";
import { readHostScript } from "../../components/host/script";
import { ScratchProject, repoRoot } from "../support/pulumi-cli";
import { ThrowawaySshd, sshdMissing } from "../support/sshd";
import { Account, account, appendLines, killUserProcesses, mustAsUser, removeLines, runRootless, TestSubids } from "../support/rootless";
import { runCleanupSteps } from "../support/cleanup";

// components/verify/verify.sh + checks.ts against this machine's real daemons, no mocks:
//   - docker-remap: a private dockerd 20.10 (test/support/dockerd.ts: own socket, data root, exec
//     root, cgroup parent, no bridge/iptables) with {"userns-remap": <our system user>};
//   - docker-rootless and podman: two users set up by components/rootless/rootless.sh;
//   - the three users' ranges in the REAL /etc/subuid and /etc/subgid, written in ONE
//     subids-host.sh call (the managed block is shared with whatever else runs here).
// Every check passes first; then each thing is broken on purpose and the matching check must
// fail with the observed value. Everything the suite creates is removed in after(), also when a
// test failed; nothing it did not create is touched.
//
// HH_VERIFY_CAPTURE=1 writes each observation to test/fixtures/verify/<name>.json (the unit tests'
// fixtures: real observations from real daemons).

const fixtures = path.join(repoRoot, "test", "fixtures", "verify");
const capture = process.env.HH_VERIFY_CAPTURE === "1";
const COUNT = 65536;
const hex = crypto.randomBytes(3).toString("hex");
const remapUser = `hhv-${hex}-r`;
const dockerUser = `hhv-${hex}-d`;
const podmanUser = `hhv-${hex}-p`;
const foreignOwner = `hhv-${hex}-o`; // a plain line overlapping the podman user's range (never an account)
// 2^31 + 65536 * k with k in 30001..31990: above the other suites' random ranges (k <= 30000,
// and 3 * 2^30 + ...), below 2^32 - 2 with room for four ranges.
const base = 2 ** 31 + COUNT * (30001 + crypto.randomInt(1990));
const remapStart = base;
const dockerStart = base + COUNT;
const podmanStart = base + 2 * COUNT;
const otherStart = base + 3 * COUNT; // "someone changed /etc/subuid": never planned
const TUN = "/dev/net/tun";
const STATE_ROOT = "/var/lib/hardened-hosts/rootless";

interface Observed {
    status: number;
    json: any;
    stdout: string;
    stderr: string;
    ms: number;
}

/** Runs verify.sh as remote.Command does: `bash -s -- ARGS`, the script on stdin. */
function verify(args: string[], env: Record<string, string> = {}): Observed {
    const t0 = Date.now();
    const r = spawnSync("bash", ["-s", "--", ...args], {
        input: readHostScript("verify/verify.sh"), // as shipped: the prelude, then the script
        encoding: "utf8",
        env: { ...process.env, ...env },
        timeout: 300_000,
    });
    const ms = Date.now() - t0;
    const stdout = r.stdout ?? "";
    let json: unknown;
    try {
        json = JSON.parse(stdout.trim().split("\n").pop() ?? "");
    } catch {
        throw new Error(`stdout is not one JSON object (exit ${r.status}): ${stdout}\nstderr: ${r.stderr}`);
    }
    return { status: r.status ?? -1, json, stdout, stderr: r.stderr ?? "", ms };
}

const byName = (checks: Check[]) => new Map(checks.map((c) => [c.name, c]));
const failedNames = (r: HostResult) => r.checks.filter((c) => !c.passed).map((c) => c.name).sort();
const describeChecks = (r: HostResult) => r.checks.map((c) => `${c.passed ? "ok  " : "FAIL"} ${c.name}: observed ${c.observed} / expected ${c.expected}`).join("\n");
const asUserQuiet = (a: Account, cmd: string[]) => spawnSync("setpriv", [`--reuid=${a.uid}`, `--regid=${a.gid}`, "--init-groups", "env", "-i", `HOME=${a.home}`,
    `XDG_RUNTIME_DIR=/run/user/${a.uid}`, "PATH=/usr/local/bin:/usr/bin:/bin", ...cmd], { cwd: "/", encoding: "utf8" });
const hhVerifyDirs = () => new Set(fs.readdirSync("/tmp").filter((f) => f.startsWith("hh-verify.")));

describe("verify.sh + checks.ts on this machine (private remapped dockerd, rootless docker, rootless podman)", function () {
    this.timeout(600_000);
    const subids = new TestSubids([`${remapUser}:${remapStart}:${COUNT}`, `${dockerUser}:${dockerStart}:${COUNT}`, `${podmanUser}:${podmanStart}:${COUNT}`]);
    const foreignLine = `${foreignOwner}:${podmanStart + 4096}:1024`;
    let foreignWritten = false;
    let hugeLines: string[] = [];
    let d: PrivateDockerd | undefined;
    let tar = "";
    const rootlessApplied: [string, string][] = [];
    const uids = new Map<string, number>();
    const timings: string[] = [];
    const sharedDirs = ["/run/user", "/run/hardened-hosts/rootless", "/run/hardened-hosts", STATE_ROOT, "/var/lib/hardened-hosts"];
    const existedBefore = new Set(sharedDirs.filter((p) => fs.existsSync(p)));

    const dockerd = (): PrivateDockerd => {
        if (!d) throw new Error("no private dockerd");
        return d;
    };
    const user = (name: string): Account => {
        const a = account(name);
        if (!a) throw new Error(`${name} does not exist`);
        uids.set(name, a.uid);
        return a;
    };
    const expectations = (runtime: VerifyRuntime, name: string, start: number): Expectations => ({
        host: "this-machine",
        runtime,
        user: name,
        expectedRange: { start, count: COUNT },
    });
    const argsFor = (runtime: VerifyRuntime): string[] => {
        switch (runtime) {
            case "docker-remap":
                return ["observe", "--runtime", runtime, "--user", remapUser, "--expect-range", `${remapStart}:${COUNT}`, "--docker-host", `unix://${dockerd().socket}`];
            case "docker-rootless":
                return ["observe", "--runtime", runtime, "--user", dockerUser, "--expect-range", `${dockerStart}:${COUNT}`];
            case "podman":
                return ["observe", "--runtime", runtime, "--user", podmanUser, "--expect-range", `${podmanStart}:${COUNT}`];
            case "podman-auto":
                // This machine's root lacks CAP_SYS_RESOURCE (docs/notes/podman-auto.md): rootful
                // Podman is verified on lab hosts instead (test/e2e/lab-auto.test.ts).
                throw new Error("podman-auto is verified on lab hosts, not here");
            case "kubelet-userns":
                throw new Error("kubelet-userns is verified on a lab host (test/e2e/lab-kubelet.test.ts)");
        }
    };
    const expFor = (runtime: VerifyRuntime): Expectations =>
        runtime === "docker-remap"
            ? expectations(runtime, remapUser, remapStart)
            : runtime === "docker-rootless"
                ? expectations(runtime, dockerUser, dockerStart)
                : expectations(runtime, podmanUser, podmanStart);

    /** The runtime's containers and images, to prove verify.sh leaves none behind. */
    const inventory = (runtime: VerifyRuntime): string => {
        switch (runtime) {
            case "docker-remap":
                return [dockerd().dockerOk("ps", "-a", "--format", "{{.Names}}"), dockerd().dockerOk("images", "--format", "{{.Repository}}:{{.Tag}}")].join("|");
            case "docker-rootless": {
                const env = { DOCKER_HOST: `unix:///run/user/${user(dockerUser).uid}/docker.sock` };
                return [mustAsUser(user(dockerUser), ["docker", "ps", "-a", "--format", "{{.Names}}"], env), mustAsUser(user(dockerUser), ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"], env)].join("|");
            }
            case "podman":
                return [mustAsUser(user(podmanUser), ["podman", "ps", "-a", "--format", "{{.Names}}"]), mustAsUser(user(podmanUser), ["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"])].join("|");
            case "podman-auto":
                throw new Error("podman-auto is verified on lab hosts, not here");
            case "kubelet-userns":
                throw new Error("kubelet-userns is verified on a lab host (test/e2e/lab-kubelet.test.ts)");
        }
    };

    /** One verification: runs verify.sh, checks nothing was left behind, evaluates, captures. */
    const verifyRuntime = (runtime: VerifyRuntime, fixture: string | undefined, opts: { args?: string[]; env?: Record<string, string>; what?: string } = {}) => {
        const before = inventory(runtime);
        const dirsBefore = hhVerifyDirs();
        const r = verify(opts.args ?? argsFor(runtime), opts.env);
        assert.equal(r.status, 0, `verify.sh exit ${r.status}: ${r.stdout}\n${r.stderr}`);
        timings.push(`${runtime}${opts.what ? ` (${opts.what})` : ""}: ${r.ms} ms (script: ${r.json.timingsMs?.total} ms)`);
        console.log(`      verify ${runtime}${opts.what ? ` (${opts.what})` : ""}: ${r.ms} ms, steps ${JSON.stringify(r.json.timingsMs)}`);
        if (capture && fixture) fs.writeFileSync(path.join(fixtures, `${fixture}.json`), JSON.stringify(r.json, null, 2) + "\n");
        // Nothing left: containers, images, temp dirs.
        assert.equal(inventory(runtime), before, "verify.sh left containers or images behind");
        assert.deepEqual([...hhVerifyDirs()].filter((f) => !dirsBefore.has(f)), [], "verify.sh left a temp dir");
        assert.deepEqual(r.json.cleanup.containersLeft, []);
        assert.deepEqual(r.json.cleanup.errors, []);
        assert.equal(r.json.cleanup.tempDirRemoved, true);
        const result = hostResult(parseObservations(r.stdout), expFor(runtime));
        return { r, result, checks: byName(result.checks) };
    };

    before(function () {
        if (process.getuid?.() !== 0) throw new Error("these tests run dockerd, useradd and rootless runtimes: run them as root");
        for (const c of ["dockerd", "docker", "podman", "rootlesskit", "slirp4netns", "newuidmap", "busybox", "useradd", "runuser", "setfacl"]) {
            if (!hasCommand(c)) throw new Error(`'${c}' is missing: run scripts/bootstrap.sh`);
        }
        if (capture) fs.mkdirSync(fixtures, { recursive: true });
        // Ranges first, all in one call (the block has one owner list per host).
        subids.add();
        // The remap user, as docker-remap.sh makes it: a system account with no ranges of its own.
        execFileSync("groupadd", ["--system", remapUser]);
        execFileSync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--gid", remapUser, "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", remapUser]);
        d = new PrivateDockerd();
        fs.writeFileSync(d.config, JSON.stringify({ "userns-remap": remapUser }) + "\n");
        tar = makeBusyboxTar(d.dir);
        d.start();
        for (const [mode, name, start] of [["docker-rootless", dockerUser, dockerStart], ["podman", podmanUser, podmanStart]] as const) {
            const r = runRootless(["apply", "--mode", mode, "--user", name, "--create-user", "yes", "--install", "no", "--expect-range", `${start}:${COUNT}`]);
            if (account(name)) user(name);
            rootlessApplied.push([mode, name]);
            if (r.status !== 0) throw new Error(`rootless.sh apply ${mode} failed (${r.status}): ${r.stdout}${r.stderr}`);
        }
    });

    after(function () {
        if (timings.length > 0) console.log(`      one verification takes:\n        ${timings.join("\n        ")}`);
        const steps: [string, () => void][] = [];
        steps.push(["private dockerd", () => d?.dispose()]);
        for (const [mode, name] of rootlessApplied) {
            steps.push([`rootless.sh remove ${mode} ${name}`, () => {
                const r = runRootless(["remove", "--mode", mode, "--user", name, "--delete-user", "yes"]);
                if (r.status !== 0) throw new Error(`${r.stdout}${r.stderr}`);
            }]);
        }
        // Whatever rootless.sh could not take back, ours only.
        for (const [name, uid] of uids) {
            steps.push([`leftovers of ${name}`, () => {
                killUserProcesses(uid);
                if (account(name)) execFileSync("userdel", ["-r", name], { stdio: "ignore" });
                fs.rmSync(path.join(STATE_ROOT, name), { recursive: true, force: true });
                fs.rmSync(`/run/hardened-hosts/rootless/${name}.dockerd.pid`, { force: true });
                const rt = `/run/user/${uid}`;
                if (fs.existsSync(rt) && fs.statSync(rt).uid === uid) fs.rmSync(rt, { recursive: true, force: true });
                for (const f of fs.readdirSync("/dev/shm")) {
                    const p = path.join("/dev/shm", f);
                    if (fs.lstatSync(p).uid === uid) fs.rmSync(p, { force: true });
                }
                if (execFileSync("getfacl", ["-pc", TUN], { encoding: "utf8" }).match(new RegExp(`^user:(${uid}|${name}):`, "m"))) {
                    execFileSync("setfacl", ["-x", `u:${uid}`, TUN]);
                }
            }]);
        }
        steps.push(["foreign line", () => foreignWritten && removeLines([foreignLine])]);
        steps.push(["huge state lines", () => hugeLines.length > 0 && removeLines(hugeLines)]);
        steps.push(["subordinate ranges", () => subids.drop()]);
        steps.push(["remap user", () => deleteAccount(remapUser)]);
        steps.push(["new empty directories", () => {
            for (const p of sharedDirs) {
                if (!existedBefore.has(p) && fs.existsSync(p) && fs.readdirSync(p).length === 0) fs.rmdirSync(p);
            }
        }]);
        runCleanupSteps(steps);
    });

    describe("arguments (exit 2, nothing run)", function () {
        const ok = ["--user", "alice", "--expect-range", "2147483648:65536"];
        const cases: [string, string[], RegExp][] = [
            ["no action", [], /usage/],
            ["another action", ["apply", "--runtime", "podman", ...ok], /usage/],
            ["no --runtime", ["observe", ...ok], /--runtime .* is required/],
            ["an unknown runtime", ["observe", "--runtime", "lxc", ...ok], /expected docker-remap, docker-rootless, podman, podman-auto or kubelet-userns/],
            ["no --user", ["observe", "--runtime", "podman", "--expect-range", "1:65536"], /--user NAME is required/],
            ["user root", ["observe", "--runtime", "podman", "--user", "root", "--expect-range", "1:65536"], /must not map to root/],
            ["a user with shell characters", ["observe", "--runtime", "podman", "--user", "a;id", "--expect-range", "1:65536"], /expected a login name/],
            ["no --expect-range", ["observe", "--runtime", "podman", "--user", "alice"], /--expect-range START:COUNT is required/],
            ["a range with count 0", ["observe", "--runtime", "podman", "--user", "alice", "--expect-range", "5:0"], /expected START:COUNT/],
            ["a range past 2^32-2", ["observe", "--runtime", "podman", "--user", "alice", "--expect-range", "4294967295:1"], /past the last valid ID/],
            ["a range with a leading zero", ["observe", "--runtime", "podman", "--user", "alice", "--expect-range", "01:65536"], /expected START:COUNT/],
            ["an image with a space", ["observe", "--runtime", "podman", ...ok, "--image", "busybox latest"], /expected an image reference/],
            ["an image starting with -", ["observe", "--runtime", "podman", ...ok, "--image", "-v/:/x"], /expected an image reference/],
            ["--docker-host for podman", ["observe", "--runtime", "podman", ...ok, "--docker-host", "unix:///x.sock"], /not podman/],
            ["a docker host with a space", ["observe", "--runtime", "docker-remap", ...ok, "--docker-host", "unix:///x y"], /expected unix:/],
            ["an option twice", ["observe", "--runtime", "podman", ...ok, "--user", "bob"], /given twice/],
            ["an unknown option", ["observe", "--runtime", "podman", ...ok, "--fix", "yes"], /unknown option '--fix'/],
            ["an option without value", ["observe", "--runtime", "podman", ...ok, "--image"], /needs a value/],
        ];
        for (const [what, args, message] of cases) {
            it(`refuses ${what}`, function () {
                const dirs = hhVerifyDirs();
                const r = verify(args);
                assert.equal(r.status, 2, r.stderr);
                assert.equal(r.json.ok, false);
                assert.match(r.json.error, message);
                assert.deepEqual(hhVerifyDirs(), dirs);
            });
        }
    });

    describe("a hardened host: every check passes", function () {
        for (const [runtime, fixture] of [["docker-remap", "remap-pass"], ["docker-rootless", "docker-rootless-pass"], ["podman", "podman-pass"]] as const) {
            it(`${runtime}: all checks pass, with the planned maps and UIDs`, function () {
                const { r, result } = verifyRuntime(runtime, fixture);
                assert.equal(result.passed, true, describeChecks(result));
                assert.deepEqual(failedNames(result), [], describeChecks(result));
                const exp = expFor(runtime);
                if (runtime === "docker-remap") {
                    assert.equal(result.mode, "userns-remap");
                    assert.deepEqual(result.uidMap, [`0 ${remapStart} ${COUNT}`]);
                    assert.deepEqual(result.gidMap, [`0 ${remapStart} ${COUNT}`]);
                    assert.equal(result.containerRootHostUid, remapStart);
                    assert.equal(r.json.privileged.exitCode, 125);
                    assert.match(r.json.privileged.message, /privileged mode is incompatible with user namespaces/);
                    assert.equal(r.json.engine.info.DockerRootDir, `${dockerd().dataRoot}/${remapStart}.${remapStart}`);
                } else {
                    const a = user(exp.user);
                    assert.equal(result.mode, "rootless");
                    assert.deepEqual(result.uidMap, [`0 ${a.uid} 1`, `1 ${exp.expectedRange.start} ${COUNT}`]);
                    assert.deepEqual(result.gidMap, [`0 ${a.gid} 1`, `1 ${exp.expectedRange.start} ${COUNT}`]);
                    assert.equal(result.containerRootHostUid, a.uid);
                    assert.equal(r.json.privileged.tried, false);
                    assert.match(r.json.runAs, new RegExp(`^${exp.user} \\(runuser\\)$`));
                }
                assert.match(result.runtimeVersion ?? "", /^\d+\.\d+/);
                assert.deepEqual(result.image, { name: "hardened-hosts/verify:busybox", builtOnHost: true, from: "/bin/busybox", error: null });
                assert.equal(r.json.image.removedAfter, true);
                assert.match(r.json.image.busyboxVersion, /^BusyBox v/);
                assert.match(result.verifiedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
            });
        }
    });

    describe("broken on purpose: the matching check fails with the observed value", function () {
        it("docker-remap: a running --userns=host container (CIS 5.30)", function () {
            dockerd().importBusybox(tar);
            dockerd().dockerOk("run", "-d", "--userns=host", "--network", "none", "--name", "hostns", busyboxImage, "sleep", "3600");
            try {
                const { result, checks } = verifyRuntime("docker-remap", "remap-userns-host", { what: "--userns=host container" });
                assert.deepEqual(failedNames(result), ["no-userns-host-containers"], describeChecks(result));
                assert.equal(result.passed, false);
                const c = checks.get("no-userns-host-containers")!;
                assert.equal(c.severity, "error");
                assert.match(c.observed, /^hostns \([0-9a-f]{12}\)$/);
            } finally {
                dockerd().dockerOk("rm", "-f", "hostns");
            }
        });

        it("docker-remap: a host that would make a huge report (30 --userns=host containers, 3000 overlapping lines): every line stays short", function () {
            // The Command provider's log reader stops at a 64 KiB line and the command never
            // returns: the report names at most 20 items per list and counts the rest.
            dockerd().importBusybox(tar);
            const names = Array.from({ length: 30 }, (_, i) => `hostns-${"n".repeat(120)}-${i}`);
            hugeLines = Array.from({ length: 3000 }, (_, i) => `${foreignOwner}x${i}:${remapStart + i}:1`);
            try {
                for (const n of names) dockerd().dockerOk("run", "-d", "--userns=host", "--network", "none", "--name", n, busyboxImage, "sleep", "3600");
                appendLines(hugeLines);
                const { r, result, checks } = verifyRuntime("docker-remap", undefined, { what: "huge host state" });
                const longest = Math.max(...`${r.stdout}\n${r.stderr}`.split("\n").map((l) => Buffer.byteLength(l)));
                console.log(`      report ${Buffer.byteLength(r.stdout)} bytes, longest line ${longest} bytes`);
                assert.ok(longest < 16 * 1024, `longest line ${longest} bytes`);
                assert.deepEqual(failedNames(result), ["no-userns-host-containers", "subgid-no-overlap", "subuid-no-overlap"], describeChecks(result));
                assert.match(checks.get("no-userns-host-containers")!.observed, /; and 10 more$/);
                assert.match(checks.get("subuid-no-overlap")!.observed, /\(and 2980 more lines\)/);
                assert.equal(r.json.containers.count, 30);
                assert.equal(r.json.containers.hostNamespace, 30);
                assert.equal(r.json.containers.running.length, 20);
            } finally {
                dockerd().docker("rm", "-f", ...names);
                removeLines(hugeLines);
                hugeLines = [];
            }
        });

        it("docker-remap: /etc/subuid holds another range than planned (dockerd still runs with the old one)", function () {
            const changed = new TestSubids([`${remapUser}:${otherStart}:${COUNT}`, `${dockerUser}:${dockerStart}:${COUNT}`, `${podmanUser}:${podmanStart}:${COUNT}`]);
            changed.add();
            try {
                const { result, checks } = verifyRuntime("docker-remap", "remap-subuid-changed", { what: "subuid changed" });
                assert.deepEqual(failedNames(result), ["subgid-range", "subuid-range"], describeChecks(result));
                assert.equal(checks.get("subuid-range")!.observed, `${remapUser}:${otherStart}:${COUNT}`);
                assert.equal(checks.get("subuid-range")!.expected, `exactly one line for ${remapUser}: ${remapUser}:${remapStart}:${COUNT}`);
                assert.equal(checks.get("subgid-range")!.observed, `${remapUser}:${otherStart}:${COUNT}`);
                // The daemon read the file when it started: the maps still show the planned range.
                assert.equal(checks.get("uid-map")!.passed, true);
            } finally {
                subids.add();
            }
        });

        it("podman: another owner's line overlaps the user's range", function () {
            appendLines([foreignLine]);
            foreignWritten = true;
            try {
                const { result, checks } = verifyRuntime("podman", "podman-overlap", { what: "overlapping line" });
                assert.deepEqual(failedNames(result), ["subgid-no-overlap", "subuid-no-overlap"], describeChecks(result));
                assert.equal(checks.get("subuid-no-overlap")!.observed, foreignLine);
                assert.equal(checks.get("subgid-no-overlap")!.observed, foreignLine);
            } finally {
                removeLines([foreignLine]);
                foreignWritten = false;
            }
        });

        it("podman: no busybox on the host and no --image: says so, the container checks fail with that", function () {
            const { r, result, checks } = verifyRuntime("podman", "podman-no-busybox", { what: "no busybox", env: { HH_VERIFY_BUSYBOX: "/nonexistent/busybox" } });
            assert.match(r.json.image.error, /^no static busybox on this host \(looked at: \/nonexistent\/busybox\): install busybox-static, or pass --image/);
            assert.equal(r.json.image.builtOnHost, false);
            assert.deepEqual(
                failedNames(result),
                ["bind-mount-owner", "container-root-host-uid", "gid-map", "root-owned-dir-not-writable", "uid-map"],
                describeChecks(result),
            );
            assert.match(checks.get("uid-map")!.observed, /^not observed: no test image: no static busybox/);
            assert.equal(checks.get("daemon-mode")!.passed, true);
        });

        it("podman: an --image that is not in the local store is not pulled: reported, checks fail", function () {
            const { r, result } = verifyRuntime("podman", "podman-image-missing", {
                what: "image missing",
                args: [...argsFor("podman"), "--image", "registry.invalid/none:1"],
            });
            assert.match(r.json.image.error, /^image registry\.invalid\/none:1 is not in podman's local store \(verify\.sh never pulls\)/);
            assert.ok(failedNames(result).includes("uid-map"));
        });

        it("docker-rootless: the daemon does not answer (wrong socket)", function () {
            const { result, checks } = verifyRuntime("docker-rootless", "docker-rootless-unreachable", {
                what: "unreachable",
                args: [...argsFor("docker-rootless"), "--docker-host", `unix:///run/user/${user(dockerUser).uid}/nonexistent.sock`],
            });
            assert.equal(result.mode, "unreachable");
            assert.deepEqual(
                failedNames(result),
                ["bind-mount-owner", "container-root-host-uid", "daemon-mode", "gid-map", "no-userns-host-containers", "root-owned-dir-not-writable", "uid-map"],
                describeChecks(result),
            );
            assert.match(checks.get("daemon-mode")!.observed, /^runtime not reachable: docker as hhv-.* \(runuser\) failed: .*nonexistent\.sock/);
            // The CIS 5.30 check is a warning for rootless runtimes: the host fails on the others.
            assert.equal(checks.get("no-userns-host-containers")!.severity, "warning");
        });

        it("docker-remap: remap switched off (dockerd restarted without userns-remap)", function () {
            fs.writeFileSync(dockerd().config, "{}\n");
            dockerd().start();
            try {
                const { r, result, checks } = verifyRuntime("docker-remap", "remap-off", { what: "remap off" });
                assert.equal(result.mode, "rootful");
                assert.deepEqual(
                    failedNames(result),
                    ["bind-mount-owner", "container-root-host-uid", "daemon-mode", "data-root", "gid-map", "privileged-refused", "root-owned-dir-not-writable", "uid-map"],
                    describeChecks(result),
                );
                assert.doesNotMatch(checks.get("daemon-mode")!.observed, /name=userns/);
                assert.equal(checks.get("data-root")!.observed, `DockerRootDir ${dockerd().dataRoot}`);
                assert.equal(checks.get("uid-map")!.observed, "0 0 4294967295");
                assert.equal(result.containerRootHostUid, 0);
                assert.equal(checks.get("container-root-host-uid")!.observed, "uid 0");
                assert.equal(checks.get("bind-mount-owner")!.observed, "0:0");
                assert.match(checks.get("root-owned-dir-not-writable")!.observed, /^writable/);
                // Without remap dockerd accepts --privileged. On this VM runc then cannot apply the
                // full capability set ("unable to apply caps"), so the container may still not run:
                // either way it was not refused for user namespaces.
                assert.match(checks.get("privileged-refused")!.observed, /^exit (0: a --privileged container ran|\d+, but not refused for user namespaces: .+)$/);
                assert.doesNotMatch(r.json.privileged.message ?? "", /incompatible with user namespaces/);
            } finally {
                fs.writeFileSync(dockerd().config, JSON.stringify({ "userns-remap": remapUser }) + "\n");
                dockerd().start();
            }
        });

        it("docker-remap: remap back on, everything passes again", function () {
            const { result } = verifyRuntime("docker-remap", undefined, { what: "remap back on" });
            assert.deepEqual(failedNames(result), [], describeChecks(result));
        });
    });

    describe("the test image", function () {
        it("docker-remap with --image: an image already on the host is used as it is and kept", function () {
            dockerd().importBusybox(tar);
            const { r, result } = verifyRuntime("docker-remap", undefined, { what: "--image", args: [...argsFor("docker-remap"), "--image", busyboxImage] });
            assert.deepEqual(failedNames(result), [], describeChecks(result));
            assert.deepEqual(result.image, { name: busyboxImage, builtOnHost: false, from: null, error: null });
            assert.equal(r.json.image.removedAfter, false);
            assert.match(dockerd().dockerOk("images", "--format", "{{.Repository}}:{{.Tag}}"), /^localbb:latest$/m);
        });

        it("podman: a hardened-hosts/verify:busybox verify.sh did not make is left alone; one it made from the same busybox is reused", function () {
            const a = user(podmanUser);
            const tag = "hardened-hosts/verify:busybox";
            const sha = execFileSync("sha256sum", ["/bin/busybox"], { encoding: "utf8" }).slice(0, 64);
            const importAs = (change: string[]) => {
                const r = spawnSync("setpriv", [`--reuid=${a.uid}`, `--regid=${a.gid}`, "--init-groups", "env", "-i", `HOME=${a.home}`, `XDG_RUNTIME_DIR=/run/user/${a.uid}`,
                    "PATH=/usr/local/bin:/usr/bin:/bin", "podman", "import", ...change, "-", tag], { input: fs.readFileSync(tar), cwd: "/", encoding: "utf8" });
                if (r.status !== 0) throw new Error(`podman import: ${r.stderr}`);
            };
            const imageId = () => mustAsUser(a, ["podman", "images", "-q", "--no-trunc", tag]).trim();
            try {
                importAs([]);
                const foreignId = imageId();
                const { r, result } = verifyRuntime("podman", undefined, { what: "foreign tag" });
                assert.match(r.json.image.error, /^hardened-hosts\/verify:busybox exists in podman's store but was not made by verify\.sh: not overwriting it; pass --image$/);
                assert.ok(failedNames(result).includes("uid-map"));
                assert.equal(imageId(), foreignId, "the foreign image is untouched");
                mustAsUser(a, ["podman", "rmi", tag]);

                importAs(["--change", `LABEL org.hardened-hosts.verify.busybox-sha256=${sha}`]);
                const ours = imageId();
                const again = verifyRuntime("podman", undefined, { what: "reused image" });
                assert.deepEqual(failedNames(again.result), [], describeChecks(again.result));
                assert.equal(again.r.json.image.reused, true);
                assert.equal(again.r.json.image.removedAfter, false, "an image this run did not import stays");
                assert.equal(imageId(), ours);
            } finally {
                asUserQuiet(a, ["podman", "rmi", "-f", tag]);
            }
        });
    });

    describe("through Pulumi: HostVerification over SSH (real engine, file backend, throw-away sshd)", function () {
        let sshd: ThrowawaySshd | undefined;
        let project: ScratchProject | undefined;
        const p = (): ScratchProject => {
            if (!project) throw new Error("no project");
            return project;
        };
        const outputs = () => JSON.parse(p().ok(["stack", "output", "--json", "--show-secrets"]).stdout);
        const up = () => p().pulumi(["up", "--yes", "--skip-preview", "--diff"]);
        const timed = <T>(what: string, f: () => T): T => {
            const t0 = Date.now();
            const v = f();
            console.log(`      ${what}: ${Date.now() - t0} ms`);
            return v;
        };

        before(async function () {
            const missing = sshdMissing();
            if (missing) throw new Error(missing);
            sshd = await ThrowawaySshd.start();
            const keyFile = path.join(sshd.dir, "client_key");
            project = new ScratchProject(path.join(fixtures, "engine-project"), { HH_REPO_ROOT: repoRoot });
            project.ok(["stack", "init", "verify"]);
            for (const [k, v] of [["port", String(sshd.port)], ["keyFile", keyFile], ["hostKey", sshd.hostKey], ["runtime", "podman"], ["user", podmanUser], ["rerun", "1"]]) {
                project.ok(["config", "set", k, "--", v]);
            }
            project.ok(["config", "set", "--path", "range.start", String(podmanStart)]);
            project.ok(["config", "set", "--path", "range.count", String(COUNT)]);
        });
        after(async function () {
            const errors: string[] = [];
            try {
                project?.pulumi(["destroy", "--yes", "--skip-preview"]);
                project?.dispose();
            } catch (e) {
                errors.push(`project: ${(e as Error).message}`);
            }
            await sshd?.stop();
            if (errors.length > 0) throw new Error(errors.join("; "));
        });

        let first = "";
        it("up: verify.sh runs over SSH, the result is a stack output", function () {
            const r = timed("pulumi up (first verification)", up);
            assert.equal(r.status, 0, r.stdout + r.stderr);
            const out = outputs();
            assert.equal(out.passed, true, JSON.stringify(out.result.checks, null, 1));
            assert.equal(out.result.host, "lab-host");
            assert.equal(out.result.mode, "rootless");
            assert.equal(out.result.checks.length, 12);
            assert.equal(out.result.containerRootHostUid, user(podmanUser).uid);
            first = out.result.verifiedAt;
        });

        it("a no-change up runs nothing (the command is unchanged, the observation is the same)", async function () {
            p().ok(["preview", "--expect-no-changes"]);
            await new Promise((r) => setTimeout(r, 1100)); // a re-run would get a later verifiedAt
            const r = timed("pulumi up (no change)", up);
            assert.equal(r.status, 0, r.stdout + r.stderr);
            assert.doesNotMatch(r.stdout, /replaced|created|updated/);
            assert.equal(outputs().result.verifiedAt, first);
        });

        it("a changed rerunOn value re-runs the checks; a failed check fails the update with observed and expected", async function () {
            appendLines([foreignLine]);
            foreignWritten = true;
            p().ok(["config", "set", "rerun", "2"]);
            const preview = p().ok(["preview", "--diff"]).stdout;
            assert.match(preview, /~\s*pulumi-nodejs:dynamic:Resource: \(update\)/);
            await new Promise((r) => setTimeout(r, 1100));
            const r = timed("pulumi up (re-run, failing)", up);
            assert.notEqual(r.status, 0, "the update must fail");
            const text = r.stdout + r.stderr;
            assert.match(text, /lab-host \(podman\): 2 of 12 checks failed/);
            assert.ok(text.includes(`- subuid-no-overlap: observed ${foreignLine}; expected no other owner's line overlaps it`), text);
            assert.ok(text.includes(`- subgid-no-overlap: observed ${foreignLine}; expected no other owner's line overlaps it`), text);
            assert.match(text, /After fixing the host: pulumi up --refresh/);
            // The message alone: no dump of the resource graph (see quietResourceError).
            assert.doesNotMatch(text, /__pulumiResource|<ref \*\d>/);
        });

        it("reportOnly: the same (stored) observation is exported and the update succeeds", function () {
            p().ok(["config", "set", "reportOnly", "true"]);
            const r = timed("pulumi up (report only, nothing re-run)", up);
            assert.equal(r.status, 0, r.stdout + r.stderr);
            const out = outputs();
            assert.equal(out.passed, false);
            assert.deepEqual(out.result.checks.filter((c: Check) => !c.passed).map((c: Check) => c.name), ["subuid-no-overlap", "subgid-no-overlap"]);
            assert.notEqual(out.result.verifiedAt, first);
        });

        it("fixed and re-run: passes again; destroy leaves nothing on the host", function () {
            removeLines([foreignLine]);
            foreignWritten = false;
            p().ok(["config", "set", "rerun", "3"]);
            const r = timed("pulumi up (re-run, passing)", up);
            assert.equal(r.status, 0, r.stdout + r.stderr);
            assert.equal(outputs().passed, true);
            const dirs = hhVerifyDirs();
            p().ok(["destroy", "--yes", "--skip-preview"]);
            assert.deepEqual(hhVerifyDirs(), dirs);
            assert.equal(mustAsUser(user(podmanUser), ["podman", "ps", "-a", "-q"]), "");
        });
    });
});
