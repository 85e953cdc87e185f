import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, promiseOf } from "../support/mocks";

// components/host/dynamic-resource.ts: a dynamic provider's serialized code, cached on disk by
// code version. What it sends must be what pulumi.dynamic.Resource would send.
describe("CachedDynamicResource (provider text cache)", function () {
    this.timeout(60_000);
    const mocks = installMocks();
    let mod: typeof import("../../components/host/dynamic-resource");
    let dir: string;
    const saved = process.env.HH_PROVIDER_CACHE_DIR;

    before(async () => {
        mod = await import("../../components/host/dynamic-resource");
    });
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "hh-provcache-"));
        process.env.HH_PROVIDER_CACHE_DIR = dir;
        mocks.resources.length = 0;
    });
    afterEach(() => {
        if (saved === undefined) delete process.env.HH_PROVIDER_CACHE_DIR;
        else process.env.HH_PROVIDER_CACHE_DIR = saved;
        fs.rmSync(dir, { recursive: true, force: true });
    });

    // Fresh objects each time: the in-process memo is keyed by the provider object.
    const makeProvider = (n: number): pulumi.dynamic.ResourceProvider => ({
        async create(inputs: any) { return { id: `x-${n}`, outs: { ...inputs, n } }; },
    });
    // Named as the SDK names it: the captured variable's name is part of the text.
    const sdkText = async (provider: pulumi.dynamic.ResourceProvider) => (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;
    const resolve = (t: pulumi.Input<string>) => (typeof t === "string" ? Promise.resolve(t) : promiseOf(pulumi.output(t)));

    it("serializes a provider once, as the SDK does, and reads it back from the cache", async () => {
        const first = mod.providerText("t1", makeProvider(1));
        assert.notEqual(typeof first, "string", "a miss serializes");
        const text = await resolve(first);
        assert.equal(text, await sdkText(makeProvider(1)));
        assert.deepEqual(fs.readdirSync(dir).map((f) => f.replace(/-[0-9a-f]+\.js$/, "")), ["t1"]);
        const again = mod.providerText("t1", makeProvider(1));
        assert.equal(typeof again, "string", "a hit is the stored text, no serializer");
        assert.equal(again, text);
    });

    it("keys the text by the provider's code: other code, another entry, the older one pruned", async () => {
        const a = mod.providerCacheFile("t2", makeProvider(1));
        const b = mod.providerCacheFile("t2", { async create() { return { id: "other", outs: {} }; } });
        assert.notEqual(a, b);
        assert.equal(mod.providerCacheFile("t2", makeProvider(1)), a, "the same code, the same key");
        await resolve(mod.providerText("t2", makeProvider(1)));
        await resolve(mod.providerText("t2", { async create() { return { id: "other", outs: {} }; } }));
        assert.deepEqual(fs.readdirSync(dir), [path.basename(b)]);
    });

    it("registers the type token and __provider that pulumi.dynamic.Resource registers", async () => {
        class Probe extends mod.CachedDynamicResource {
            constructor(name: string) { super("t3", makeProvider(3), name, { a: 1 }, undefined, "probe", "Probe"); }
        }
        new Probe("p1");
        await new Promise((r) => setTimeout(r, 200));
        const r = mocks.resources.find((x) => x.name === "p1")!;
        assert.equal(r.type, "pulumi-nodejs:dynamic/probe:Probe");
        assert.equal(r.inputs.__provider, await sdkText(makeProvider(3)));
        assert.equal(r.inputs.a, 1);
        assert.throws(() => new mod.CachedDynamicResource("t3", makeProvider(3), "p2", { __provider: "x" }), /__provider/);
    });
});
