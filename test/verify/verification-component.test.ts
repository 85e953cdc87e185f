import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { readHostScript, scriptDigest } from "../../components/host/script";
import { hostResult, parseObservations } from "../../components/verify/checks";
import { Registered, installMocks, isSecret, promiseOf, settle } from "../support/mocks";

// HostVerification's resource graph against the shared Pulumi mocks (test/support/mocks.ts). The
// mocked remote.Command "runs" verify.sh by answering with an observation captured from a real
// daemon (test/fixtures/verify/), so the result and the failure path see real data: for this
// file's commands only, the shared mock's answer gets that stdout (its `{}` otherwise). The
// override wraps the mock monitor's `mocks` while this file's tests run and is taken off after,
// so the other files keep exactly the shared mocks.

const fixtures = path.join(__dirname, "..", "fixtures", "verify");
const stdoutOf = (fixture: string) => JSON.stringify(JSON.parse(fs.readFileSync(path.join(fixtures, `${fixture}.json`), "utf8"))) + "\n";
const obs = (fixture: string) => parseObservations(stdoutOf(fixture));
const script = readHostScript("verify/verify.sh");

describe("HostVerification (mocks, real observations)", function () {
    let resources: Registered[] = [];
    /** Check name → the stdout verify.sh "printed" on the host. */
    const stdout = new Map<string, string>();
    let mod: typeof import("../../components/verify/verification");
    let check: typeof import("../../components/verify/host-check");
    const connection = { host: "10.0.0.9", privateKey: "secret-key" };
    let monitor: { mocks: pulumi.runtime.Mocks } | undefined;
    let shared: pulumi.runtime.Mocks | undefined;

    const remapPass = obs("remap-pass");
    const remapArgs = { user: remapPass.user.name, expectedRange: remapPass.expectedRange };
    const podmanPass = obs("podman-pass");
    const podmanArgs = { user: podmanPass.user.name, expectedRange: podmanPass.expectedRange };
    const rootlessPass = obs("docker-rootless-pass");

    before(async function () {
        resources = installMocks().resources;
        // The mock monitor setMocks installed (runtime/settings' getMonitor is what the SDK uses).
        const settings: { getMonitor(): unknown } = require("@pulumi/pulumi/runtime/settings");
        monitor = settings.getMonitor() as { mocks: pulumi.runtime.Mocks };
        assert.ok(monitor && typeof monitor.mocks?.newResource === "function", "the Pulumi mock monitor");
        check = await import("../../components/verify/host-check");
        const base = monitor.mocks;
        shared = base;
        // The dynamic HostCheck "observes" with the fixture's stdout, through the provider's
        // own pure half (observedProps, checkFailure): what its create would store or raise.
        monitor.mocks = {
            call: (args) => base.call(args),
            async newResource(args) {
                const r = await base.newResource(args);
                const out = args.type === "pulumi-nodejs:dynamic:Resource" ? stdout.get(args.name) : undefined;
                if (out === undefined) return r;
                const props = check.observedProps(args.inputs as never, out, []);
                const failure = check.checkFailure(props);
                if (failure !== undefined) throw new Error(failure);
                return { ...r, state: props };
            },
        };
        mod = await import("../../components/verify/verification");
    });
    after(function () {
        if (monitor && shared) monitor.mocks = shared;
    });
    beforeEach(function () {
        resources.length = 0;
    });
    const checkOf = (name: string) => {
        const c = resources.find((r) => r.name === `${name}-check`);
        assert.ok(c, `no check ${name}-check among ${resources.map((r) => r.name)}`);
        assert.equal(c.type, "pulumi-nodejs:dynamic:Resource");
        return c;
    };

    it("observes with verify.sh and the plan, the script kept out of diffs, the key as a secret", async function () {
        stdout.set("v-remap-check", stdoutOf("remap-pass"));
        const v = new mod.HostVerification("v-remap", { connection, runtime: "docker-remap", ...remapArgs });
        const result = await promiseOf(v.result);
        const c = checkOf("v-remap");
        const { start, count } = remapPass.expectedRange;
        assert.equal(c.inputs.__observe, `bash -s -- observe --runtime docker-remap --user ${remapPass.user.name} --expect-range ${start}:${count}`);
        // verify.sh by path and digest: the state holds no script (issue #29).
        assert.deepEqual(c.inputs.__scriptRefs, { verify: `verify/verify.sh ${scriptDigest(script)}` });
        assert.equal(c.inputs.__scripts, undefined);
        assert.equal(check.scriptsByRef(c.inputs.__scriptRefs).verify, script);
        assert.ok(isSecret(c.inputs.__connection), "the connection (with its key) is secret");
        assert.deepEqual(c.inputs.drift, [], "the program declares no drift");
        assert.deepEqual(c.inputs.repair, [], "and nothing to repair");
        assert.equal(c.inputs.rerunOn.length, 1);
        assert.match(c.inputs.rerunOn[0], /^verify sha256:[0-9a-f]{16}$/);
        const component = resources.find((r) => r.type === "hardened-hosts:verify:HostVerification");
        assert.equal(component?.name, "v-remap");

        assert.deepEqual(result, hostResult(remapPass, { host: "10.0.0.9", runtime: "docker-remap", ...remapArgs }));
        assert.equal(result.passed, true);
        assert.equal(await promiseOf(v.passed), true);
    });

    it("adds --image and --docker-host, goes through sudo -n for a non-root login, names the host", async function () {
        stdout.set("v-rl-check", stdoutOf("docker-rootless-pass"));
        const v = new mod.HostVerification("v-rl", {
            connection: { host: "203.0.113.5", user: "admin", password: "pw" },
            runtime: "docker-rootless",
            user: pulumi.output(rootlessPass.user.name),
            expectedRange: pulumi.output(rootlessPass.expectedRange),
            image: "hardened-hosts/verify:busybox",
            dockerHost: `unix:///run/user/${rootlessPass.user.uid}/docker.sock`,
            hostName: "edge-1",
        });
        const result = await promiseOf(v.result);
        const c = checkOf("v-rl");
        assert.equal(
            c.inputs.__observe,
            `sudo -n bash -s -- observe --runtime docker-rootless --user ${rootlessPass.user.name} ` +
                `--expect-range ${rootlessPass.expectedRange.start}:65536 --image hardened-hosts/verify:busybox ` +
                `--docker-host unix:///run/user/${rootlessPass.user.uid}/docker.sock`,
        );
        assert.ok(isSecret(c.inputs.__connection));
        assert.equal(result.host, "edge-1");
        assert.equal(result.mode, "rootless");
    });

    it("rerunOn: each step's digest, verify.sh's, then the extra values, so any change re-observes", async function () {
        stdout.set("v-t1-check", stdoutOf("podman-pass"));
        stdout.set("v-t2-check", stdoutOf("podman-pass"));
        const steps = (cmd: string) => [{ name: "runtime" as const, command: pulumi.output(cmd), script: "rootless/rootless.sh" }];
        const a = new mod.HostVerification("v-t1", { connection, runtime: "podman", ...podmanArgs, rerunOn: ["cfg-1"], steps: steps("apply --user a") });
        const b = new mod.HostVerification("v-t2", { connection, runtime: "podman", ...podmanArgs, rerunOn: ["cfg-2"], steps: steps("apply --user b") });
        await Promise.all([promiseOf(a.result), promiseOf(b.result)]);
        const [ra, rb] = [checkOf("v-t1").inputs.rerunOn, checkOf("v-t2").inputs.rerunOn];
        assert.match(ra[0], /^runtime sha256:/);
        assert.notEqual(ra[0], rb[0], "a changed step command changes its digest");
        assert.equal(ra[1], rb[1], "the same verify.sh and arguments give the same digest");
        assert.deepEqual([ra[2], rb[2]], ["cfg-1", "cfg-2"]);
        assert.deepEqual(checkOf("v-t1").inputs.__steps, [{ name: "runtime", command: "apply --user a" }]);
        assert.equal(check.scriptsByRef(checkOf("v-t1").inputs.__scriptRefs).runtime, readHostScript("rootless/rootless.sh"));
    });

    for (const fixture of ["remap-off", "remap-userns-host"]) {
        it(`a failed check fails the update with every failed check (${fixture})`, async function () {
            const o = obs(fixture);
            stdout.set(`v-${fixture}-check`, stdoutOf(fixture));
            const v = new mod.HostVerification(`v-${fixture}`, { connection, runtime: "docker-remap", user: o.user.name, expectedRange: o.expectedRange, hostName: "host-c" });
            const { error } = await settle(v.result);
            assert.ok(error instanceof Error, String(error));
            const message = (error as Error).message;
            const expected = hostResult(o, { host: "host-c", runtime: "docker-remap", user: o.user.name, expectedRange: o.expectedRange });
            const failed = expected.checks.filter((c) => !c.passed);
            assert.ok(failed.length > 0);
            assert.match(message, new RegExp(`host-c \\(docker-remap\\): ${failed.length} of 14 checks failed`));
            for (const c of failed) assert.ok(message.includes(`  - ${c.name}: observed ${c.observed}; expected ${c.expected}`), `${c.name} in ${message}`);
            assert.match(message, /After fixing the host: pulumi up --refresh/);
            assert.match(message, /reportOnly: true/);
        });
    }

    it("reportOnly: the same failures are exported, the update goes on", async function () {
        const o = obs("remap-off");
        stdout.set("v-report-check", stdoutOf("remap-off"));
        const v = new mod.HostVerification("v-report", { connection, runtime: "docker-remap", user: o.user.name, expectedRange: o.expectedRange, reportOnly: pulumi.output(true) });
        const result = await promiseOf(v.result);
        assert.equal(result.passed, false);
        assert.equal(result.mode, "rootful");
        assert.equal(result.containerRootHostUid, 0);
        assert.deepEqual(result.uidMap, ["0 0 4294967295"]);
        assert.equal(result.checks.filter((c) => !c.passed).length, 8);
        assert.equal(await promiseOf(v.passed), false);
    });

    it("a warning-only finding (rootless --userns=host) does not fail the update", async function () {
        const o = JSON.parse(stdoutOf("podman-pass"));
        o.containers.running = [{ id: "0123456789ab", name: "shared", usernsMode: "host", privileged: false }];
        stdout.set("v-warn-check", JSON.stringify(o) + "\n");
        const v = new mod.HostVerification("v-warn", { connection, runtime: "podman", ...podmanArgs });
        const result = await promiseOf(v.result);
        assert.equal(result.passed, true);
        assert.equal(result.checks.find((c) => c.name === "no-userns-host-containers")?.severity, "warning");
    });

    it("stdout that is not an observation fails with verify.sh's own error", async function () {
        stdout.set("v-broken-check", '{"ok":false,"action":"observe","error":"observe must run as root"}\n');
        const v = new mod.HostVerification("v-broken", { connection, runtime: "podman", ...podmanArgs, reportOnly: true });
        const { error } = await settle(v.result);
        assert.ok(error instanceof Error, String(error));
        assert.match((error as Error).message, /10\.0\.0\.9 \(podman\): verify\.sh failed: observe must run as root/);
    });

    const invalid: [string, object, RegExp][] = [
        ["an unknown runtime", { runtime: "lxc" }, /runtime: "lxc" is not one of "docker-remap", "docker-rootless", "podman"/],
        ["root as the user", { user: "root" }, /user: "root" is not a valid non-root user name/],
        ["a user with shell characters", { user: "a$(id)" }, /user: "a\$\(id\)" is not a valid/],
        ["a range under 65536", { expectedRange: { start: 2147483648, count: 4096 } }, /expectedRange: count 4096 is below 65536/],
        ["a range past 2^32-2", { expectedRange: { start: 4294967295 - 65535, count: 65536 } }, /expectedRange: range ends past 4294967294/],
        ["a fractional range", { expectedRange: { start: 1.5, count: 65536 } }, /expectedRange: start and count must be non-negative integers/],
        ["an image with a space", { image: "busybox latest" }, /image: "busybox latest" is not an image reference/],
        ["an image that looks like an option", { image: "-v/:/host" }, /image: "-v\/:\/host" is not an image reference/],
        ["a docker host with a quote", { dockerHost: "unix:///x'y" }, /dockerHost: "unix:\/\/\/x'y" is not a daemon address/],
        ["a docker host for podman", { runtime: "podman", dockerHost: "unix:///x.sock" }, /dockerHost: is for the docker runtimes, not podman/],
        ["reportOnly not a boolean", { reportOnly: "yes" }, /reportOnly: must be true or false/],
    ];
    for (const [what, override, message] of invalid) {
        it(`stops before registering anything for ${what}`, function () {
            assert.throws(
                () => new mod.HostVerification(`bad-${what.replace(/\W+/g, "-")}`, { connection, runtime: "docker-remap", ...remapArgs, ...override } as any),
                (e: Error) => e instanceof pulumi.ResourceError && message.test(e.message),
            );
            assert.equal(resources.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource").length, 0);
        });
    }

    it("checks Output inputs when they resolve", async function () {
        const v = new mod.HostVerification("v-late", { connection, runtime: "podman", user: pulumi.output("Bad-Name"), expectedRange: podmanPass.expectedRange });
        const { error } = await settle(v.result);
        assert.ok(error instanceof pulumi.ResourceError);
        assert.match((error as Error).message, /user: "Bad-Name" is not a valid non-root user name/);
    });
});
