import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecret, promiseOf } from "../support/mocks";

// FleetProvider.construct against Pulumi mocks: the inputs another language sends (plain values,
// secrets as Outputs) become the library's HardenedFleet; bad input is one InputPropertiesError
// naming every wrong argument, raised before anything is registered.
const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd1dGV4YW1wbGVrZXl3dXRleGFtcGxla2V5d3V0ZXhh";

describe("component provider: construct (mocks)", function () {
    const mocks = installMocks();
    let mod: typeof import("../../components/provider/provider");

    before(async function () {
        mod = await import("../../components/provider/provider");
    });
    beforeEach(function () {
        mocks.resources.length = 0;
    });

    const construct = (inputs: Record<string, unknown>, name = "fleet") =>
        new mod.FleetProvider("0.1.0").construct(name, "hardened-hosts:index:HardenedFleet", inputs, {});

    it("names every wrong argument in one error, before any resource is registered", async function () {
        const err = await construct({
            tenants: { "tenant-a": {}, Bad_T: { size: 12 } },
            hosts: {
                "edge-1": { address: "bad host", privateKey: "ssh-ed25519 AAAA", runtime: { mode: "userns-rmap" }, tenants: ["tenant-z"] },
                "edge-2": { address: "10.0.0.2", port: 70000, privateKey: KEY, runtime: { mode: "podman", slots: 4 } },
                "Edge_3": { address: "10.0.0.3", privateKey: KEY, hostKey: "nope", runtime: { mode: "podman-auto", slots: 1 }, verfy: false },
            },
            reportOnly: "yes",
        }).then(() => undefined, (e: unknown) => e);
        assert.ok(pulumi.InputPropertiesError.isInstance(err), String(err));
        const paths = err.errors.map((e) => e.propertyPath).sort();
        assert.deepEqual(paths, [
            "hosts.Edge_3",
            "hosts.Edge_3.hostKey",
            "hosts.Edge_3.runtime.slots",
            "hosts.Edge_3.verfy",
            "hosts.edge-1.address",
            "hosts.edge-1.privateKey",
            "hosts.edge-1.runtime.mode",
            "hosts.edge-1.tenants",
            "hosts.edge-2.port",
            "hosts.edge-2.runtime.slots",
            "hosts.edge-2.runtime.user",
            "reportOnly",
            "tenants.Bad_T",
            "tenants.Bad_T.size",
        ]);
        const reason = (p: string) => err.errors.find((e) => e.propertyPath === p)!.reason;
        assert.match(reason("hosts.edge-1.runtime.mode"), /"userns-rmap" is not one of "userns-remap", "docker-rootless", "podman", "podman-auto"/);
        assert.match(reason("hosts.edge-2.runtime.slots"), /is not a podman setting/);
        assert.match(reason("hosts.edge-1.tenants"), /"tenant-z" is not one of the fleet's tenants/);
        assert.match(err.message, /^14 problems in the arguments/);
        assert.deepEqual(mocks.resources, [], "nothing registered");
    });

    it("no hosts, or hosts that are not a map: said so", async function () {
        for (const [hosts, why] of [[undefined, /is required/], [{}, /at least one host/], [["a"], /must be a map/]] as const) {
            const err = await construct(hosts === undefined ? {} : { hosts }).then(() => undefined, (e: unknown) => e);
            assert.ok(pulumi.InputPropertiesError.isInstance(err), String(err));
            assert.deepEqual(err.errors.map((e) => e.propertyPath), ["hosts"]);
            assert.match(err.errors[0]!.reason, why);
        }
    });

    it("a structural field given as an Output (a secret) is refused: the fleet's shape must be known", async function () {
        const err = await construct({
            hosts: { a: { address: "10.0.0.1", privateKey: KEY, runtime: pulumi.secret({ mode: "userns-remap" }) } },
        }).then(() => undefined, (e: unknown) => e);
        assert.ok(pulumi.InputPropertiesError.isInstance(err), String(err));
        assert.deepEqual(err.errors.map((e) => e.propertyPath), ["hosts.a.runtime"]);
        assert.match(err.errors[0]!.reason, /must be a plain value/);
    });

    it("builds the library's HardenedFleet: one allocation, each host's runtime, the key kept secret", async function () {
        const result = await construct({
            tenants: { "tenant-a": {}, "tenant-b": { size: 131072 } },
            hosts: {
                "edge-1": { address: "10.0.0.1", port: 2222, privateKey: pulumi.secret(KEY), hostKey: HOST_KEY, tenants: ["tenant-a", "tenant-b"],
                    runtime: { mode: "userns-remap", daemonOptions: { "no-new-privileges": true } } },
                "edge-2": { address: "10.0.0.2", user: "deploy", privateKey: KEY, runtime: { mode: "docker-rootless", user: "dockeruser" }, verify: false },
            },
        });
        // Registrations reach the mocks asynchronously: wait for the outputs first.
        const allocation = await promiseOf(result.state.allocation as pulumi.Output<Record<string, { start: number; count: number }>>);
        assert.ok(await promiseOf(result.state.table as pulumi.Output<string>));
        const registered = (n: string) => mocks.resources.some((r) => r.name === n);
        for (let i = 0; i < 100 && !(registered("edge-1-verify") && registered("edge-2-docker-rootless-runtime")); i++) await new Promise((r) => setTimeout(r, 20));
        const types = mocks.resources.map((r) => `${r.type} ${r.name}`);
        assert.ok(types.includes("hardened-hosts:index:HardenedHost edge-1"), types.join("\n"));
        assert.ok(types.includes("hardened-hosts:index:HardenedHost edge-2"), types.join("\n"));
        assert.ok(types.some((t) => t.startsWith("hardened-hosts:verify:HostVerification edge-1-verify")), types.join("\n"));
        assert.ok(!types.some((t) => t.includes("edge-2-verify")), "edge-2 is not verified (verify: false)");
        assert.deepEqual(Object.keys(allocation).sort(), ["dockeruser", "dockremap", "tenant-a", "tenant-b"]);
        assert.equal(allocation["tenant-b"]!.count, 131072);
        const daemon = mocks.resources.find((r) => r.name === "edge-1-docker-daemon")!;
        assert.match(daemon.inputs.create, /no-new-privileges/);
        // The connection holds the key, so it travels as a secret.
        assert.ok(isSecret(daemon.inputs.connection));
        assert.equal(daemon.inputs.connection.value.port, 2222);
        assert.equal(daemon.inputs.connection.value.hostKey, HOST_KEY);
        const rootless = mocks.resources.find((r) => r.name === "edge-2-docker-rootless-runtime")!;
        assert.match(rootless.inputs.create, /^sudo -n /);
        assert.match(rootless.inputs.create, /--user dockeruser/);
    });

    it("refuses other type tokens", async function () {
        await assert.rejects(new mod.FleetProvider("0.1.0").construct("x", "hardened-hosts:index:HardenedHost", {}, {}), /this provider serves hardened-hosts:index:HardenedFleet/);
    });
});
