import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import {
    Expectations,
    HostResult,
    Observations,
    VerifyError,
    evaluateChecks,
    failedChecks,
    failureMessage,
    fleetSummary,
    hostResult,
    observedMode,
    parseObservations,
} from "../../components/verify/checks";

// checks.ts (pure) on REAL observations: test/fixtures/verify/*.json are verify.sh's stdout
// captured from this machine's daemons by test/verify/verify-real.test.ts (HH_VERIFY_CAPTURE=1),
// the broken variants broken for real (see test/fixtures/verify/README.md). A few cases below
// derive variants from them (marked "derived"), for states we cannot produce safely here.

const dir = path.join(__dirname, "..", "fixtures", "verify");

/** The fixture as verify.sh printed it: one JSON line on stdout (after its stderr steps). */
function stdoutOf(fixture: string): string {
    return JSON.stringify(JSON.parse(fs.readFileSync(path.join(dir, `${fixture}.json`), "utf8"))) + "\n";
}
function load(fixture: string): Observations {
    return parseObservations(stdoutOf(fixture));
}
/** The plan the fixture was observed against (what the real test passed to verify.sh). */
function planOf(o: Observations, host = "lab"): Expectations {
    return { host, runtime: o.runtime, user: o.user.name, expectedRange: o.expectedRange, ...(o.auto ? { autoSize: o.auto.size } : {}) };
}
const clone = (o: Observations): Observations => JSON.parse(JSON.stringify(o));
const failing = (r: { checks: { name: string; passed: boolean }[] }) => r.checks.filter((c) => !c.passed).map((c) => c.name).sort();
const check = (r: HostResult, name: string) => {
    const c = r.checks.find((x) => x.name === name);
    if (!c) throw new Error(`no check ${name}`);
    return c;
};

const REMAP_CHECKS = [
    "user-account", "daemon-mode", "data-root", "uid-map", "gid-map", "container-root-host-uid", "bind-mount-owner",
    "root-owned-dir-not-writable", "privileged-refused", "no-userns-host-containers",
    "subuid-range", "subuid-no-overlap", "subgid-range", "subgid-no-overlap",
];
const ROOTLESS_CHECKS = REMAP_CHECKS.filter((c) => c !== "data-root" && c !== "privileged-refused");
const AUTO_CHECKS = [
    "daemon-mode", "uid-map", "gid-map", "auto-maps-disjoint", "auto-maps-in-pool", "auto-no-host-root", "container-root-host-uid",
    "bind-mount-owners-differ", "root-owned-dir-not-writable", "no-userns-host-containers",
    "subuid-range", "subuid-no-overlap", "subgid-range", "subgid-no-overlap",
];
const checksOf = (runtime: string) => (runtime === "docker-remap" ? REMAP_CHECKS : runtime === "podman-auto" ? AUTO_CHECKS : ROOTLESS_CHECKS);
const NO_CONTAINER = ["bind-mount-owner", "container-root-host-uid", "gid-map", "root-owned-dir-not-writable", "uid-map"];

/** Every captured fixture, the checks that must fail on it, and the host verdict. */
const FIXTURES: [string, string[], boolean][] = [
    ["remap-pass", [], true],
    ["docker-rootless-pass", [], true],
    ["podman-pass", [], true],
    ["podman-auto-pass", [], true],
    ["podman-auto-userns-host", ["no-userns-host-containers"], false],
    ["remap-userns-host", ["no-userns-host-containers"], false],
    ["remap-subuid-changed", ["subgid-range", "subuid-range"], false],
    ["podman-overlap", ["subgid-no-overlap", "subuid-no-overlap"], false],
    ["podman-no-busybox", NO_CONTAINER, false],
    ["podman-image-missing", NO_CONTAINER, false],
    ["docker-rootless-unreachable", [...NO_CONTAINER, "daemon-mode", "no-userns-host-containers"].sort(), false],
    ["remap-off", [...NO_CONTAINER, "daemon-mode", "data-root", "privileged-refused"].sort(), false],
];

