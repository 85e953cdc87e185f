import * as assert from "node:assert/strict";
import * as net from "node:net";
import { CheckProps, UNREACHABLE, hostCheckProvider, repairPlan, stepFor } from "../../components/verify/host-check";

// HostCheck's provider without the engine: which steps repair which drift (pure), and what a
// refresh records for a host that does not answer (a real connection to a closed port).
describe("HostCheck provider", function () {
    it("maps drifted checks to the steps that repair them, subids before the runtime", function () {
        assert.equal(stepFor("subuid-range"), "subids");
        assert.equal(stepFor("daemon-mode"), "runtime");
        assert.equal(stepFor("linger"), "runtime");
        for (const notOurs of ["subuid-no-overlap", "subgid-no-overlap", "no-userns-host-containers", UNREACHABLE]) {
            assert.equal(stepFor(notOurs), undefined, `${notOurs} is reported, never "repaired"`);
        }
        assert.deepEqual(repairPlan(["subgid-range"]), ["subids", "runtime"], "new lines need the runtime restarted too");
        assert.deepEqual(repairPlan(["uid-map", "daemon-mode"]), ["runtime"]);
        assert.deepEqual(repairPlan(["subuid-no-overlap"]), []);
    });

    it("refresh of a host that does not answer records it as failed (host-observed), not as an error", async function () {
        // A port nothing listens on: bind one, then close it.
        const port = await new Promise<number>((resolve) => {
            const s = net.createServer().listen(0, "127.0.0.1", () => {
                const p = (s.address() as net.AddressInfo).port;
                s.close(() => resolve(p));
            });
        });
        const props: CheckProps = {
            host: "gone-1",
            runtime: "podman",
            user: "alice",
            expectedRange: { start: 2147483648, count: 65536 },
            reportOnly: false,
            rerunOn: [],
            drift: [],
            repair: [],
            __observe: "bash -s -- observe",
            __steps: [],
            __connection: { host: "127.0.0.1", port, user: "root", password: "x", dialErrorLimit: 1, perDialTimeout: 2 },
            __scripts: { verify: "true" },
        };
        const r = await hostCheckProvider.read!("gone-1:podman", props);
        const outs = r.props as CheckProps;
        assert.equal(outs.result?.passed, false);
        assert.equal(outs.result?.mode, "unreachable");
        assert.deepEqual(outs.result?.checks.map((c) => c.name), [UNREACHABLE]);
        assert.match(outs.drift[0]!, /^host-observed: observed ssh root@127\.0\.0\.1:\d+: .*ECONNREFUSED/);
        assert.deepEqual((r.inputs as CheckProps).repair, [], "nothing to re-run: the host must answer first");
        const d = await hostCheckProvider.diff!("gone-1:podman", outs, { ...props, drift: [], repair: [] });
        assert.equal(d.changes, true, "the next preview shows it");
    });
});

describe("HostCheck's packed scripts", function () {
    it("round-trips, gives the same text for the same scripts (any key order), and is much smaller", async function () {
        const { packScripts, unpackScripts } = await import("../../components/verify/host-check");
        const { readHostScript } = await import("../../components/host/script");
        const scripts = { verify: readHostScript("verify/verify.sh"), subids: readHostScript("subids/subids-host.sh"), runtime: readHostScript("docker/docker-remap.sh") };
        const packed = packScripts(scripts);
        assert.deepEqual(unpackScripts(packed), scripts);
        assert.equal(packScripts({ runtime: scripts.runtime, subids: scripts.subids, verify: scripts.verify }), packed, "deterministic: inputs do not change between runs");
        // Packed once per distinct set (hosts of one mode share it); another set is packed anew.
        const edited = { ...scripts, runtime: `${scripts.runtime}\n# edited\n` };
        assert.equal(unpackScripts(packScripts(edited)).runtime, edited.runtime);
        assert.equal(unpackScripts(packScripts(scripts)).runtime, scripts.runtime);
        const plain = JSON.stringify(scripts).length;
        assert.ok(packed.length * 2 < plain, `packed ${packed.length} of ${plain}`);
    });

    it("reads state from before the packing (a plain object) and refuses anything else", async function () {
        const { unpackScripts } = await import("../../components/verify/host-check");
        assert.deepEqual(unpackScripts({ verify: "true" }), { verify: "true" });
        assert.deepEqual(unpackScripts(undefined), {});
        assert.throws(() => unpackScripts("#!/bin/bash"), /__scripts: not a packed script set/);
    });
});
