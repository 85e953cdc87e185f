import * as assert from "node:assert/strict";
import { parseReport } from "../../components/host/report";

// The one parser of the host scripts' reports (components/host/report.ts): it runs inside
// apply, so it must never throw.
describe("parseReport: the last stdout line of a host script, as its report", function () {
    it("takes the last non-empty line", function () {
        assert.deepEqual(parseReport("noise\n{\"ok\":true,\"action\":\"apply\"}\n\n", "x.sh"), { ok: true, action: "apply" });
    });

    it("a failure report keeps its exit code and error", function () {
        const r = parseReport('{"ok":false,"action":"apply","exitCode":3,"error":"conflict"}', "x.sh");
        assert.deepEqual(r, { ok: false, action: "apply", exitCode: 3, error: "conflict" });
    });

    for (const [what, out] of [["no output", ""], ["undefined", undefined], ["not JSON", "Killed"], ["JSON without ok", '{"a":1}'], ["an array", "[1]"], ["a long line", "x".repeat(5000)]] as const) {
        it(`${what}: { ok: false } saying what was printed, without throwing`, function () {
            const r = parseReport(out, "x.sh");
            assert.equal(r.ok, false);
            assert.match(r.error ?? "", /^x\.sh printed no report/);
            assert.ok((r.error ?? "").length < 300);
        });
    }
});
