import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Expectations, KubeletPod, Observations, PREPARED_NOT_PROVEN, fleetSummary, hostResult, hostSummary, parseObservations } from "../../components/verify/checks";
import { checkFailure, repairPlan } from "../../components/verify/host-check";

// kubelet-userns verification (checks.ts, pure): the states a node goes through, derived from
// verify.sh's real report on this machine (test/fixtures/kubelet-node/verify-no-kubelet.json:
// `verify.sh observe --runtime kubelet-userns --user kubelet --expect-range 2147614720:1048576
// --auto-size 131072 --expect-lines "alpha:2147483648:65536 kubelet:2147614720:1048576"`, no
// kubelet, no account, no line; test/e2e/lab-kubelet.test.ts shows the other states for real):
// prepared with no kubelet, proven with two hostUsers:false pods, a pod on the host's user
// namespace reported, and each way of being wrong.
const START = 2147614720, COUNT = 1048576, IDS = 131072;
const base = (): Observations => parseObservations(fs.readFileSync(path.join(__dirname, "..", "fixtures", "kubelet-node", "verify-no-kubelet.json"), "utf8").replace(/\n\s*/g, "") + "\n");
const exp: Expectations = { host: "node-1", runtime: "kubelet-userns", user: "kubelet", expectedRange: { start: START, count: COUNT }, autoSize: IDS };
const line = `kubelet:${START}:${COUNT}`;

/** The node after the mode's apply (derived): the account, the line in both files, getsubids, the drop-in. */
function prepared(): Observations {
    const o = base();
    o.user = { name: "kubelet", exists: true, uid: 998, gid: 998, home: "/nonexistent" };
    for (const k of ["subuid", "subgid"] as const) o[k] = { ...o[k], exists: true, userLines: [line], userLineCount: 1, overlapping: [], overlappingCount: 0 };
    o.managed = { expected: 2, subuid: { missing: [], missingCount: 0 }, subgid: { missing: [], missingCount: 0 } };
    o.kubelet!.getsubids = { present: true, uid: `0: kubelet ${START} ${COUNT}`, gid: `0: kubelet ${START} ${COUNT}` };
    o.kubelet!.dropIn = { ...o.kubelet!.dropIn, present: true, idsPerPod: IDS, maxPods: 8 };
    return o;
}
const pod = (name: string, host: number, n = IDS): KubeletPod => ({
    uid: `${name.length}aaaaaaa-0000-4000-8000-00000000000${name.length % 10}`, name, pid: 100 + name.length,
    uidMap: [`0 ${host} ${n}`], gidMap: [`0 ${host} ${n}`], hostUid: host, recorded: true,
});
function running(...pods: KubeletPod[]): Observations {
    const o = prepared();
    o.kubelet = { ...o.kubelet!, running: true, pid: 42, version: "1.36.3", configDir: "/etc/kubernetes/kubelet.conf.d", pods, podCount: pods.length };
    return o;
}
const c = (r: ReturnType<typeof hostResult>, name: string) => r.checks.find((x) => x.name === name)!;

