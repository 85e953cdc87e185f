import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { sharedLedgerProblem } from "../../components/fleet/shard";
import { installMocks, promiseOf, settle } from "../support/mocks";

// A shard of a fleet (#29): HardenedFleet with `ledger` takes its ranges from a ledger another
// stack publishes, keeps no ledger of its own, and refuses what that ledger did not give.
describe("HardenedFleet as a shard of a shared ledger (mocks)", function () {
    const mocks = installMocks();
    let fleetMod: typeof import("../../components/fleet/hardened-fleet");
    const conn = (host: string) => ({ host, privateKey: "k" });
    const allocation = {
        dockremap: { start: 2147483648, count: 65536 },
        "tenant-a": { start: 2147549184, count: 65536 },
        "tenant-b": { start: 2147614720, count: 131072 },
        alice: { start: 2147745792, count: 65536 },
    };
    const share = (a: unknown = allocation, tenants: unknown = ["tenant-a", "tenant-b"]) =>
        ({ allocation: pulumi.output(a) as pulumi.Output<typeof allocation>, tenants: pulumi.output(tenants) as pulumi.Output<string[]>, source: "stack ledger" });

    before(async function () {
        fleetMod = await import("../../components/fleet/hardened-fleet");
    });
    beforeEach(function () {
        mocks.resources.length = 0;
    });

    it("writes exactly the ledger's ranges: a host that names no tenants gets every ledger tenant, no ledger of its own is registered", async function () {
        const fleet = new fleetMod.HardenedFleet("s1", {
            ledger: share(),
            hosts: {
                "host-a": { connection: conn("10.0.0.1"), runtime: { mode: "userns-remap" }, verify: false },
                "host-b": { connection: conn("10.0.0.2"), runtime: { mode: "podman", user: "alice" }, tenants: ["tenant-a"], verify: false },
            },
        });
        const line = (o: keyof typeof allocation) => `${o}:${allocation[o].start}:${allocation[o].count}`;
        assert.deepEqual(new Set(await promiseOf(fleet.hosts["host-a"]!.subidLines)), new Set([line("dockremap"), line("tenant-a"), line("tenant-b")]));
        assert.deepEqual(new Set(await promiseOf(fleet.hosts["host-b"]!.subidLines)), new Set([line("alice"), line("tenant-a")]));
        assert.deepEqual(await promiseOf(fleet.allocation), allocation);
        assert.match(await promiseOf(fleet.table), /tenant-b/);
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(mocks.resources.filter((r) => r.name === "s1-subids"), [], "no ledger of the shard's own");
    });

    it("refuses tenants, pool and reuseRetiredRanges of its own, in one error before anything is registered", function () {
        assert.throws(() => new fleetMod.HardenedFleet("s2", {
            ledger: share(),
            tenants: { "tenant-a": {} },
            pool: { start: 100000, end: 200000 },
            hosts: { "host-a": { connection: conn("10.0.0.1"), runtime: { mode: "userns-remap" }, verify: false } },
        }), /2 problems:\n.*tenants: is the ledger's \(stack ledger\), not a shard's: set it there\n.*pool: is the ledger's/);
    });

    it("fails when the ledger lacks an owner a host needs, naming each", async function () {
        const fleet = new fleetMod.HardenedFleet("s3", {
            ledger: share(),
            hosts: {
                "host-a": { connection: conn("10.0.0.1"), runtime: { mode: "podman", user: "bob" }, tenants: ["tenant-c"], verify: false },
            },
        });
        const { error } = await settle(fleet.allocation);
        assert.match(String(error), /ledger: stack ledger has no range for bob \(the podman owner of host-a\), tenant-c \(a tenant of host-a\): add them to the ledger stack and update it first/);
    });

    const bad: [string, unknown, unknown, RegExp][] = [
        ["overlapping ranges", { ...allocation, mallory: { start: 2147549184 + 100, count: 65536 } }, ["tenant-a"], /is not one ledger's: tenant-a .* overlaps mallory/],
        ["a range that is not one", { ...allocation, "tenant-a": { start: -1, count: 65536 } }, ["tenant-a"], /not a valid owner and range: "tenant-a"/],
        ["tenants not of the allocation", allocation, ["tenant-z"], /tenants are not a list of owners of its allocation/],
        ["not a map", "x", [], /allocation is not a map of owner to \{start, count\}/],
        ["a pool smaller than the mode needs", { ...allocation, containers: { start: 2200000000, count: 65536 } }, [], /containers has 65536 IDs there, host-a's podman-auto needs 1048576/],
    ];
    for (const [what, a, t, re] of bad) {
        it(`refuses a shared allocation with ${what}`, function () {
            const needs = { hostTenants: { "host-a": [] }, runtimes: { "host-a": what.includes("pool") ? { mode: "podman-auto" as const, slots: 16 } : { mode: "userns-remap" as const } } };
            assert.match(sharedLedgerProblem(a, t, needs, "stack ledger") ?? "", re);
        });
    }
});
