import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";

// stacks/promise-stacks.js: the SDK's per-promise stack is formatted only when the SDK will print
// it. Each case runs in a child node process set up as the program's is (the SDK's runtime loaded
// with source-map-support's formatting in place), so mocha's own Error.prepareStackTrace is untouched.
describe("stacks/promise-stacks.js (the SDK's promise stacks, formatted only when printed)", function () {
    this.timeout(60_000);
    const root = path.resolve(__dirname, "..", "..");
    const hook = path.join(root, "stacks", "promise-stacks.js");

    function run(env: NodeJS.ProcessEnv = {}): { installed: boolean; promiseStack: string; otherStack: string } {
        const script = `
            require("source-map-support").install();
            const installed = require(${JSON.stringify(hook)}).install();
            const { debuggablePromise } = require("@pulumi/pulumi/runtime/debuggable");
            const p = Promise.resolve(1);
            debuggablePromise(p, "test"); // the stack goes on the promise it is given
            function namedElsewhere() { return new Error("boom").stack; }
            console.log(JSON.stringify({ installed, promiseStack: p._debugStackTrace, otherStack: namedElsewhere() }));`;
        const clean = { ...process.env };
        delete clean.PULUMI_DEBUG_PROMISE_LEAKS;
        const r = spawnSync(process.execPath, ["-e", script], { cwd: root, encoding: "utf8", env: { ...clean, ...env } });
        assert.equal(r.status, 0, r.stderr);
        return JSON.parse(r.stdout.trim().split("\n").pop()!);
    }

    it("gives the SDK's promises a note instead of a formatted stack", () => {
        const { installed, promiseStack } = run();
        assert.equal(installed, true);
        assert.equal(promiseStack, require(hook).NOTE);
    });

    it("leaves every other error's stack to the formatting it wrapped", () => {
        const { otherStack } = run();
        assert.match(otherStack, /^Error: boom\n\s+at namedElsewhere \(/);
    });

    it("changes nothing when PULUMI_DEBUG_PROMISE_LEAKS asks for the stacks", () => {
        const { installed, promiseStack } = run({ PULUMI_DEBUG_PROMISE_LEAKS: "1" });
        assert.equal(installed, false);
        // Formatted as before: through the source maps, to the SDK's TypeScript source.
        assert.match(promiseStack, /at debuggablePromise \(.*runtime[\\/]debuggable\.ts:\d+/);
    });
});
