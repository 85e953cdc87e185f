import * as assert from "node:assert/strict";
import { parseStackConfig } from "../../stacks/config";
import { installMocks, isSecret, promiseOf } from "../support/mocks";

// podman-auto's resource graph and inputs against Pulumi mocks: the command line the preview
// shows (pool and slots), the pool from the fleet's ledger (slots x size, the same on every host
// of the mode), bad input refused naming the field; and its stack config.
describe("PodmanAuto and the podman-auto mode (mocks)", function () {
    const mocks = installMocks();
    let mod: typeof import("../../components/podman/podman-auto");
    let fleetMod: typeof import("../../components/fleet/hardened-fleet");
    const connection = { host: "10.0.0.7", user: "admin", privateKey: "secret-key" };
    const pool = { start: 2147483648, count: 4 * 65536 };

    before(async function () {
        mod = await import("../../components/podman/podman-auto");
        fleetMod = await import("../../components/fleet/hardened-fleet");
    });
    beforeEach(function () {
        mocks.resources.length = 0;
    });
    const commandOf = (name: string) => mocks.resources.find((r) => r.type === "pulumi-nodejs:dynamic/host:HostWork" && r.name === name);

    it("runs podman-auto.sh apply with the pool, slots and size on its command line; remove on destroy", async function () {
        const c = new mod.PodmanAuto("host-a-podman-auto", { connection, pool, slots: 4, size: 65536 });
        await promiseOf(c.command.urn);
        const cmd = commandOf("host-a-podman-auto-runtime")!;
        assert.equal(cmd.inputs.create, "sudo -n bash -s -- apply --owner containers --pool 2147483648:262144 --slots 4 --size 65536 --install yes");
        assert.equal(cmd.inputs.delete, "sudo -n bash -s -- remove");
        assert.deepEqual(cmd.inputs.triggers, ["podman-auto"]);
        assert.ok(isSecret(cmd.inputs.connection));
        assert.equal(cmd.inputs.script, "podman/podman-auto.sh");
        assert.match(cmd.inputs.scriptDigest, /^sha256:[0-9a-f]{16}$/);
        assert.match(c.command.scriptText, /readonly EXIT_OK=0[\s\S]*readonly TOOL=podman-auto/, "the prelude goes first");
    });

    const invalid: [string, object, RegExp][] = [
        ["a pool that is not slots x size", { pool: { start: 2147483648, count: 65536 }, slots: 4 }, /pool: holds 65536 IDs, not slots 4 x size 65536 = 262144/],
        ["a size over 65536", { size: 131072, slots: 2, pool: { start: 2147483648, count: 262144 } }, /size: must be a whole number of IDs from 1024/],
        ["one slot", { slots: 1, pool: { start: 2147483648, count: 65536 } }, /slots: must be a whole number from 2/],
        ["root as pool owner", { poolOwner: "root" }, /poolOwner: "root" is not a valid non-root user name/],
    ];
    for (const [what, override, message] of invalid) {
        it(`refuses ${what}, naming the field, before any command exists`, function () {
            assert.throws(() => new mod.PodmanAuto(`bad-${what.replace(/\W+/g, "-")}`, { connection, pool, slots: 4, ...override }), (e: Error) => {
                assert.equal(e.constructor.name, "ResourceError");
                assert.match(e.message, message);
                return true;
            });
            assert.equal(mocks.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/host:HostWork").length, 0);
        });
    }

    it("a fleet gives the pool owner slots x size from the ledger, the same on every host of the mode", async function () {
        const fleet = new fleetMod.HardenedFleet("fa", {
            tenants: { "tenant-a": {} },
            hosts: {
                "host-a": { connection: { host: "10.0.0.1", privateKey: "k" }, runtime: { mode: "podman-auto", slots: 8, size: 65536 }, tenants: ["tenant-a"] },
                "host-b": { connection: { host: "10.0.0.2", privateKey: "k" }, runtime: { mode: "podman-auto", slots: 8 }, verify: false },
                "host-c": { connection: { host: "10.0.0.3", privateKey: "k" }, runtime: { mode: "userns-remap" }, verify: false },
            },
        });
        const allocation = await promiseOf(fleet.allocation);
        assert.equal(allocation["containers"]!.count, 8 * 65536);
        assert.equal(allocation["dockremap"]!.count, 65536);
        const line = `containers:${allocation["containers"]!.start}:${8 * 65536}`;
        assert.ok((await promiseOf(fleet.hosts["host-a"]!.subidLines)).includes(line));
        assert.ok((await promiseOf(fleet.hosts["host-b"]!.subidLines)).includes(line));
        await promiseOf(fleet.hosts["host-a"]!.verification!);
        const a = commandOf("host-a-podman-auto-runtime")!;
        assert.match(a.inputs.create, new RegExp(`--pool ${allocation["containers"]!.start}:524288 --slots 8 --size 65536`));
        const check = mocks.resources.find((r) => r.name === "host-a-verify-check")!;
        assert.match(check.inputs.__observe, /observe --runtime podman-auto --user containers --expect-range \d+:524288 --auto-size 65536 --expect-lines 'containers:\d+:524288 tenant-a:\d+:65536'$/);
        assert.equal(check.inputs.autoSize, 65536);
    });

    it("a fleet refuses two pools for one owner, and a tenant of that name with another size", function () {
        assert.throws(() => new fleetMod.HardenedFleet("fc", {
            tenants: { containers: {} },
            hosts: { "host-a": { connection: { host: "10.0.0.1", privateKey: "k" }, runtime: { mode: "podman-auto", slots: 8 } } },
        }), /hosts\.host-a\.runtime: needs a pool of 524288 IDs for "containers", but the tenant of that name has 65536/);
        assert.throws(() => new fleetMod.HardenedFleet("fb", {
            hosts: {
                "host-a": { connection: { host: "10.0.0.1", privateKey: "k" }, runtime: { mode: "podman-auto", slots: 8 } },
                "host-b": { connection: { host: "10.0.0.2", privateKey: "k" }, runtime: { mode: "podman-auto", slots: 4 } },
            },
        }), (e: Error) => {
            assert.match(e.message, /hosts\.host-b\.runtime: needs a pool of 262144 IDs for "containers", but host host-a needs 524288/);
            return true;
        });
    });

    describe("stack config", function () {
        const from = (values: Record<string, unknown>) => (key: string) => values[key];
        const host = { name: "node-1", address: "10.0.0.1" };
        it("reads podman-auto with its settings", function () {
            const plan = parseStackConfig(from({ machines: "existing", hosts: [{ ...host, runtime: { mode: "podman-auto", slots: 16, size: 4096, poolOwner: "podpool" } }] }));
            assert.ok(plan.kind === "existing");
            assert.deepEqual(plan.hosts[0]!.runtime, { mode: "podman-auto", poolOwner: "podpool", slots: 16, size: 4096 });
        });
        const bad: [string, unknown, RegExp][] = [
            ["a size under 1024", { mode: "podman-auto", size: 512 }, /hardened-hosts:hosts\[0\]\.runtime\.size: must be a whole number of IDs from 1024/],
            ["a pool under 65536", { mode: "podman-auto", slots: 2, size: 1024 }, /hardened-hosts:hosts\[0\]\.runtime: slots 2 x size 1024 = 2048 IDs: a pool holds at least 65536/],
            ["an unknown setting", { mode: "podman-auto", user: "x" }, /hardened-hosts:hosts\[0\]\.runtime\.user: is not a podman-auto setting/],
            ["an unknown mode", { mode: "podman-rootful" }, /runtime\.mode: "podman-rootful" is not one of "userns-remap", "docker-rootless", "podman", "podman-auto"/],
        ];
        for (const [what, runtime, message] of bad) {
            it(`names the key for ${what}`, function () {
                assert.throws(() => parseStackConfig(from({ machines: "existing", hosts: [{ ...host, runtime }] })), message);
            });
        }
    });
});
