import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { evaluateChecks, parseObservations } from "../../components/verify/checks";
import { repairPlan, stepFor } from "../../components/verify/host-check";
import { readHostScript } from "../../components/host/script";

// Issue 28: every managed line is verified, tenants included. verify.sh --expect-lines reports the
// lines of the subids step that are not in /etc/subuid or /etc/subgid as written (run here in a
// private mount namespace whose /etc/subuid and /etc/subgid are this test's files: the machine's
// are never written); checks.ts fails subuid-/subgid-managed-lines, which the subids step repairs.
const verify = readHostScript("verify/verify.sh");

function observe(subuid: string, subgid: string, lines: string[]): any {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-managed-"));
    try {
        fs.writeFileSync(path.join(dir, "subuid"), subuid);
        fs.writeFileSync(path.join(dir, "subgid"), subgid);
        fs.writeFileSync(path.join(dir, "verify.sh"), verify);
        // No runtime answers on that socket: verify.sh still observes the files (exit 0).
        const inner = [
            `mount --bind ${dir}/subuid /etc/subuid`,
            `mount --bind ${dir}/subgid /etc/subgid`,
            `exec bash ${dir}/verify.sh observe --runtime docker-remap --user dockremap --expect-range 2147483648:65536 ` +
                `--docker-host unix://${dir}/none.sock` + (lines.length > 0 ? ` --expect-lines '${lines.join(" ")}'` : ""),
        ].join(" && ");
        const r = spawnSync("unshare", ["-m", "--propagation", "private", "bash", "-c", inner], { encoding: "utf8", timeout: 120_000 });
        assert.equal(r.status, 0, r.stderr);
        return parseObservations(r.stdout);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const BLOCK = [
    "# BEGIN hardened-hosts managed block (do not edit)",
    "dockremap:2147483648:65536",
    "tenant-a:2147549184:65536",
    "tenant-b:2147614720:131072",
    "# END hardened-hosts managed block",
];
const LINES = ["dockremap:2147483648:65536", "tenant-a:2147549184:65536", "tenant-b:2147614720:131072"];
const file = (lines: string[]) => `alice:100000:65536\n${lines.join("\n")}\n`;
const plan = { host: "h", runtime: "docker-remap" as const, user: "dockremap", expectedRange: { start: 2147483648, count: 65536 } };

describe("every managed line is verified, tenants included (verify.sh in a private mount namespace, checks.ts)", function () {
    this.timeout(120_000);
    before(function () {
        if (process.getuid?.() !== 0) this.skip();
    });

    it("all lines in place: both checks pass", function () {
        const o = observe(file(BLOCK), file(BLOCK), LINES);
        assert.deepEqual(o.managed, { expected: 3, subuid: { missing: [], missingCount: 0 }, subgid: { missing: [], missingCount: 0 } });
        const c = evaluateChecks(o, plan).filter((x) => x.name.endsWith("managed-lines"));
        assert.deepEqual(c.map((x) => [x.name, x.passed]), [["subuid-managed-lines", true], ["subgid-managed-lines", true]]);
    });

    it("a tenant line removed, changed or re-owned is drift the subids step repairs", function () {
        const removed = BLOCK.filter((l) => !l.startsWith("tenant-a:"));
        const changed = BLOCK.map((l) => (l.startsWith("tenant-b:") ? "tenant-b:2147614720:65536" : l));
        const reowned = BLOCK.map((l) => (l.startsWith("tenant-a:") ? "tenant-c:2147549184:65536" : l));
        for (const [what, subuid, subgid, missing] of [
            ["removed from subuid", file(removed), file(BLOCK), { subuid: ["tenant-a:2147549184:65536"], subgid: [] }],
            ["changed in subgid", file(BLOCK), file(changed), { subuid: [], subgid: ["tenant-b:2147614720:131072"] }],
            ["re-owned in both", file(reowned), file(reowned), { subuid: ["tenant-a:2147549184:65536"], subgid: ["tenant-a:2147549184:65536"] }],
        ] as const) {
            const o = observe(subuid, subgid, LINES);
            assert.deepEqual(o.managed!.subuid.missing, missing.subuid, what);
            assert.deepEqual(o.managed!.subgid.missing, missing.subgid, what);
            const failed = evaluateChecks(o, plan).filter((x) => !x.passed).map((x) => x.name).filter((n) => n.includes("managed"));
            const expected = [...(missing.subuid.length ? ["subuid-managed-lines"] : []), ...(missing.subgid.length ? ["subgid-managed-lines"] : [])];
            assert.deepEqual(failed, expected, what);
            assert.match(evaluateChecks(o, plan).find((x) => x.name === expected[0])!.observed, /^missing or changed: tenant-/);
        }
        assert.equal(stepFor("subuid-managed-lines"), "subids");
        assert.deepEqual(repairPlan(["subgid-managed-lines"]), ["subids", "runtime"]);
    });

    it("a report without --expect-lines (or from an older verify.sh) has no such check", function () {
        const o = observe(file(BLOCK), file(BLOCK), []);
        assert.equal(o.managed, null);
        assert.equal(evaluateChecks(o, plan).some((x) => x.name.endsWith("managed-lines")), false);
    });
});
