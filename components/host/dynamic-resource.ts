/**
 * A Pulumi dynamic resource whose provider code is not serialized in the user's program.
 *
 * Why: `pulumi.dynamic.Resource` serializes its provider's closure (`__provider`, the code the
 * engine's Node.js dynamic provider runs) on every program run. That costs the program the SDK's
 * closure serializer (the TypeScript parser, ~0.25 s for this library's first two providers), and it
 * cannot work at all once the library is installed: the serializer captures a module that sits
 * under `node_modules` by reference (`require("hardened-hosts/<path>")`, resolved through the
 * package's `exports`), and the library's internal modules are not exports, so serializing fails
 * with `package.json export path for ... not found` (read in @pulumi/pulumi 3.270
 * `runtime/closure/createClosure.js` `captureModuleAsync` and `package.js` `getModuleFromPath`).
 * And the text is kept in every such resource's inputs and outputs: serialized, the check's was
 * 45 KB, in the state of every host (issue #29).
 *
 * So `npm run build` (scripts/build.js) writes, for each provider, a one-line text that loads the
 * provider from the installed package ({@link BY_REFERENCE}: an export of package.json, resolved
 * from the program's directory, where the engine runs the dynamic provider), and ships it as
 * `dist/providers/<name>.js`. The text is the same for every resource and every release: the
 * provider's code is whatever release is installed, and a release that changes only that code
 * changes no resource (the providers' `diff` never compares `__provider`;
 * test/package/consumer.test.ts). Run from the TypeScript source (this repository's tests), there
 * is no built text: the provider is serialized once per process exactly as
 * `pulumi.dynamic.Resource` does.
 *
 * The resource's type token is the one `pulumi.dynamic.Resource` registers, so stacks see no
 * change.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

/**
 * Providers whose state-held text only loads the installed package's module (issue #29): the
 * per-host ones and the ledger. Their serialized code (45 KB for the check, 26 KB for the ledger) sat
 * in every host's state, in inputs and outputs; this text is ~120 bytes, the same for every resource and release, so an upgrade
 * that changes only the providers' code changes no resource. The module is resolved from the
 * program's directory, the dynamic provider's working directory (the engine starts plugins there):
 * the project's `node_modules/hardened-hosts`, or this package itself in its own repository (Node's
 * self-reference by the `exports` of package.json). name -> [export subpath, exported provider].
 */
export const BY_REFERENCE: Readonly<Record<string, readonly [string, string]>> = {
    "host-work": ["hardened-hosts/providers/host-work", "hostWorkProvider"],
    "host-check": ["hardened-hosts/providers/host-check", "hostCheckProvider"],
    "host-support": ["hardened-hosts/providers/host-support", "hostSupportProvider"],
    "subids-ledger": ["hardened-hosts/providers/subids-ledger", "ledgerProvider"],
};

/**
 * The text a by-reference provider's resources hold (`__provider`; see {@link BY_REFERENCE}): one
 * line, in inputs and outputs of every such resource. Not installed where the program runs, it
 * fails with Node's own "Cannot find module 'hardened-hosts/providers/<name>'".
 */
export function referenceText(name: string): string {
    const [spec, exported] = BY_REFERENCE[name]!;
    return `exports.handler=()=>require("module").createRequire(process.cwd()+"/")(${JSON.stringify(spec)}).${exported};\n`;
}

/** Where the build puts the providers' texts: dist/providers/, beside dist/components/. */
export const PREBUILT_DIR = path.resolve(__dirname, "..", "..", "providers");

/** Serializes as `pulumi.dynamic.Resource` does (same SDK function, same options). */
export async function serializeProvider(provider: pulumi.dynamic.ResourceProvider): Promise<{ text: string; containsSecrets: boolean }> {
    const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
    return { text: sf.text, containsSecrets: sf.containsSecrets };
}

const texts = new Map<string, pulumi.Input<string>>();

/** The provider's serialized text: the built one when there is one, else serialized once per process. */
export function providerText(name: string, provider: pulumi.dynamic.ResourceProvider): pulumi.Input<string> {
    const known = texts.get(name);
    if (known !== undefined) return known;
    let text: pulumi.Input<string>;
    try {
        text = fs.readFileSync(path.join(PREBUILT_DIR, `${name}.js`), "utf8");
    } catch {
        text = pulumi.output(serializeProvider(provider)).apply(({ text: t, containsSecrets }): pulumi.Output<string> => (containsSecrets ? pulumi.secret(t) : pulumi.output(t)));
    }
    texts.set(name, text);
    return text;
}

/**
 * `pulumi.dynamic.Resource`, with its provider text from {@link providerText}: same type token
 * (`pulumi-nodejs:dynamic[/module]:type`), same `__provider` property.
 */
export class PackagedDynamicResource extends pulumi.CustomResource {
    constructor(
        providerName: string,
        provider: pulumi.dynamic.ResourceProvider,
        name: string,
        props: pulumi.Inputs,
        opts?: pulumi.CustomResourceOptions,
        module?: string,
        type = "Resource",
    ) {
        if (props.__provider !== undefined) throw new Error("A dynamic resource must not define the __provider key");
        super(`pulumi-nodejs:dynamic${module ? `/${module}` : ""}:${type}`, name, { ...props, __provider: providerText(providerName, provider) }, opts);
    }
}