describe("verify checks (pure, on observations captured from real daemons)", function () {
    it("has every fixture the table names, and nothing else", function () {
        const files = fs.readdirSync(dir).filter((f) => f.endsWith(".json")).map((f) => f.replace(/\.json$/, "")).sort();
        assert.deepEqual(files, FIXTURES.map(([f]) => f).sort());
    });

    describe("parseObservations", function () {
        it("takes the last stdout line (a remote session may print more before it)", function () {
            const o = parseObservations(`motd line\n${stdoutOf("remap-pass")}\n\n`);
            assert.equal(o.runtime, "docker-remap");
            assert.equal(o.format, 1);
        });
        const bad: [string, string, RegExp][] = [
            ["nothing", "  \n", /printed nothing/],
            ["a non-JSON last line", '{"ok":true}\nverify: done\n', /last stdout line is not JSON/],
            // What verify.sh really prints for bad arguments (exit 2).
            ["a failure report", '{"ok":false,"action":"observe","error":"--user root: the runtime\'s containers must not map to root"}\n', /verify\.sh failed: --user root/],
            ["another action's report", '{"ok":true,"action":"apply","format":1}\n', /unknown report \(action "apply", format 1\)/],
            ["another format", '{"ok":true,"action":"observe","format":2}\n', /format 2\): expected observe, format 1/],
            ["a JSON array", "[1]\n", /verify\.sh failed/],
        ];
        for (const [what, text, message] of bad) {
            it(`refuses ${what}`, function () {
                assert.throws(() => parseObservations(text), (e: Error) => e instanceof VerifyError && message.test(e.message));
            });
        }
    });

    describe("each captured fixture gives exactly its failing checks", function () {
        for (const [fixture, fails, passed] of FIXTURES) {
            it(`${fixture}: ${fails.length === 0 ? "all pass" : fails.join(", ")}`, function () {
                const o = load(fixture);
                const r = hostResult(o, planOf(o));
                assert.deepEqual(r.checks.map((c) => c.name), checksOf(o.runtime));
                assert.deepEqual(failing(r), fails, r.checks.map((c) => `${c.name}: ${c.observed}`).join("\n"));
                assert.equal(r.passed, passed);
                for (const c of r.checks) {
                    assert.ok(c.expected.length > 0 && c.observed.length > 0 && c.detail.length > 0, `${c.name} explains itself`);
                }
            });
        }
    });

    describe("remap", function () {
        const o = load("remap-pass");
        const { start, count } = o.expectedRange;
        const r = hostResult(o, planOf(o, "host-a"));

        it("exports the maps, container root's host UID, version, image and time as observed", function () {
            assert.equal(r.host, "host-a");
            assert.equal(r.runtime, "docker-remap");
            assert.equal(r.mode, "userns-remap");
            assert.deepEqual(r.uidMap, [`0 ${start} ${count}`]);
            assert.deepEqual(r.gidMap, [`0 ${start} ${count}`]);
            assert.equal(r.containerRootHostUid, start);
            assert.deepEqual(r.expectedRange, { start, count });
            assert.match(r.runtimeVersion!, /^20\.10\./);
            assert.equal(r.verifiedAt, o.observedAt);
            assert.deepEqual(r.image, { name: "hardened-hosts/verify:busybox", builtOnHost: true, from: "/bin/busybox", error: null });
        });

        it("states expected and observed values in plain words", function () {
            assert.deepEqual(check(r, "uid-map"), {
                name: "uid-map",
                passed: true,
                expected: `0 ${start} ${count}`,
                observed: `0 ${start} ${count}`,
                detail: `/proc/self/uid_map inside a container: container uid 0-${count - 1} are host uids ${start}-${start + count - 1}`,
                severity: "error",
            });
            assert.equal(check(r, "daemon-mode").observed, "SecurityOptions: name=seccomp,profile=default; name=userns");
            assert.match(check(r, "daemon-mode").detail, /CIS 2\.8/);
            assert.equal(check(r, "data-root").expected, `DockerRootDir ending in /${start}.${start}`);
            assert.equal(check(r, "container-root-host-uid").expected, `${start} (subordinate start), never 0`);
            assert.equal(check(r, "bind-mount-owner").observed, `${start}:${start}`);
            assert.match(check(r, "privileged-refused").observed, /^exit 125: docker: Error response from daemon: privileged mode is incompatible with user namespaces/);
            assert.equal(check(r, "subuid-range").expected, `exactly one line for ${o.user.name}: ${o.user.name}:${start}:${count}`);
            assert.equal(check(r, "subuid-no-overlap").observed, "none");
        });

        it("remap off: each failed check shows what the host really does", function () {
            const off = load("remap-off");
            const b = hostResult(off, planOf(off));
            assert.equal(b.mode, "rootful");
            assert.equal(check(b, "daemon-mode").observed, "SecurityOptions: name=seccomp,profile=default");
            assert.match(check(b, "data-root").observed, /^DockerRootDir \/tmp\/hhd-\w+\/root$/);
            assert.equal(check(b, "uid-map").observed, "0 0 4294967295");
            assert.equal(check(b, "gid-map").observed, "0 0 4294967295");
            assert.equal(check(b, "container-root-host-uid").observed, "uid 0");
            assert.equal(b.containerRootHostUid, 0);
            assert.equal(check(b, "bind-mount-owner").observed, "0:0");
            assert.equal(check(b, "root-owned-dir-not-writable").observed, "writable: container root wrote into a root-owned 0755 host directory");
            // dockerd accepted --privileged; runc on this VM then failed for its own reasons.
            assert.match(check(b, "privileged-refused").observed, /^exit 125, but not refused for user namespaces: .*unable to apply caps/);
        });

        it("a --userns=host container fails the remap host (CIS 5.30) and names it", function () {
            const u = load("remap-userns-host");
            const b = hostResult(u, planOf(u));
            const c = check(b, "no-userns-host-containers");
            assert.equal(c.severity, "error");
            assert.match(c.observed, /^hostns \([0-9a-f]{12}\)$/);
            assert.match(c.detail, /CIS 5\.30/);
        });

        it("another range in /etc/subuid than planned: both files' checks show the line found", function () {
            const s = load("remap-subuid-changed");
            const b = hostResult(s, planOf(s));
            const line = s.subuid.userLines[0];
            assert.notEqual(line, `${s.user.name}:${s.expectedRange.start}:${s.expectedRange.count}`);
            assert.equal(check(b, "subuid-range").observed, line);
            assert.equal(check(b, "subgid-range").observed, s.subgid.userLines[0]);
            // dockerd read the old range when it started: the maps still match the plan.
            assert.equal(check(b, "uid-map").passed, true);
        });

        it("privileged: derived states (ran, not tried) fail with what happened", function () {
            const ran = clone(o);
            ran.privileged = { tried: true, exitCode: 0, message: null, notTriedBecause: null };
            assert.equal(check(hostResult(ran, planOf(ran)), "privileged-refused").observed, "exit 0: a --privileged container ran");
            const notTried = clone(load("remap-off"));
            notTried.privileged = { tried: false, exitCode: null, message: null, notTriedBecause: "no test image: x" };
            const c = check(hostResult(notTried, planOf(notTried)), "privileged-refused");
            assert.equal(c.passed, false);
            assert.equal(c.observed, "not tried: no test image: x");
        });
    });

    describe("rootless", function () {
        for (const fixture of ["docker-rootless-pass", "podman-pass"]) {
            it(`${fixture}: container root is the user, IDs 1.. are the planned range`, function () {
                const o = load(fixture);
                const r = hostResult(o, planOf(o));
                const { start, count } = o.expectedRange;
                const uid = o.user.uid!;
                const gid = o.user.gid!;
                assert.equal(r.mode, "rootless");
                assert.equal(check(r, "uid-map").expected, `0 ${uid} 1; 1 ${start} ${count}`);
                assert.equal(check(r, "gid-map").expected, `0 ${gid} 1; 1 ${start} ${count}`);
                assert.equal(r.containerRootHostUid, uid);
                assert.equal(check(r, "container-root-host-uid").expected, `${uid} (${o.user.name}'s uid), never 0`);
                assert.equal(check(r, "bind-mount-owner").expected, `${uid}:${gid}`);
                assert.equal(check(r, "no-userns-host-containers").severity, "warning");
            });
        }

        it("podman: the overlapping line is named in both files' checks", function () {
            const o = load("podman-overlap");
            const r = hostResult(o, planOf(o));
            assert.match(check(r, "subuid-no-overlap").observed, /^hhv-\w+-o:\d+:1024$/);
            assert.equal(check(r, "subgid-no-overlap").observed, check(r, "subuid-no-overlap").observed);
            assert.equal(check(r, "subuid-range").passed, true);
        });

        it("no busybox: the container checks say why nothing was observed", function () {
            const o = load("podman-no-busybox");
            const r = hostResult(o, planOf(o));
            for (const name of NO_CONTAINER) {
                assert.match(check(r, name).observed, /^not observed: no test image: no static busybox on this host/, name);
            }
            assert.deepEqual(r.uidMap, []);
            assert.equal(r.containerRootHostUid, null);
            assert.equal(r.image?.builtOnHost, false);
            assert.match(r.image?.error ?? "", /install busybox-static, or pass --image/);
        });

        it("an unreachable daemon: mode unreachable, its error is the observation", function () {
            const o = load("docker-rootless-unreachable");
            const r = hostResult(o, planOf(o));
            assert.equal(r.mode, "unreachable");
            assert.equal(r.runtimeVersion, null);
            assert.match(check(r, "daemon-mode").observed, /^runtime not reachable: docker as .* failed: Cannot connect to the Docker daemon/);
            assert.match(check(r, "no-userns-host-containers").observed, /^not listed: the runtime did not answer/);
        });

        it("derived: a --userns=host container under rootless podman is a warning, the host still passes", function () {
            const o = clone(load("podman-pass"));
            o.containers.running = [{ id: "0123456789ab", name: "shared", usernsMode: "host", privileged: true }];
            const r = hostResult(o, planOf(o));
            const c = check(r, "no-userns-host-containers");
            assert.equal(c.passed, false);
            assert.equal(c.severity, "warning");
            assert.equal(c.observed, "shared (0123456789ab, privileged)");
            assert.equal(r.passed, true);
            assert.deepEqual(failedChecks(r), []);
        });

        it("derived: a missing user fails the account and the maps name the user's UID as unknown", function () {
            const o = clone(load("docker-rootless-unreachable"));
            o.user = { name: o.user.name, exists: false, uid: null, gid: null, home: null };
            const r = hostResult(o, planOf(o));
            assert.equal(check(r, "user-account").observed, `${o.user.name} does not exist`);
            assert.equal(check(r, "uid-map").expected, `0 <${o.user.name}'s uid> 1; 1 ${o.expectedRange.start} ${o.expectedRange.count}`);
        });

        it("derived: container root running as host root is never accepted, even if it matched", function () {
            const o = clone(load("podman-pass"));
            o.user.uid = 0;
            o.process.hostUid = 0;
            o.probe.bindFile.hostUid = 0;
            const r = hostResult(o, planOf(o));
            assert.deepEqual(failing(r).filter((n) => ["user-account", "container-root-host-uid", "bind-mount-owner"].includes(n)),
                ["bind-mount-owner", "container-root-host-uid", "user-account"]);
        });

        it("derived: two ranges for the user, or no subuid file, fail the range check", function () {
            const o = clone(load("podman-pass"));
            o.subuid.userLines.push(`${o.user.name}:100000:65536`);
            o.subgid = { file: "/etc/subgid", exists: false, userLines: [], overlapping: [] };
            const r = hostResult(o, planOf(o));
            assert.equal(check(r, "subuid-range").passed, false);
            assert.match(check(r, "subuid-range").observed, /; hhv-\w+-p:100000:65536$/);
            assert.equal(check(r, "subgid-range").observed, "/etc/subgid does not exist");
            assert.equal(check(r, "subgid-no-overlap").passed, false);
        });
    });

    describe("podman-auto (derived from podman-auto-pass where the state cannot be made safely)", function () {
        const o = load("podman-auto-pass");
        const pass = hostResult(o, planOf(o));
        it("reports both containers' maps, the mode and the size in the result", function () {
            assert.equal(pass.mode, "userns-auto");
            assert.equal(pass.auto?.size, 65536);
            assert.deepEqual(pass.auto?.containers.map((c) => c.uidMap.join()), ["0 2147483648 65536", "0 2147549184 65536"]);
            assert.match(check(pass, "auto-maps-disjoint").observed, /a: 0 2147483648 65536, b: 0 2147549184 65536/);
            assert.equal(check(pass, "bind-mount-owners-differ").observed, "a: 2147483648:2147483648, b: 2147549184:2147549184");
            assert.equal(check(pass, "no-userns-host-containers").severity, "error");
        });
        it("two containers on the same IDs: not disjoint, file owners the same", function () {
            const same = clone(o);
            same.auto!.containers[1] = { ...same.auto!.containers[0]!, name: "b" };
            assert.deepEqual(failing(hostResult(same, planOf(same))), ["auto-maps-disjoint", "bind-mount-owners-differ"]);
        });
        it("userns auto gone (containers in the host's namespace): maps, pool, root, owners all fail; mode rootful", function () {
            const host = clone(o);
            for (const c of host.auto!.containers) {
                Object.assign(c, { uidMap: ["0 0 4294967295"], gidMap: ["0 0 4294967295"], hostUid: 0, hostGid: 0, fileUid: 0, fileGid: 0 });
            }
            const r = hostResult(host, planOf(host));
            assert.equal(r.mode, "rootful");
            assert.deepEqual(failing(r), ["auto-maps-disjoint", "auto-maps-in-pool", "auto-no-host-root", "bind-mount-owners-differ", "container-root-host-uid", "gid-map", "uid-map"]);
            assert.match(check(r, "auto-no-host-root").observed, /a: maps host root/);
        });
        it("a size other than the plan's (Podman 4.3.1 ignoring a size in containers.conf): the maps fail", function () {
            const small = clone(o);
            small.auto!.containers[0]!.uidMap = ["0 2147483648 1024"];
            small.auto!.containers[0]!.gidMap = ["0 2147483648 1024"];
            assert.deepEqual(failing(hostResult(small, planOf(small))), ["gid-map", "uid-map"]);
        });
        it("a map outside the pool fails auto-maps-in-pool", function () {
            const out = clone(o);
            out.auto!.containers[1]!.uidMap = ["0 2147614720 65536"];
            assert.deepEqual(failing(hostResult(out, planOf(out))), ["auto-maps-in-pool", "bind-mount-owners-differ", "container-root-host-uid", "uid-map"]);
        });
        it("the containers did not run: every container check fails, saying why", function () {
            const none = clone(o);
            Object.assign(none.auto!, { ran: false, error: "podman run -d (container a) failed: could not find enough available IDs", containers: [] });
            Object.assign(none.probe, { ran: false, error: none.auto!.error });
            const r = hostResult(none, planOf(none));
            assert.match(check(r, "uid-map").observed, /could not find enough available IDs/);
            assert.equal(r.passed, false);
        });
        it("refuses observations made for another size", function () {
            assert.throws(() => hostResult(o, { ...planOf(o), autoSize: 1024 }), (e: Error) => e instanceof VerifyError && /65536 IDs per container, not 1024/.test(e.message));
        });
    });

    it("refuses observations made for another plan (a wiring bug, not a host problem)", function () {
        const o = load("remap-pass");
        for (const wrong of [
            { ...planOf(o), runtime: "podman" as const },
            { ...planOf(o), user: "someone" },
            { ...planOf(o), expectedRange: { start: o.expectedRange.start + 65536, count: 65536 } },
        ]) {
            assert.throws(() => hostResult(o, wrong), (e: Error) => e instanceof VerifyError && /the observations are for docker-remap/.test(e.message));
        }
    });

    it("observedMode and evaluateChecks work on the observations alone", function () {
        assert.equal(observedMode(load("remap-pass")), "userns-remap");
        assert.equal(observedMode(load("docker-rootless-pass")), "rootless");
        assert.equal(observedMode(load("podman-pass")), "rootless");
        const podmanRootful = clone(load("podman-pass"));
        (podmanRootful.engine.info as any).host.security.rootless = false;
        assert.equal(observedMode(podmanRootful), "rootful");
        const c = evaluateChecks(podmanRootful, planOf(podmanRootful)).find((x) => x.name === "daemon-mode")!;
        assert.equal(c.passed, false);
        assert.equal(c.observed, "host.security.rootless = false");
    });

    it("failureMessage lists every failed check with observed and expected", function () {
        const o = load("remap-off");
        const r = hostResult(o, planOf(o, "host-b"));
        const m = failureMessage(r);
        assert.match(m, new RegExp(`^host-b \\(docker-remap\\): 8 of 14 checks failed \\(observed ${o.observedAt}\\):\n`));
        for (const c of failedChecks(r)) {
            assert.ok(m.includes(`  - ${c.name}: observed ${c.observed}; expected ${c.expected}`), c.name);
        }
        assert.equal(m.split("\n").length, 9);
    });

    describe("fleetSummary", function () {
        it("counts hosts (all runtimes of a host must pass) and lists each failed check", function () {
            const res = (fixture: string, host: string) => {
                const o = load(fixture);
                return hostResult(o, planOf(o, host));
            };
            const results = [
                res("remap-pass", "a"),
                res("podman-pass", "a"),
                res("docker-rootless-pass", "b"),
                res("remap-off", "c"),
                res("podman-overlap", "d"),
                res("docker-rootless-pass", "d"),
                res("docker-rootless-unreachable", "e"),
            ];
            const s = fleetSummary(results);
            assert.equal(s.hostsPassed, 2);
            assert.equal(s.hostsFailed, 3);
            assert.equal(s.failing.length, 8 + 2 + 6);
            assert.deepEqual(s.failing.filter((f) => f.host === "d").map((f) => f.check), ["subuid-no-overlap", "subgid-no-overlap"]);
            const uidMap = s.failing.find((f) => f.host === "c" && f.check === "uid-map")!;
            assert.deepEqual(uidMap, { host: "c", runtime: "docker-remap", check: "uid-map", observed: "0 0 4294967295", expected: `0 ${results[3].expectedRange.start} 65536` });
            assert.deepEqual(s.warnings.map((w) => [w.host, w.check]), [["e", "no-userns-host-containers"]]);
        });

        it("an empty fleet", function () {
            assert.deepEqual(fleetSummary([]), { hostsPassed: 0, hostsFailed: 0, failing: [], warnings: [] });
        });
    });
});
