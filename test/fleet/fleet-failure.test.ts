import * as assert from "node:assert/strict";
import * as command from "@pulumi/command";
import { installMachineMocks, settleRegistrations } from "../machines/support";
import { promiseOf, settle } from "../support/mocks";

// What the engine sees of a fleet's graph, from the registrations the mocks receive: the order of
// each host's work, and that one host failing leaves the others' work to be recorded (what
// `pulumi up --continue-on-error` relies on).
describe("HardenedFleet ordering and failures (mocks)", function () {
    const mocks = installMachineMocks();
    let fleetMod: typeof import("../../components/fleet/hardened-fleet");
    const conn = (host: string) => ({ host, privateKey: "k" });

    before(async function () {
        fleetMod = await import("../../components/fleet/hardened-fleet");
    });
    beforeEach(function () {
        mocks.resources.length = 0;
        mocks.failures.clear();
        mocks.dependencies.clear();
        mocks.urns.clear();
    });

    const depNames = (name: string) => (mocks.dependencies.get(name) ?? []).map((urn) => urn.split("::").pop());

    it("runs each host's commands in order (after what the host waits for, subids, runtime, verification)", async function () {
        const ready = new command.local.Command("o-a-ready", { create: "true" });
        const fleet = new fleetMod.HardenedFleet("o", {
            hosts: {
                "o-a": { connection: conn("10.0.0.1"), runtime: { mode: "userns-remap" }, dependsOn: [ready] },
                "o-b": { connection: conn("10.0.0.2"), runtime: { mode: "podman", user: "alice" } },
            },
        });
        await promiseOf(fleet.table);
        await settleRegistrations(300);
        // o-a's first step (the support decision) waits for its ready resource (not only the
        // component), the next ones for the step before them.
        assert.ok(depNames("o-a-support").includes("o-a-ready"), depNames("o-a-support").join(", "));
        assert.ok(depNames("o-a-subids-write").includes("o-a-support"), depNames("o-a-subids-write").join(", "));
        assert.ok(depNames("o-a-docker-daemon").includes("o-a-subids-write"), "the runtime waits for the subids lines");
        assert.ok(depNames("o-b-podman-runtime").includes("o-b-subids-write"));
        assert.ok(depNames("o-a-verify-check").includes("o-a-docker-daemon"), "verification waits for the runtime");
        assert.ok(depNames("o-b-verify-check").includes("o-b-podman-runtime"));
        // Hosts wait for nothing of each other's.
        assert.deepEqual(depNames("o-b-subids-write").filter((d) => d!.startsWith("o-a")), []);
        assert.deepEqual(depNames("o-b-podman-runtime").filter((d) => d!.startsWith("o-a")), []);
    });

    it("records the other hosts' work when one host's command fails, and the failure names that host", async function () {
        mocks.failures.set("f-b-subids-write", "Process exited with status 3: subids-host.sh: conflict with an entry already on the host");
        const fleet = new fleetMod.HardenedFleet("f", {
            tenants: { "tenant-a": {} },
            hosts: {
                "f-a": { connection: conn("10.0.0.1"), runtime: { mode: "userns-remap" }, tenants: ["tenant-a"] },
                "f-b": { connection: conn("10.0.0.2"), runtime: { mode: "userns-remap" }, tenants: ["tenant-a"] },
                "f-c": { connection: conn("10.0.0.3"), runtime: { mode: "podman", user: "alice" }, tenants: ["tenant-a"] },
            },
        });
        const failed = await settle(fleet.hosts["f-b"]!.verification!);
        await settleRegistrations(300);
        const registered = mocks.resources.map((r) => r.name);

        // The healthy hosts' whole chain reached the engine.
        for (const n of ["f-a-subids-write", "f-a-docker-daemon", "f-a-verify-check", "f-c-subids-write", "f-c-podman-runtime", "f-c-verify-check"]) {
            assert.ok(registered.includes(n), `${n} in ${registered.join(", ")}`);
        }
        assert.deepEqual((await settle(fleet.hosts["f-a"]!.subidLines)).error, undefined);
        // The failing host: its command was sent and refused; what waits for it was never sent.
        assert.ok(mocks.dependencies.has("f-b-subids-write"), "f-b's command was attempted");
        assert.ok(!registered.includes("f-b-subids-write"));
        assert.deepEqual(registered.filter((n) => /^f-b-(docker-daemon|verify-check)$/.test(n)), []);
        // The error carries the host's resource name and the provider's message.
        const message = /failed to register new resource f-b-subids-write \[pulumi-nodejs:dynamic\/host:HostWork\]: Process exited with status 3: subids-host\.sh: conflict/;
        assert.match(String(failed.error), message);
        // The fleet summary is computed from every host: it fails with the same error (no partial
        // summary), while each healthy host's own outputs stand.
        assert.match(String((await settle(fleet.summary)).error), message);
    });
});
