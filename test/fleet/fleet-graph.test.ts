import * as assert from "node:assert/strict";
import { installMocks, promiseOf } from "../support/mocks";

// HardenedFleet / HardenedHost resource graph against Pulumi mocks: names that read well in a
// preview, one fleet allocation shared by every host, and what waits for what.
describe("HardenedFleet (mocks)", function () {
    const mocks = installMocks();
    let fleetMod: typeof import("../../components/fleet/hardened-fleet");
    const conn = (host: string) => ({ host, privateKey: "k" });

    before(async function () {
        fleetMod = await import("../../components/fleet/hardened-fleet");
    });
    beforeEach(function () {
        mocks.resources.length = 0;
    });

    function makeFleet(name: string) {
        return new fleetMod.HardenedFleet(name, {
            tenants: { "tenant-a": {}, "tenant-b": { size: 131072 } },
            hosts: {
                "host-a": { connection: conn("10.0.0.1"), runtime: { mode: "userns-remap" }, tenants: ["tenant-a", "tenant-b"], verify: false },
                "host-b": { connection: conn("10.0.0.2"), runtime: { mode: "podman", user: "alice" }, tenants: ["tenant-a"], verify: false },
            },
        });
    }

    it("gives every owner one fleet-wide range and each host only its owners", async function () {
        const fleet = makeFleet("f1");
        const allocation = await promiseOf(fleet.allocation);
        assert.deepEqual(Object.keys(allocation).sort(), ["alice", "dockremap", "tenant-a", "tenant-b"]);
        const a = await promiseOf(fleet.hosts["host-a"]!.subidLines);
        const b = await promiseOf(fleet.hosts["host-b"]!.subidLines);
        const line = (o: string) => `${o}:${allocation[o]!.start}:${allocation[o]!.count}`;
        assert.deepEqual(new Set(a), new Set([line("dockremap"), line("tenant-a"), line("tenant-b")]));
        assert.deepEqual(new Set(b), new Set([line("alice"), line("tenant-a")]));
    });

    it("names children after their host, with the runtime owner's range in the runtime command", async function () {
        const fleet = makeFleet("f2");
        await promiseOf(fleet.hosts["host-b"]!.subidLines);
        await promiseOf(fleet.table);
        await new Promise((r) => setTimeout(r, 100));
        const names = mocks.resources.map((r) => r.name);
        for (const n of ["f2-subids", "host-a", "host-a-subids", "host-a-subids-write", "host-a-docker", "host-a-docker-daemon",
            "host-b-subids-write", "host-b-podman", "host-b-podman-runtime"]) {
            assert.ok(names.includes(n), `${n} in ${names.join(", ")}`);
        }
        const podman = mocks.resources.find((r) => r.name === "host-b-podman-runtime");
        assert.match(podman?.inputs.create ?? "", /--mode podman --user alice .*--expect-range \d+:65536/);
    });

    it("runs every host's work as a HostWork of the dynamic provider, with no Command provider (issue #29)", async function () {
        const fleet = makeFleet("f6");
        await promiseOf(fleet.hosts["host-b"]!.subidLines);
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(mocks.resources.filter((r) => r.type === "pulumi:providers:command").map((p) => p.name), []);
        assert.deepEqual(mocks.resources.filter((r) => r.type === "command:remote:Command").map((c) => c.name), []);
        const work = mocks.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/host:HostWork");
        assert.ok(work.length >= 4, `host work: ${work.map((c) => c.name).join(", ")}`);
        for (const c of work) {
            assert.equal(c.inputs.stdin, undefined, c.name);
            assert.match(c.inputs.scriptDigest, /^sha256:[0-9a-f]{16}$/, c.name);
        }
    });

    it("refuses a host tenant the fleet does not have, naming the field", function () {
        assert.throws(
            () => new fleetMod.HardenedFleet("f3", {
                tenants: {},
                hosts: { "host-a": { connection: conn("10.0.0.1"), runtime: { mode: "userns-remap" }, tenants: ["ghost"] } },
            }),
            /hosts\.host-a\.tenants: "ghost" is not one of the fleet's tenants/,
        );
    });

    it("names every problem of the arguments in one error, not one per run", function () {
        assert.throws(
            () => new fleetMod.HardenedFleet("f5", {
                tenants: { "Bad Tenant": {} },
                hosts: {
                    "Host A": { connection: conn("x"), runtime: { mode: "userns-remap" } },
                    "host-b": { connection: conn("y"), runtime: { mode: "userns-remap" }, tenants: ["ghost"] },
                },
            }),
            (e: Error) => {
                assert.match(e.message, /^3 problems:\n/);
                assert.match(e.message, /\n  tenants\.Bad Tenant: is not a valid login name or UID/);
                assert.match(e.message, /\n  hosts\.Host A: host names must match/);
                assert.match(e.message, /\n  hosts\.host-b\.tenants: "ghost" is not one of the fleet's tenants/);
                return true;
            },
        );
    });

    it("refuses host names that would not read as resource names", function () {
        assert.throws(
            () => new fleetMod.HardenedFleet("f4", { hosts: { "Host A": { connection: conn("x"), runtime: { mode: "userns-remap" } } } }),
            /hosts\.Host A: host names must match/,
        );
    });
});
