/**
 * A Pulumi dynamic resource whose provider code is serialized once per code version, not on
 * every run.
 *
 * Why: `pulumi.dynamic.Resource` serializes its provider's closure (`__provider`, the code the
 * engine's Node.js dynamic provider runs) on every program run: the SDK walks the closure through
 * the V8 inspector and parses each function with the TypeScript parser. For this project's two
 * providers that was about 0.25 s of every preview's program, and the first dynamic resource
 * (the ledger) could not be registered, nor the engine start its dynamic provider, until it was
 * done (docs/notes/fleet-scale.md). The text only changes when code changes, so it is kept under
 * node_modules/.cache/hardened-hosts-providers/, keyed by everything it is made from:
 *
 * - every file of the library's own tree (components/: a captured function or constant may come
 *   from any module of it), tsconfig.json and the TypeScript version (they shape the emitted
 *   JavaScript that is serialized), the provider's own method texts (as this process loaded them);
 * - the SDK's version (its serializer) and Node.js's (Function.prototype.toString).
 *
 * A miss serializes exactly as `pulumi.dynamic.Resource` does (the same SDK function, the same
 * options) and stores the text; a hit sends the same text without loading the serializer. The
 * resource's type token is the one `pulumi.dynamic.Resource` registers, so stacks see no change.
 * A text the SDK marks as holding secrets is never cached.
 */
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

/** The library's root: components/ and tsconfig.json are below it. */
const ROOT = path.resolve(__dirname, "..", "..");
// HH_PROVIDER_CACHE_DIR: another place (the tests use a temp dir).
const cacheDir = () => process.env.HH_PROVIDER_CACHE_DIR || path.join(ROOT, "node_modules", ".cache", "hardened-hosts-providers");

/** Bump when the way a text is made changes for the same inputs. */
const FORMAT = "1";

function packageVersion(name: string): string {
    try {
        return JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`, { paths: [ROOT] }), "utf8")).version;
    } catch {
        return "none";
    }
}

/** Every file under `dir`, sorted, as path and bytes (what a captured module may come from). */
function hashTree(h: crypto.Hash, dir: string): void {
    const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) hashTree(h, p);
        else if (e.isFile()) h.update(`${path.relative(ROOT, p)}\0`).update(fs.readFileSync(p)).update("\0");
    }
}

let codeDigest: Buffer | undefined;
/** What every provider's key starts with; computed once per process. */
function libraryDigest(): Buffer {
    if (!codeDigest) {
        const h = crypto.createHash("sha256").update(`format ${FORMAT}\0node ${process.version}\0`);
        h.update(`@pulumi/pulumi ${packageVersion("@pulumi/pulumi")}\0typescript ${packageVersion("typescript")}\0`);
        const tsconfig = path.join(ROOT, "tsconfig.json");
        if (fs.existsSync(tsconfig)) h.update(fs.readFileSync(tsconfig));
        hashTree(h, path.join(ROOT, "components"));
        codeDigest = h.digest();
    }
    return codeDigest;
}

/** The cache file of one provider's text: `<name>-<digest>.js`. */
export function providerCacheFile(name: string, provider: pulumi.dynamic.ResourceProvider): string {
    const h = crypto.createHash("sha256").update(libraryDigest()).update(`${name}\0`);
    for (const [k, v] of Object.entries(provider).sort(([a], [b]) => (a < b ? -1 : 1))) {
        h.update(`${k}\0${typeof v === "function" ? Function.prototype.toString.call(v) : JSON.stringify(v)}\0`);
    }
    return path.join(cacheDir(), `${name}-${h.digest("hex").slice(0, 40)}.js`);
}

/** Serializes as `pulumi.dynamic.Resource` does (same SDK function and options). */
async function serialize(provider: pulumi.dynamic.ResourceProvider): Promise<{ text: string; containsSecrets: boolean }> {
    const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
    return { text: sf.text, containsSecrets: sf.containsSecrets };
}

function store(file: string, text: string): void {
    try {
        // Atomic: several programs may serialize the same provider at once.
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, text);
        fs.renameSync(tmp, file);
        // One text per provider: the older ones are for code that is gone.
        const prefix = `${path.basename(file).replace(/-[0-9a-f]+\.js$/, "")}-`;
        for (const old of fs.readdirSync(path.dirname(file))) {
            if (old.startsWith(prefix) && /^[0-9a-f]+\.js$/.test(old.slice(prefix.length)) && old !== path.basename(file)) {
                fs.rmSync(path.join(path.dirname(file), old), { force: true });
            }
        }
    } catch {
        // A read-only tree still works: it serializes on every run.
    }
}

const texts = new Map<pulumi.dynamic.ResourceProvider, pulumi.Input<string>>();

/** The provider's serialized text: cached on disk by code version, and once per process. */
export function providerText(name: string, provider: pulumi.dynamic.ResourceProvider): pulumi.Input<string> {
    const known = texts.get(provider);
    if (known !== undefined) return known;
    const file = providerCacheFile(name, provider);
    let text: pulumi.Input<string>;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch {
        text = pulumi.output(serialize(provider)).apply(({ text: t, containsSecrets }): pulumi.Output<string> => {
            if (containsSecrets) return pulumi.secret(t);
            store(file, t);
            return pulumi.output(t);
        });
    }
    texts.set(provider, text);
    return text;
}

/**
 * `pulumi.dynamic.Resource`, with its provider text from {@link providerText}: same type token
 * (`pulumi-nodejs:dynamic[/module]:type`), same `__provider` property.
 */
export class CachedDynamicResource extends pulumi.CustomResource {
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