describe("kubelet-userns verification (checks.ts, pure)", function () {
    it("the real report of a host with nothing of the mode: failed (no account, no line, getsubids errs)", function () {
        const r = hostResult(base(), exp);
        assert.equal(r.status, "failed");
        assert.equal(r.passed, false);
        assert.equal(r.mode, "no-kubelet");
        for (const n of ["user-account", "getsubids", "subuid-range", "subgid-range", "subuid-managed-lines"]) assert.equal(c(r, n).passed, false, n);
        assert.match(c(r, "getsubids").observed, /Error fetching ranges|no getsubids/);
    });

    it("prepared with no kubelet: every error check passes, the status says prepared, not proven (never passed), the update does not fail", function () {
        const r = hostResult(prepared(), exp);
        assert.equal(r.status, PREPARED_NOT_PROVEN);
        assert.equal(r.passed, false);
        assert.deepEqual(r.checks.filter((x) => !x.passed).map((x) => `${x.name}/${x.severity}`), ["userns-proven/warning"]);
        assert.match(c(r, "userns-proven").observed, /^prepared, not proven: no kubelet runs/);
        assert.equal(hostSummary(r).status, PREPARED_NOT_PROVEN);
        assert.equal(checkFailure({ reportOnly: false, result: r } as never), undefined);
        assert.deepEqual(fleetSummary([r]), { hostsPassed: 0, hostsFailed: 0, failing: [], warnings: fleetSummary([r]).warnings, hostsPrepared: 1 });
    });

    it("kubelet with two hostUsers:false pods in their own slots and a host-network pod: passed, the host-users pod reported", function () {
        const shared: KubeletPod = { ...pod("hostnet", 0), name: null, uidMap: ["0 0 4294967295"], gidMap: ["0 0 4294967295"], hostUid: 0, recorded: false };
        const r = hostResult(running(pod("userns-a-node-1", START + 3 * IDS), pod("userns-b-node-1", START + 5 * IDS), shared), exp);
        assert.equal(r.status, "passed");
        assert.equal(r.passed, true);
        assert.equal(r.mode, "kubelet-userns");
        for (const n of ["pod-uid-maps", "pod-gid-maps", "pod-maps-disjoint", "pod-no-host-root", "userns-proven", "getsubids"]) assert.equal(c(r, n).passed, true, n);
        assert.equal(c(r, "host-users-pods").passed, false);
        assert.equal(c(r, "host-users-pods").severity, "warning");
        assert.deepEqual(hostSummary(r).pods, [
            `userns-a-node-1: uid 0 ${START + 3 * IDS} ${IDS}, gid 0 ${START + 3 * IDS} ${IDS}, root uid ${START + 3 * IDS}`,
            `userns-b-node-1: uid 0 ${START + 5 * IDS} ${IDS}, gid 0 ${START + 5 * IDS} ${IDS}, root uid ${START + 5 * IDS}`,
            `${shared.uid}: host user namespace (hostUsers: true), uid 0 0 4294967295, gid 0 0 4294967295, root uid 0`,
        ]);
        assert.deepEqual(repairPlan(["host-users-pods"]), [], "not ours to undo");
    });

    it("one pod only: prepared, not proven (kubelet runs, nothing to compare)", function () {
        const r = hostResult(running(pod("userns-a", START)), exp);
        assert.equal(r.status, PREPARED_NOT_PROVEN);
        assert.match(c(r, "userns-proven").observed, /kubelet 1\.36\.3 \(pid 42\) runs 1 pod/);
    });

    it("pods outside the range (kubelet's default range: started before the line), overlapping, or mapping host root fail", function () {
        const outside = hostResult(running(pod("a", 65536 * 300), pod("b", START)), exp);
        assert.equal(outside.status, "failed");
        assert.equal(c(outside, "pod-uid-maps").passed, false);
        const overlap = hostResult(running(pod("a", START), pod("bb", START + 65536)), exp);
        assert.equal(c(overlap, "pod-maps-disjoint").passed, false);
        assert.equal(c(overlap, "pod-uid-maps").passed, false, "START + 65536 is no multiple of idsPerPod");
        const root = hostResult(running(pod("a", START), { ...pod("bb", START + IDS), gidMap: [`0 0 ${IDS}`] }), exp);
        assert.equal(c(root, "pod-no-host-root").passed, false);
    });

    it("the kubelet line changed by hand: getsubids and the subids checks fail, and the subids step (then the runtime) repairs them", function () {
        const o = running(pod("a", START), pod("bb", START + IDS));
        o.kubelet!.getsubids.uid = `0: kubelet ${START} ${COUNT - IDS}`;
        o.subuid = { ...o.subuid, userLines: [`kubelet:${START}:${COUNT - IDS}`] };
        o.managed!.subuid = { missing: [line], missingCount: 1 };
        const r = hostResult(o, exp);
        assert.equal(r.status, "failed");
        const failed = r.checks.filter((x) => !x.passed && x.severity === "error").map((x) => x.name).sort();
        assert.deepEqual(failed, ["getsubids", "subuid-managed-lines", "subuid-range"]);
        assert.deepEqual(repairPlan(failed), ["subids", "runtime"]);
    });

    it("a report for another idsPerPod is not read as this plan's", function () {
        assert.throws(() => hostResult(prepared(), { ...exp, autoSize: 65536 }), /131072 IDs per pod, not 65536/);
    });
});
