import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ProjectStack } from "../support/project-stack";

// stacks/sdk-debug-logs.js: the SDK's per-resource debug trace is dropped only when the pulumi
// command running the program shows and logs debug messages nowhere.
describe("stacks/sdk-debug-logs.js (the SDK's debug trace, sent only when something shows it)", function () {
    this.timeout(120_000);
    const root = path.resolve(__dirname, "..", "..");
    const hookPath = path.join(root, "stacks", "sdk-debug-logs.js");
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const hook = require(hookPath);

    it("reads pulumi's flags that show or log debug messages, in every spelling pflag accepts", () => {
        for (const args of [["preview", "--debug"], ["up", "-d"], ["up", "-yd"], ["-v=9", "preview"], ["-v9", "up"],
            ["--verbose", "3", "up"], ["--verbose=3", "up"], ["up", "--event-log", "/tmp/e.json"], ["up", "--event-log=/tmp/e"],
            ["--debug=true", "preview"], ["-C", "/work", "-v", "3", "preview"]]) {
            assert.equal(hook.wantsDebug(args), true, args.join(" "));
        }
        for (const args of [["preview"], ["up", "--yes", "--skip-preview"], ["-C", "/work", "--stack", "dev", "preview"],
            ["preview", "--expect-no-changes", "--diff"], ["up", "-y", "-s", "dev"], ["refresh", "--", "-d"]]) {
            assert.equal(hook.wantsDebug(args), false, args.join(" "));
        }
    });

    it("finds the nearest pulumi among the process's real ancestors, and only a pulumi", () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hh-sdk-debug-"));
        try {
            // A shell whose argv[0] is .../pulumi, with flags after it, runs node, which looks up.
            fs.symlinkSync("/bin/bash", path.join(tmp, "pulumi"));
            const probe = `console.log(JSON.stringify(require(${JSON.stringify(hookPath)}).decide({})))`;
            const viaPulumi = (...flags: string[]) => {
                const r = spawnSync(path.join(tmp, "pulumi"), ["-c", `"${process.execPath}" -e '${probe}'; true`, "--stack", "dev", ...flags],
                    { encoding: "utf8" });
                assert.equal(r.status, 0, r.stderr);
                return JSON.parse(r.stdout);
            };
            assert.equal(viaPulumi().drop, true);
            assert.equal(viaPulumi("--debug").drop, false);
            assert.equal(viaPulumi("-v=3").drop, false);
            // No pulumi above (mocha's node, a shell): nothing is dropped.
            const r = spawnSync("/bin/bash", ["-c", `"${process.execPath}" -e '${probe}'; true`], { encoding: "utf8" });
            assert.equal(JSON.parse(r.stdout).drop, false);
            assert.equal(hook.decide({ HH_SDK_DEBUG_LOGS: "1" }, [1, ["pulumi", "up"]]).drop, false);
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    it("drops only the SDK's own trace from the SDK's log module, and lets everything else through", () => {
        // Without an engine the SDK prints debug messages itself when excessiveDebugOutput is on:
        // what reaches stdout is what would have reached the engine.
        const script = `
            const settings = require("@pulumi/pulumi/runtime/settings");
            settings.excessiveDebugOutput = true;
            const decision = require(${JSON.stringify(hookPath)}).install(${JSON.stringify(root)}, {}, [4242, ["pulumi", "preview"]]);
            const pulumi = require("@pulumi/pulumi");
            (async () => {
                await pulumi.log.debug("Registering resource: t=x:y:Z, name=a, custom=true, remote=false");
                await pulumi.log.debug("RegisterResourceOutputs RPC finished: urn=u; err: null, resp: x");
                await pulumi.log.debug("RegisterResource RPC failed: t=x:y:Z, name=a, err=boom");
                await pulumi.log.debug("ours: the ledger read 3 hosts");
                console.log("decision " + JSON.stringify(decision));
            })();`;
        const r = spawnSync(process.execPath, ["-e", script], { cwd: root, encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        const lines = r.stdout.trim().split("\n");
        assert.deepEqual(lines.filter((l) => l.startsWith("debug: ")), [
            "debug: [runtime] RegisterResource RPC failed: t=x:y:Z, name=a, err=boom",
            "debug: [runtime] ours: the ledger read 3 hosts",
        ]);
        assert.match(lines[lines.length - 1], /"drop":true/);
    });

    describe("in the real engine (a temp stack of the project, default plan)", function () {
        let stack: ProjectStack;
        before(() => { stack = new ProjectStack(); });
        after(() => stack?.dispose());

        // What the program decided, as it reports it (HH_SDK_DEBUG_LOGS_REPORT).
        function decisionOf(args: string[]): { drop: boolean; why: string; out: string } {
            const report = path.join(stack.stateDir, "decision.jsonl");
            fs.rmSync(report, { force: true });
            process.env.HH_SDK_DEBUG_LOGS_REPORT = report;
            try {
                const r = stack.ok(args);
                return { ...JSON.parse(fs.readFileSync(report, "utf8").trim()), out: r.out };
            } finally {
                delete process.env.HH_SDK_DEBUG_LOGS_REPORT;
            }
        }

        it("drops the trace in a plain preview, having found the pulumi that runs it", () => {
            const d = decisionOf(["preview"]);
            assert.equal(d.drop, true, d.why);
            assert.match(d.why, /^pulumi \(pid \d+\) shows debug messages nowhere$/);
            assert.match(d.out, /toolchain-probe/);
        });

        it("keeps the SDK's trace where `--debug` and `-v=3` show it", () => {
            const debug = decisionOf(["preview", "--debug"]);
            assert.equal(debug.drop, false);
            assert.match(debug.out, /Registering resource: t=pulumi:pulumi:Stack/);
            const verbose = decisionOf(["-v=3", "--logtostderr", "preview"]);
            assert.equal(verbose.drop, false);
            assert.match(verbose.out, /RegisterResource RPC finished: /);
        });
    });
});
