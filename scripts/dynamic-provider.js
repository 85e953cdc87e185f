#!/usr/bin/env node
// Installed by scripts/pulumi-toolchain.sh as `pulumi-resource-pulumi-nodejs`, next to the engine,
// with stacks/lazy-closure.js beside it: the launcher of the Node.js SDK's dynamic provider (the
// process that runs every `pulumi.dynamic.Resource`'s code: here the subordinate-ID ledger and
// the hosts' checks).
//
// Why not the SDK's own launcher (a sh script in the Go SDK module): it starts node twice, once
// to resolve `@pulumi/pulumi/cmd/dynamic-provider` from the current directory and once to run it,
// and the provider then loads the SDK's closure serializer (the TypeScript compiler and npm's
// arborist), which it never uses: it only loads providers' code already serialized. The engine
// starts this provider while the program waits for the ledger's allocation, and while the
// plugin loads the engine handles no other registration, so its start-up is on the critical
// path of every preview: 0.87 s of a 12-host no-change preview (docs/notes/fleet-scale.md).
// Here: one node, the same module resolved from the same directory, the serializer deferred to
// its first use (stacks/lazy-closure.js, for the SDK versions it lists; any other is loaded as
// the SDK loads it).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

let entry;
try {
    entry = require.resolve("@pulumi/pulumi/cmd/dynamic-provider", { paths: [process.cwd()] });
} catch (err) {
    console.error(`pulumi-resource-pulumi-nodejs: @pulumi/pulumi is not installed where the program runs (${process.cwd()}): ${err.message}`);
    process.exit(1);
}

// Installed beside this file; in the source checkout, the program's own copy.
const lazy = [path.join(__dirname, "lazy-closure.js"), path.join(__dirname, "..", "stacks", "lazy-closure.js")]
    .find((f) => fs.existsSync(f));
if (lazy) {
    try {
        require(lazy).install(path.dirname(entry));
    } catch (err) {
        // Only slower: the SDK loads its serializer itself.
        console.error(`pulumi-resource-pulumi-nodejs: closure serializer not deferred: ${err.message}`);
    }
}

// The provider reads its arguments (the engine's address) from process.argv.slice(2), as when
// node runs it directly.
require(entry);
