import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, promiseOf } from "../support/mocks";

// components/host/dynamic-resource.ts run from the sources (no dist/providers/ beside them): a
// provider is serialized once per process, exactly as pulumi.dynamic.Resource would. What the
// build ships instead is tested with the package (test/package/).
describe("PackagedDynamicResource (from the sources)", function () {
    this.timeout(60_000);
    const mocks = installMocks();
    let mod: typeof import("../../components/host/dynamic-resource");

    before(async () => {
        mod = await import("../../components/host/dynamic-resource");
    });
    beforeEach(() => {
        mocks.resources.length = 0;
    });

    const makeProvider = (n: number): pulumi.dynamic.ResourceProvider => ({
        async create(inputs: any) { return { id: `x-${n}`, outs: { ...inputs, n } }; },
    });
    // Named as the SDK names it: the captured variable's name is part of the text.
    const sdkText = async (provider: pulumi.dynamic.ResourceProvider) => (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;
    const resolve = (t: pulumi.Input<string>) => (typeof t === "string" ? Promise.resolve(t) : promiseOf(pulumi.output(t)));

    it("has no built texts in the source tree, and serializes a provider once per process, as the SDK does", async () => {
        assert.match(mod.PREBUILT_DIR, /[/\\]providers$/);
        const first = mod.providerText("t1", makeProvider(1));
        assert.equal(await resolve(first), await sdkText(makeProvider(1)));
        assert.equal(mod.providerText("t1", makeProvider(1)), first, "the same name, the same text");
    });

    it("registers the type token and __provider that pulumi.dynamic.Resource registers", async () => {
        class Probe extends mod.PackagedDynamicResource {
            constructor(name: string) { super("t3", makeProvider(3), name, { a: 1 }, undefined, "probe", "Probe"); }
        }
        new Probe("p1");
        await new Promise((r) => setTimeout(r, 200));
        const r = mocks.resources.find((x) => x.name === "p1")!;
        assert.equal(r.type, "pulumi-nodejs:dynamic/probe:Probe");
        assert.equal(r.inputs.__provider, await sdkText(makeProvider(3)));
        assert.equal(r.inputs.a, 1);
        assert.throws(() => new mod.PackagedDynamicResource("t3", makeProvider(3), "p2", { __provider: "x" }), /__provider/);
    });
});
