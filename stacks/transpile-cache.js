// Loads the Pulumi program's TypeScript through a transpile cache, instead of ts-node
// (stacks/main.js registers it).
//
// Why: a no-change preview spent ~1 s of its ~3.7 s having ts-node transpile components/ and
// stacks/ again on every run (#16, bench:fleet's breakdown). Here each .ts file is transpiled
// once (TypeScript's transpileModule, no type check: `npm test` type-checks with tsc) and kept
// under node_modules/.cache/hardened-hosts-ts/, keyed by a digest of the file's path and text,
// tsconfig.json and the compiler's version: an edited file is transpiled again on its next
// load, a stale copy is never run. On a hit, the compiler is not loaded at all.
//
// The emitted code is what ts-node's transpile-only mode emits for the same tsconfig (same
// function: ts.transpileModule), so the dynamic providers' serialized code, kept in the state,
// does not change when a stack moves from one loader to the other.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

// Bump when this loader's output for the same input changes.
const LOADER_VERSION = "1";
const root = path.resolve(__dirname, "..");
const TSCONFIG = path.join(root, "tsconfig.json");
// HH_TS_CACHE_DIR: another place (the tests use a temp dir).
const cacheDir = process.env.HH_TS_CACHE_DIR || path.join(root, "node_modules", ".cache", "hardened-hosts-ts");

/** What every digest starts with: anything that changes the emitted code. */
function settingsDigest() {
    const h = crypto.createHash("sha256").update(`loader ${LOADER_VERSION}\0`);
    const tsPkg = require.resolve("typescript/package.json", { paths: [root] });
    h.update(`typescript ${JSON.parse(fs.readFileSync(tsPkg, "utf8")).version}\0`);
    h.update(fs.readFileSync(TSCONFIG, "utf8"));
    return h.digest();
}
const settings = settingsDigest();

let compiler; // loaded on the first miss only
function transpile(source, fileName) {
    if (!compiler) {
        const ts = require(require.resolve("typescript", { paths: [root] }));
        const file = TSCONFIG;
        const read = ts.readConfigFile(file, ts.sys.readFile);
        if (read.error) throw new Error(`${file}: ${ts.flattenDiagnosticMessageText(read.error.messageText, "\n")}`);
        const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, path.dirname(file), undefined, file);
        const options = {
            ...parsed.options,
            // As ts-node sets them for a require hook: one CommonJS module a file, its map inline.
            module: ts.ModuleKind.CommonJS,
            sourceMap: false,
            inlineSourceMap: true,
            inlineSources: true,
            declaration: false,
            noEmit: false,
            outDir: undefined,
        };
        compiler = { ts, options };
    }
    const out = compiler.ts.transpileModule(source, { compilerOptions: compiler.options, fileName, reportDiagnostics: false });
    return out.outputText;
}

/** The emitted JavaScript of a .ts file, from the cache or freshly transpiled (and cached). */
function emitted(fileName) {
    const source = fs.readFileSync(fileName, "utf8");
    // <file's key>-<text's digest>.js: one entry per file, the older ones pruned on a miss.
    const fileKey = crypto.createHash("sha256").update(settings).update(fileName).digest("hex").slice(0, 24);
    const name = `${fileKey}-${crypto.createHash("sha256").update(source).digest("hex").slice(0, 40)}.js`;
    const cached = path.join(cacheDir, name);
    try {
        return fs.readFileSync(cached, "utf8");
    } catch {
        // Not cached yet.
    }
    const js = transpile(source, fileName);
    try {
        // Atomic: several programs (tests, a preview beside an up) may load the same file at once.
        fs.mkdirSync(cacheDir, { recursive: true });
        const tmp = `${cached}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, js);
        fs.renameSync(tmp, cached);
        for (const old of fs.readdirSync(cacheDir)) {
            if (old.startsWith(`${fileKey}-`) && old.endsWith(".js") && old !== name) fs.rmSync(path.join(cacheDir, old), { force: true });
        }
    } catch {
        // A read-only tree still runs; it just transpiles every time.
    }
    return js;
}

/** Makes `require` load .ts files through the cache (once per process). */
function register() {
    // Stack traces name the .ts line (the inline source maps above).
    process.setSourceMapsEnabled(true);
    require.extensions[".ts"] = (module, fileName) => {
        module._compile(emitted(fileName), fileName);
    };
}

module.exports = { register, emitted, cacheDir };
