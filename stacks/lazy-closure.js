// Defers the Pulumi SDK's closure serializer until a program first uses it (stacks/main.js
// installs this before the program loads @pulumi/pulumi).
//
// Why: `require("@pulumi/pulumi")` loads runtime/index.js, which loads the closure serializer
// eagerly (runtime/closure/serializeClosure.js and codePaths.js), and with it the TypeScript
// compiler (typescript-shim) and npm's @npmcli/arborist: about 0.5 s of CPU on every run, spent
// before the program's first resource. This program needs the serializer only when a dynamic
// provider's code changed (components/host/dynamic-resource.ts keeps the serialized text by code
// version), so a no-change preview never needs it. Measured on the dev stack: the program's first
// resource 0.96 s -> 0.30 s after the stack's, the whole no-change preview 3.9 s -> 3.0 s (median
// of 5; docs/notes/fleet-scale.md).
//
// How: the two modules get a stand-in in Node's module cache whose exports are the real
// functions' forwarders; the first call loads the real module (which then replaces the stand-in
// in the cache) and calls through. Only for an SDK version whose exports are listed here (and a
// test checks the list against the installed SDK): any other version is left alone, and only
// slower.
"use strict";
const Module = require("node:module");
const fs = require("node:fs");
const path = require("node:path");

/** SDK version -> module (under runtime/closure/) -> its exported functions. */
const EXPORTS = {
    "3.270.0": {
        "serializeClosure.js": ["serializeFunctionAsync", "serializeFunction"],
        "codePaths.js": ["computeCodePaths", "findWorkspaceRoot", "packageArchivePath"],
    },
};

function closureDir(root) {
    return path.dirname(require.resolve("@pulumi/pulumi/runtime/closure/codePaths.js", { paths: [root] }));
}

function sdkVersion(root) {
    const pkg = require.resolve("@pulumi/pulumi/package.json", { paths: [root] });
    return JSON.parse(fs.readFileSync(pkg, "utf8")).version;
}

/** A stand-in for `file` in the module cache: `names` forward to the real module, loaded on first call. */
function defer(file, names) {
    if (require.cache[file]) return false; // already loaded: nothing to save
    let real;
    const load = () => {
        if (!real) {
            delete require.cache[file];
            real = require(file);
        }
        return real;
    };
    const standIn = new Module(file, module);
    standIn.filename = file;
    standIn.paths = Module._nodeModulePaths(path.dirname(file));
    standIn.loaded = true;
    standIn.exports = Object.fromEntries(names.map((n) => [n, (...args) => load()[n](...args)]));
    require.cache[file] = standIn;
    return true;
}

/**
 * Installs the stand-ins for the SDK that `root`'s modules resolve; returns what it deferred
 * (empty for an SDK version not listed).
 */
function install(root) {
    const listed = EXPORTS[sdkVersion(root)];
    if (!listed) return [];
    const dir = closureDir(root);
    return Object.entries(listed).filter(([file, names]) => defer(path.join(dir, file), names)).map(([file]) => file);
}

module.exports = { install, EXPORTS, closureDir, sdkVersion };
