import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";

// stacks/lazy-closure.js: the program loads the SDK's closure serializer on first use. Each case
// runs in a child node process (mocha's own process has the SDK loaded already).
describe("stacks/lazy-closure.js (the closure serializer, loaded on first use)", function () {
    this.timeout(60_000);
    const root = path.resolve(__dirname, "..", "..");
    const lazy = path.join(root, "stacks", "lazy-closure.js");

    function node(script: string): any {
        const r = spawnSync(process.execPath, ["-e", script], { cwd: root, encoding: "utf8" });
        assert.equal(r.status, 0, r.stderr);
        return JSON.parse(r.stdout.trim().split("\n").pop()!);
    }
    const loaded = `({
        typescript: Object.keys(require.cache).some((k) => k.includes("/node_modules/typescript/")),
        arborist: Object.keys(require.cache).some((k) => k.includes("/@npmcli/arborist/")),
    })`;
    // A function with a captured value, a method and a module: what the dynamic providers have.
    const serialize = `(async () => {
        const pulumi = require("@pulumi/pulumi");
        const before = ${loaded};
        const limit = 7;
        const provider = { async check(o, n) { return { inputs: { ...n, limit } }; }, crypto: require("node:crypto") };
        const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
        console.log(JSON.stringify({ before, after: ${loaded}, text: sf.text }));
    })().catch((e) => { console.error(e); process.exit(1); });`;

    it("lists exactly the installed SDK's exports of the two modules", function () {
        const { EXPORTS, closureDir, sdkVersion } = require(lazy);
        const version = sdkVersion(root);
        const listed = EXPORTS[version];
        assert.ok(listed, `@pulumi/pulumi ${version} is not listed in stacks/lazy-closure.js: check its two modules' exports and add it`);
        for (const [file, names] of Object.entries(listed as Record<string, string[]>)) {
            const real = node(`const m = require(${JSON.stringify(path.join(closureDir(root), file))});
                console.log(JSON.stringify(Object.entries(m).map(([k, v]) => [k, typeof v])));`);
            assert.deepEqual(real.map(([k]: [string]) => k).sort(), [...names].sort(), file);
            assert.ok(real.every(([, t]: [string, string]) => t === "function"), `${file}: every export is a function`);
        }
    });

    it("keeps TypeScript and arborist out of a program that serializes nothing", function () {
        const r = node(`require(${JSON.stringify(lazy)}).install(${JSON.stringify(root)});
            require("@pulumi/pulumi");
            console.log(JSON.stringify(${loaded}));`);
        assert.deepEqual(r, { typescript: false, arborist: false });
        const plain = node(`require("@pulumi/pulumi"); console.log(JSON.stringify(${loaded}));`);
        assert.deepEqual(plain, { typescript: true, arborist: true }, "without it the SDK loads both (what it saves)");
    });

    it("serializes on first use exactly as the SDK loaded eagerly does", function () {
        const deferred = node(`require(${JSON.stringify(lazy)}).install(${JSON.stringify(root)});\n${serialize}`);
        const eager = node(serialize);
        assert.deepEqual(deferred.before, { typescript: false, arborist: false });
        assert.equal(deferred.after.typescript, true, "loaded for the serialization");
        assert.equal(deferred.text, eager.text);
        assert.match(deferred.text, /limit/);
    });

    it("leaves an SDK version it does not list alone", function () {
        const r = node(`const l = require(${JSON.stringify(lazy)});
            l.EXPORTS[l.sdkVersion(${JSON.stringify(root)})] = undefined;
            const deferred = l.install(${JSON.stringify(root)});
            require("@pulumi/pulumi");
            console.log(JSON.stringify({ deferred, ...${loaded} }));`);
        assert.deepEqual(r, { deferred: [], typescript: true, arborist: true });
    });
});
