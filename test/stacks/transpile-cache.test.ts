import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

// stacks/transpile-cache.js, the program's TypeScript loader (Pulumi.yaml main: stacks/main.js).
// Each case runs in a child node process: the loader replaces require's .ts hook, which mocha's
// own ts-node must keep here.
describe("stacks/transpile-cache.js (the program's TypeScript loader)", function () {
    this.timeout(60_000);
    const root = path.resolve(__dirname, "..", "..");
    const loader = path.join(root, "stacks", "transpile-cache.js");
    let dir: string;
    let cache: string;

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-tscache-"));
        cache = path.join(dir, "cache");
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Runs `script` in node with the loader registered (or ts-node, for comparison); its stdout. */
    function node(script: string, via: "cache" | "ts-node" = "cache"): string {
        const setup = via === "cache"
            ? `require(${JSON.stringify(loader)}).register();`
            : `require("ts-node").register({ transpileOnly: true, project: ${JSON.stringify(path.join(root, "tsconfig.json"))} });`;
        const r = spawnSync(process.execPath, ["-e", `${setup}\n${script}`], {
            cwd: root, encoding: "utf8", env: { ...process.env, HH_TS_CACHE_DIR: cache, TS_NODE_TRANSPILE_ONLY: "" },
        });
        assert.equal(r.status, 0, r.stderr);
        return r.stdout.trim();
    }
    const cached = () => (fs.existsSync(cache) ? fs.readdirSync(cache).sort() : []);
    const compilerLoaded = `Object.keys(require.cache).some((k) => k.includes("/node_modules/typescript/"))`;

    it("transpiles a file once, and on a hit does not load the compiler", () => {
        const file = path.join(dir, "a.ts");
        fs.writeFileSync(file, "const x: number = 1;\nexport function f(): number { return x + 1; }\n");
        const run = `const m = require(${JSON.stringify(file)}); console.log(JSON.stringify([m.f(), ${compilerLoaded}]));`;
        assert.deepEqual(JSON.parse(node(run)), [2, true]);
        assert.equal(cached().length, 1);
        assert.deepEqual(JSON.parse(node(run)), [2, false], "second load: from the cache, no compiler");
        assert.equal(cached().length, 1);
    });

    it("never runs a stale copy: an edited file is transpiled again, and its old entry goes", () => {
        const file = path.join(dir, "a.ts");
        const run = `console.log(require(${JSON.stringify(file)}).f());`;
        fs.writeFileSync(file, "export function f(): number { return 1; }\n");
        assert.equal(node(run), "1");
        // Same length and mtime second: only the text tells the versions apart.
        fs.writeFileSync(file, "export function f(): number { return 7; }\n");
        assert.equal(node(run), "7");
        assert.equal(cached().length, 1, "one entry per file: the older one is pruned");
    });

    it("emits what ts-node's transpile-only mode emits: the dynamic providers' serialized code stays the same", () => {
        // The state keeps each dynamic resource's provider as its functions' source text.
        const run = `
            const { hostCheckProvider } = require("./components/verify/host-check.ts");
            const ledger = require("./components/subids/ledger.ts");
            const text = (o) => Object.entries(o).map(([k, v]) => k + ":" + String(v)).join("\\n");
            console.log(JSON.stringify([text(hostCheckProvider), String(ledger.SubidLedger)]));`;
        const ours = JSON.parse(node(run)) as string[];
        const tsNode = JSON.parse(node(run, "ts-node")) as string[];
        assert.ok(ours[0]!.includes("create:"), "the provider's functions were read");
        assert.deepEqual(ours, tsNode);
    });

    it("stack traces name the .ts file and line", () => {
        const file = path.join(dir, "bad.ts");
        fs.writeFileSync(file, "export function f(): number {\n  throw new Error('boom');\n}\n");
        const out = node(`try { require(${JSON.stringify(file)}).f(); } catch (e) { console.log(e.stack.split("\\n")[1]); }`);
        assert.match(out, /bad\.ts:2:/, "stack traces point at the .ts line (inline source map)");
    });
});
