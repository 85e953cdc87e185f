#!/usr/bin/env node
// `npm run build`: the package's dist/, from nothing (a file removed from the sources cannot
// linger):
//   dist/components/   the library, compiled with declarations (tsconfig.build.json), and its host
//                      scripts (components/**/*.sh) beside the modules that send them
//   dist/policy/       the policy pack, compiled, with the PulumiPolicy.yaml and package.json a
//                      `--policy-pack` directory needs (its version is the package's), and its
//                      analyzer.sh launcher
//   dist/providers/    the dynamic providers' code, serialized here once (components/host/
//                      dynamic-resource.ts says why a user's program cannot do it)
//   dist/source-digest what it was built from (scripts/source-digest.js)
// `npm pack` runs it (prepack); `npm test` and scripts/up.sh run it before they use dist/.
"use strict";
const childProcess = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");

const { DIGEST_FILE, listFiles, sourceDigest } = require("./source-digest");

const root = path.resolve(__dirname, "..");
const dist = path.join(root, "dist");
const log = (m) => process.stderr.write(`[build] ${m}\n`);
const t0 = Date.now();

fs.rmSync(dist, { recursive: true, force: true });
const digest = sourceDigest(root);
childProcess.execFileSync(process.execPath, [require.resolve("typescript/bin/tsc", { paths: [root] }), "-p", path.join(root, "tsconfig.build.json")], {
    cwd: root,
    stdio: "inherit",
});

// Host scripts keep their mode (executable where they are): the prelude finds its parts beside it.
for (const rel of listFiles(root, "components", /\.sh$/)) {
    const from = path.join(root, rel);
    const to = path.join(dist, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
    fs.chmodSync(to, fs.statSync(from).mode & 0o777);
}

// The component provider's plugin files (components/provider/README.md): its launcher, and what
// `pulumi package add` reads (PulumiPlugin.yaml, package.json).
for (const [file, mode] of [["pulumi-resource-hardened-hosts", 0o755], ["PulumiPlugin.yaml", 0o644], ["package.json", 0o644]]) {
    fs.copyFileSync(path.join(root, "components", "provider", file), path.join(dist, "components", "provider", file));
    fs.chmodSync(path.join(dist, "components", "provider", file), mode);
}

const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
fs.copyFileSync(path.join(root, "policy", "PulumiPolicy.yaml"), path.join(dist, "policy", "PulumiPolicy.yaml"));
// For engines whose Node.js language host cannot start a pack from a directory (policy/README.md).
fs.copyFileSync(path.join(root, "policy", "analyzer.sh"), path.join(dist, "policy", "analyzer.sh"));
fs.chmodSync(path.join(dist, "policy", "analyzer.sh"), 0o755);
fs.writeFileSync(path.join(dist, "policy", "package.json"), `${JSON.stringify({
    name: "hardened-hosts-policy",
    version: pkg.version,
    private: true,
    description: "The hardened-hosts policy pack: pulumi preview --policy-pack node_modules/hardened-hosts/dist/policy",
    main: "index.js",
}, null, 2)}\n`);

// The providers' code (scripts/serialize-providers.js says how and why in a process of its own).
const serialized = childProcess.execFileSync(process.execPath, ["--no-warnings", path.join(__dirname, "serialize-providers.js")], {
    cwd: root,
    maxBuffer: 64 << 20,
}).toString();
fs.mkdirSync(path.join(dist, "providers"));
for (const [name, text] of Object.entries(JSON.parse(serialized))) {
    // What a user's state holds must not name this machine's paths.
    if (text.includes(root)) throw new Error(`${name}: the serialized provider names ${root}`);
    fs.writeFileSync(path.join(dist, "providers", `${name}.js`), text);
}
// Last: a dist/ with this file is whole (stacks/main.js checks it against the sources).
fs.writeFileSync(path.join(root, DIGEST_FILE), `${digest}\n`);
log(`dist/ built in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
