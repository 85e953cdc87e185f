import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

// scripts/dynamic-provider.js, installed as pulumi-resource-pulumi-nodejs with stacks/lazy-closure.js
// beside it (as scripts/pulumi-toolchain.sh does): starts the SDK's dynamic provider resolved from
// the directory it runs in, in one node, with the closure serializer deferred. The engine's own
// use is in every real-engine test with a dynamic resource (the ledger, the hosts' checks).
describe("scripts/dynamic-provider.js (the dynamic-provider launcher)", function () {
    this.timeout(60_000);
    const root = path.resolve(__dirname, "..", "..");
    let dir: string;

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-dynprov-"));
        fs.copyFileSync(path.join(root, "scripts", "dynamic-provider.js"), path.join(dir, "pulumi-resource-pulumi-nodejs"));
        fs.chmodSync(path.join(dir, "pulumi-resource-pulumi-nodejs"), 0o755);
        fs.copyFileSync(path.join(root, "stacks", "lazy-closure.js"), path.join(dir, "lazy-closure.js"));
        // Reports, when the provider is stopped, whether the serializer's TypeScript was loaded.
        fs.writeFileSync(path.join(dir, "probe.js"), `process.on("SIGTERM", () => {
            console.log("typescript=" + Object.keys(require.cache).some((k) => k.includes("/node_modules/typescript/")));
            process.exit(0);
        });\n`);
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Starts the launcher in `cwd`; its stdout (the port, then the probe's line) and exit status. */
    function start(cwd: string): Promise<{ out: string; err: string; status: number | null }> {
        const child = spawn(path.join(dir, "pulumi-resource-pulumi-nodejs"), ["127.0.0.1:1"], {
            cwd, env: { ...process.env, NODE_OPTIONS: `--require ${path.join(dir, "probe.js")}` },
        });
        let out = "", err = "";
        child.stdout.on("data", (b) => {
            out += b;
            // The provider prints its port once it listens: stop it then.
            if (/^\d+\n/.test(out) && !child.killed) child.kill("SIGTERM");
        });
        child.stderr.on("data", (b) => { err += b; });
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
        return new Promise((resolve) => child.on("close", (status) => { clearTimeout(timer); resolve({ out, err, status }); }));
    }

    it("starts the SDK's provider from the program's directory, without the closure serializer", async () => {
        const r = await start(root);
        assert.equal(r.status, 0, r.err);
        assert.match(r.out, /^\d+\ntypescript=false\n$/, `stdout: ${r.out}\nstderr: ${r.err}`);
    });

    it("says where @pulumi/pulumi was looked for when it is not installed there", async () => {
        const r = await start(dir);
        assert.equal(r.status, 1);
        assert.match(r.err, /@pulumi\/pulumi is not installed where the program runs \(.*hh-dynprov-/);
    });
});
