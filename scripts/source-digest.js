// What dist/ is built from, as one digest: scripts/build.js writes it to dist/source-digest, and
// the stack program (stacks/main.js) checks it before it loads the library through the package's
// public entry, which Node resolves to this checkout's dist/. A program run on a dist/ built from
// other sources would harden hosts with code that is not the checkout's, so it stops instead.
// By content, not by time: a checkout or a copy changes every file's time, not its bytes.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const TREES = [["components", /\.(ts|sh)$|^pulumi-resource-|^PulumiPlugin\.yaml$|^package\.json$/], ["policy", /\.(ts|yaml|sh)$/]];
const FILES = ["package.json", "tsconfig.json", "tsconfig.build.json", "scripts/build.js", "scripts/serialize-providers.js"];

/** Every file below `dir` whose name matches `keep`, relative to `root`, sorted (build.js copies by it too). */
function listFiles(root, dir, keep) {
    return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
        const rel = path.join(dir, e.name);
        if (e.isDirectory()) return listFiles(root, rel, keep);
        return e.isFile() && keep.test(e.name) ? [rel] : [];
    }).sort();
}

/** sha256 of the paths and bytes of everything dist/ is built from (a few ms). */
function sourceDigest(root) {
    const h = crypto.createHash("sha256");
    for (const rel of [...TREES.flatMap(([d, keep]) => listFiles(root, d, keep)), ...FILES]) {
        h.update(`${rel}\0`).update(fs.readFileSync(path.join(root, rel))).update("\0");
    }
    return h.digest("hex");
}

const DIGEST_FILE = path.join("dist", "source-digest");

/** Throws, saying what to run, when dist/ is missing or was built from other sources. */
function checkFresh(root) {
    let built;
    try {
        built = fs.readFileSync(path.join(root, DIGEST_FILE), "utf8").trim();
    } catch {
        throw new Error(`hardened-hosts: ${path.join(root, "dist")} is not built: run \`npm run build\``);
    }
    if (built !== sourceDigest(root)) {
        throw new Error(`hardened-hosts: ${path.join(root, "dist")} was built from other sources than the checkout's: run \`npm run build\``);
    }
}

module.exports = { DIGEST_FILE, checkFresh, listFiles, sourceDigest };
