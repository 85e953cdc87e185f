import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { installMocks, promiseOf } from "../support/mocks";

// kubelet-userns (issue #31): the fleet's wiring with mocks (the kubelet range from the ledger,
// aligned to idsPerPod; kubelet the one system owner; the preview's command lines; destroy
// deleting the account the script recorded), the refusals at preview, and kubelet-userns.sh on
// this machine (containerd 1.6 and runc 1.1.5: refused by name, nothing written; argument rules).
describe("kubelet-userns: the fleet's wiring (mocks)", function () {
    const mocks = installMocks();
    let fleetMod: typeof import("../../components/fleet/hardened-fleet");
    const conn = (host: string) => ({ host, privateKey: "k" });
    before(async function () {
        fleetMod = await import("../../components/fleet/hardened-fleet");
    });
    beforeEach(function () {
        mocks.resources.length = 0;
    });

    it("the kubelet range: idsPerPod x maxPods, at a multiple of idsPerPod; kubelet is the system owner; the command lines", async function () {
        const fleet = new fleetMod.HardenedFleet("k1", {
            tenants: { alpha: {} },
            hosts: { "node-1": { connection: conn("10.0.0.1"), runtime: { mode: "kubelet-userns", idsPerPod: 131072, maxPods: 8 }, tenants: ["alpha"] } },
        });
        const a = await promiseOf(fleet.allocation);
        assert.deepEqual(a["alpha"], { start: 2147483648, count: 65536 });
        assert.deepEqual(a["kubelet"], { start: 2147483648 + 131072, count: 1048576 });
        await promiseOf(fleet.hosts["node-1"]!.subidLines);
        await new Promise((r) => setTimeout(r, 100));
        const inputs = (name: string) => mocks.resources.find((x) => x.name === name)!.inputs;
        assert.equal(inputs("node-1-subids-write").create, "bash -s -- apply alpha:2147483648:65536 kubelet:2147614720:1048576 --stack hardened-hosts/test --system kubelet");
        assert.equal(inputs("node-1-subids-write").delete, "bash -s -- remove --stack hardened-hosts/test --delete-accounts /etc/kubelet-userns.hardened-hosts.user");
        assert.equal(inputs("node-1-kubelet-userns-runtime").create,
            "bash -s -- apply --range 2147614720:1048576 --ids-per-pod 131072 --max-pods 8 --config-dir /etc/kubernetes/kubelet.conf.d --restart-kubelet no --kubelet-unit kubelet");
        assert.equal(inputs("node-1-kubelet-userns-runtime").delete, "bash -s -- remove --config-dir /etc/kubernetes/kubelet.conf.d");
        assert.match(String(inputs("node-1-verify-check").__observe), / --runtime kubelet-userns --user kubelet --expect-range 2147614720:1048576 --auto-size 131072 /);
        const ledger = mocks.resources.find((x) => x.name === "k1-subids")!;
        assert.deepEqual(ledger.inputs.requests, [{ owner: "alpha" }, { owner: "kubelet", size: 1048576, alignment: 131072 }]);
    });

    it("the defaults: 65536 x 110 IDs, no alignment beyond the ledger's own (the request carries none)", async function () {
        const fleet = new fleetMod.HardenedFleet("k2", { hosts: { "node-1": { connection: conn("10.0.0.1"), runtime: { mode: "kubelet-userns" }, verify: false } } });
        assert.deepEqual((await promiseOf(fleet.allocation))["kubelet"], { start: 2147483648, count: 7208960 });
        assert.deepEqual(mocks.resources.find((x) => x.name === "k2-subids")!.inputs.requests, [{ owner: "kubelet", size: 7208960 }]);
    });

    it("refuses, in one error: idsPerPod not a multiple of 65536, maxPods below 2, a tenant named kubelet on a node, two nodes disagreeing", function () {
        assert.throws(() => new fleetMod.HardenedFleet("k3", {
            tenants: { kubelet: {} },
            hosts: {
                "node-1": { connection: conn("10.0.0.1"), runtime: { mode: "kubelet-userns", idsPerPod: 100000 } },
                "node-2": { connection: conn("10.0.0.2"), runtime: { mode: "kubelet-userns", maxPods: 1 } },
                "node-3": { connection: conn("10.0.0.3"), runtime: { mode: "kubelet-userns" }, tenants: ["kubelet"] },
                "node-4": { connection: conn("10.0.0.4"), runtime: { mode: "kubelet-userns", idsPerPod: 131072, maxPods: 55 } },
            },
        }), (e: Error) => {
            assert.match(e.message, /hosts\.node-1\.runtime\.idsPerPod: must be a multiple of 65536/);
            assert.match(e.message, /hosts\.node-2\.runtime\.maxPods: must be a whole number from 2/);
            assert.match(e.message, /hosts\.node-3\.tenants: "kubelet" is the kubelet-userns owner of hosts/);
            return true;
        });
        // Same size (131072 x 55 = 65536 x 110), another alignment: one range cannot serve both.
        assert.throws(() => new fleetMod.HardenedFleet("k4", {
            hosts: {
                "node-1": { connection: conn("10.0.0.1"), runtime: { mode: "kubelet-userns" } },
                "node-2": { connection: conn("10.0.0.2"), runtime: { mode: "kubelet-userns", idsPerPod: 131072, maxPods: 55 } },
            },
        }), /hosts\.node-2\.runtime: needs "kubelet"'s range aligned to 131072, but host node-1 needs 65536/);
        assert.equal(mocks.resources.length, 0, "nothing registered");
    });
});

describe("kubelet-userns.sh on this machine", function () {
    const script = path.join(__dirname, "..", "..", "components", "kubernetes", "kubelet-userns.sh");
    const run = (...args: string[]) => spawnSync("bash", [script, ...args], { encoding: "utf8" });

    it("refuses bad arguments before reading anything (kubelet's range rules)", function () {
        const cases: [string[], RegExp][] = [
            [["apply", "--range", "2147549184:1048576", "--ids-per-pod", "131072", "--max-pods", "8"], /the start must be a multiple of --ids-per-pod 131072/],
            [["apply", "--range", "2147483648:983040", "--ids-per-pod", "65536", "--max-pods", "16"], /at least --ids-per-pod x --max-pods = 1048576/],
            [["apply", "--range", "2147483648:1048576", "--ids-per-pod", "100000", "--max-pods", "8"], /--ids-per-pod must be a multiple of 65536/],
            [["apply", "--range", "2147483648:1048576", "--ids-per-pod", "65536", "--max-pods", "8", "--config-dir", "etc/k"], /--config-dir must be an absolute path/],
            [["remove", "--range", "1:1"], /remove does not take '--range'/],
        ];
        for (const [args, why] of cases) {
            const r = run(...args);
            assert.equal(r.status, 2, args.join(" "));
            assert.match(JSON.parse(r.stdout.trim()).error, why);
        }
    });

    it("refuses this machine, naming every missing prerequisite, and writes nothing", function () {
        if (process.getuid?.() !== 0) this.skip();
        const facts = JSON.parse(run("facts").stdout).facts;
        if (facts.containerRuntimeOk && facts.ociRuntimeOk) this.skip(); // a machine that has them
        const before = ["/etc/passwd", "/etc/kubernetes"].map((f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : null));
        const r = run("apply", "--range", "2147483648:7208960", "--ids-per-pod", "65536", "--max-pods", "110", "--install-getsubids", "no");
        assert.equal(r.status, 10, r.stderr);
        const err = JSON.parse(r.stdout.trim()).error as string;
        assert.match(err, /^this host cannot give pods user namespaces from the kubelet range; missing: /);
        if (!facts.containerRuntimeOk) assert.match(err, /containerd >= 2\.0 or CRI-O >= 1\.25, found /);
        if (!facts.ociRuntimeOk) assert.match(err, /runc >= 1\.2 or crun >= 1\.9, found /);
        assert.match(err, /\(nothing was written\)$/);
        assert.deepEqual(["/etc/passwd", "/etc/kubernetes"].map((f) => (fs.existsSync(f) ? fs.statSync(f).mtimeMs : null)), before);
    });
});
