import * as assert from "node:assert/strict";
import { installMocks, promiseOf } from "../support/mocks";

// Issue 28: no subordinate IDs for system accounts. Names alone decide at preview: one error
// naming every wrong field, before anything is registered; what only the host knows (an account
// with a UID below UID_MIN) is left to subids-host.sh, told which owner is the project's own
// system account (--system) and which daemon.json to check first (--docker-config).
describe("system accounts get no subordinate IDs (mocks)", function () {
    const mocks = installMocks();
    let fleetMod: typeof import("../../components/fleet/hardened-fleet");
    let rootlessMod: typeof import("../../components/rootless/runtime");
    const conn = (host: string) => ({ host, privateKey: "k" });

    before(async function () {
        fleetMod = await import("../../components/fleet/hardened-fleet");
        rootlessMod = await import("../../components/rootless/runtime");
    });
    beforeEach(function () {
        mocks.resources.length = 0;
    });

    it("refuses tenants, rootless users, remap users and pool owners named as system accounts, and a tenant named as the remap user placed on a host, in one error", function () {
        assert.throws(
            () => new fleetMod.HardenedFleet("sa1", {
                tenants: { root: {}, daemon: {}, nobody: {}, dockremap: {}, "0": {}, "999": {}, "tenant-a": {}, "1000": {} },
                hosts: {
                    "host-a": { connection: conn("10.0.0.1"), runtime: { mode: "userns-remap" }, tenants: ["tenant-a", "dockremap"] },
                    "host-b": { connection: conn("10.0.0.2"), runtime: { mode: "podman", user: "daemon" } },
                    "host-c": { connection: conn("10.0.0.3"), runtime: { mode: "userns-remap", remapUser: "nobody" } },
                    "host-d": { connection: conn("10.0.0.4"), runtime: { mode: "podman-auto", poolOwner: "bin" } },
                },
            }),
            (e: Error) => {
                assert.match(e.message, /^9 problems:\n/);
                for (const line of [
                    /\n {2}tenants\.root: "root" is a system account: system accounts get no subordinate IDs; pick another name/,
                    /\n {2}tenants\.daemon: "daemon" is a system account/,
                    /\n {2}tenants\.nobody: "nobody" is a system account/,
                    /\n {2}hosts\.host-a\.tenants: "dockremap" is the userns-remap user of host host-a: a tenant of that name would share Docker's remap range/,
                    /\n {2}tenants\.0: UID 0 is a system account's/,
                    /\n {2}tenants\.999: UID 999 is a system account's/,
                    /\n {2}hosts\.host-b\.runtime\.user: "daemon" is a system account/,
                    /\n {2}hosts\.host-c\.runtime\.remapUser: "nobody" is a system account/,
                    /\n {2}hosts\.host-d\.runtime\.poolOwner: "bin" is a system account/,
                ]) assert.match(e.message, line);
                assert.doesNotMatch(e.message, /tenant-a|tenants\.1000|tenants\.dockremap/);
                return true;
            },
        );
        assert.equal(mocks.resources.length, 0, "nothing registered");
    });

    it("a rootless runtime for a system account is refused by the component itself", function () {
        assert.throws(
            () => new rootlessMod.RootlessRuntime("sa2", { connection: conn("10.0.0.1"), mode: "podman", user: "nobody", range: { start: 2147483648, count: 65536 } }),
            /user: "nobody" is a system account/,
        );
    });

    it("verification observes every line of the managed block, tenants included (--expect-lines)", async function () {
        const fleet = new fleetMod.HardenedFleet("sa4", {
            tenants: { "tenant-a": {}, "tenant-b": {} },
            hosts: { "host-a": { connection: conn("10.0.0.1"), runtime: { mode: "userns-remap" }, tenants: ["tenant-a", "tenant-b"] } },
        });
        const lines = await promiseOf(fleet.hosts["host-a"]!.subidLines);
        await new Promise((r) => setTimeout(r, 100));
        const check = mocks.resources.find((x) => x.name === "host-a-verify-check");
        assert.ok(check, "the check registered");
        assert.match(String(check.inputs.__observe), new RegExp(` --expect-lines '${lines.join(" ")}'$`));
        assert.equal(lines.length, 3);
    });

    it("a fleet tenant named as the remap user, on no host, only sizes the remap range (allowed)", async function () {
        const fleet = new fleetMod.HardenedFleet("sa5", {
            tenants: { "tenant-a": {}, dockremap: { size: 131072 } },
            hosts: { "host-a": { connection: conn("10.0.0.1"), runtime: { mode: "userns-remap" }, tenants: ["tenant-a"], verify: false } },
        });
        assert.equal((await promiseOf(fleet.allocation))["dockremap"]!.count, 131072);
    });

    it("the subids step names the remap user as the only system owner, checks daemon.json first and deletes the recorded accounts on destroy; a rootless host names none", async function () {
        const fleet = new fleetMod.HardenedFleet("sa3", {
            tenants: { "tenant-a": {} },
            hosts: {
                "host-a": { connection: conn("10.0.0.1"), runtime: { mode: "userns-remap" }, tenants: ["tenant-a"], verify: false },
                "host-b": { connection: conn("10.0.0.2"), runtime: { mode: "podman", user: "alice" }, verify: false },
                "host-c": { connection: conn("10.0.0.3"), runtime: { mode: "podman-auto" }, verify: false },
            },
        });
        const allocation = await promiseOf(fleet.allocation);
        const line = (o: string) => `${o}:${allocation[o]!.start}:${allocation[o]!.count}`;
        const create = (name: string) => {
            const r = mocks.resources.find((x) => x.name === name);
            assert.ok(r, `${name} registered`);
            return r.inputs.create as string;
        };
        await promiseOf(fleet.hosts["host-c"]!.subidLines);
        await new Promise((r) => setTimeout(r, 50));
        assert.equal(create("host-a-subids-write"),
            `bash -s -- apply ${[line("dockremap"), line("tenant-a")].sort((a, b) => Number(a.split(":")[1]) - Number(b.split(":")[1])).join(" ")} --stack hardened-hosts/test --system dockremap --docker-config /etc/docker/daemon.json`);
        assert.equal(create("host-b-subids-write"), `bash -s -- apply ${line("alice")} --stack hardened-hosts/test`);
        assert.equal(create("host-c-subids-write"), `bash -s -- apply ${line("containers")} --stack hardened-hosts/test --system containers`);
        // destroy: the accounts docker-remap.sh created and recorded go after our lines (userns-remap only).
        const del = (name: string) => mocks.resources.find((x) => x.name === name)!.inputs.delete as string;
        assert.equal(del("host-a-subids-write"), "bash -s -- remove --stack hardened-hosts/test --delete-accounts /etc/docker/daemon.json.hardened-hosts.user");
        assert.equal(del("host-b-subids-write"), "bash -s -- remove --stack hardened-hosts/test");
        assert.equal(del("host-c-subids-write"), "bash -s -- remove --stack hardened-hosts/test");
    });
});
