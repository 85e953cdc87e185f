import * as assert from "node:assert/strict";
import * as command from "@pulumi/command";
import { installMachineMocks } from "../machines/support";
import { settle } from "../support/mocks";

// HardenedHost's first command waits for both ways of saying what the host waits for: the
// `dependsOn` argument (what HardenedFleet passes) and the component's own `dependsOn` option.
describe("HardenedHost dependsOn (mocks)", function () {
    const mocks = installMachineMocks();
    let hostMod: typeof import("../../components/fleet/hardened-host");
    const range = { start: 2147483648, count: 65536 };

    before(async function () {
        hostMod = await import("../../components/fleet/hardened-host");
    });

    it("decides support after the dependsOn argument and the dependsOn option, then subids-host.sh, the rest after it", async function () {
        const fromArgs = new command.local.Command("hd-args", { create: "true" });
        const fromOpts = new command.local.Command("hd-opts", { create: "true" });
        const host = new hostMod.HardenedHost("hd", {
            connection: { host: "10.0.0.5", privateKey: "k" },
            runtime: { mode: "userns-remap" },
            allocation: { dockremap: range },
            verify: { reportOnly: true },
            dependsOn: [fromArgs],
        }, { dependsOn: [fromOpts] });
        // Settled, not resolved: the mocks' `{}` is no verify.sh observation, so the result fails
        // after every command was registered.
        await settle(host.verification!);
        const urn = (name: string) => mocks.urns.get(name);
        const deps = (name: string) => mocks.dependencies.get(name) ?? [];

        // The first step is the support decision (components/platform/); subids-host.sh comes after it.
        assert.ok(deps("hd-support").includes(urn("hd-args")!), deps("hd-support").join(", "));
        assert.ok(deps("hd-support").includes(urn("hd-opts")!), deps("hd-support").join(", "));
        assert.ok(deps("hd-subids-write").includes(urn("hd-support")!), deps("hd-subids-write").join(", "));
        assert.ok(deps("hd-docker-daemon").includes(urn("hd-subids-write")!));
        assert.ok(deps("hd-verify-check").includes(urn("hd-docker-daemon")!));
    });

    it("HardenedFleet's dependsOn option reaches every host's first step (the support decision)", async function () {
        const fleetMod = await import("../../components/fleet/hardened-fleet");
        const before = new command.local.Command("fd-before", { create: "true" });
        const fleet = new fleetMod.HardenedFleet("fd", {
            tenants: {},
            hosts: {
                "fd-a": { connection: { host: "10.0.0.6", privateKey: "k" }, runtime: { mode: "userns-remap" }, verify: { reportOnly: true } },
                "fd-b": { connection: { host: "10.0.0.7", privateKey: "k" }, runtime: { mode: "podman", user: "builder" }, verify: { reportOnly: true } },
            },
        }, { dependsOn: [before] });
        await settle(fleet.summary);
        for (const h of ["fd-a", "fd-b"]) {
            const deps = mocks.dependencies.get(`${h}-support`) ?? [];
            assert.ok(deps.includes(mocks.urns.get("fd-before")!), `${h}: ${deps.join(", ")}`);
        }
    });
});
