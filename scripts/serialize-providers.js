// Run by scripts/build.js, in a process of its own, from the repository root: prints the dynamic
// providers' code (those not loaded by reference: dynamic-resource.ts's BY_REFERENCE), serialized by the SDK from the built dist/components/ (local files there, so
// captured by value), as one JSON object name -> text.
//
// A script file, not `node -e`: an eval'd script has `exports`, `require` and `module` as globals,
// and the SDK's serializer takes every global for a built-in it need not capture, so compiled
// modules' `exports.X` references were left unbound in the text (an unset default pool).
"use strict";
const path = require("node:path");

const root = path.resolve(__dirname, "..");
process.chdir(root);

/**
 * name -> [module under dist/, exported provider]: providers shipped serialized. None since #29:
 * every provider is loaded by reference from the installed package (BY_REFERENCE).
 */
const PROVIDERS = {};

(async () => {
    const { serializeProvider, BY_REFERENCE, referenceText } = require(path.join(root, "dist", "components", "host", "dynamic-resource.js"));
    const out = {};
    for (const name of Object.keys(BY_REFERENCE)) out[name] = referenceText(name);
    for (const [name, [file, exported]] of Object.entries(PROVIDERS)) {
        const { text, containsSecrets } = await serializeProvider(require(path.join(root, "dist", file))[exported]);
        if (containsSecrets) throw new Error(`${name}: the provider captures a secret`);
        out[name] = text;
    }
    process.stdout.write(JSON.stringify(out));
})().catch((e) => {
    console.error(e);
    process.exit(1);
});
