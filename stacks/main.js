// The Pulumi program's entry point (Pulumi.yaml `main`): stacks/index.ts, loaded through the
// transpile cache of ./transpile-cache.js (it says why) instead of the engine's ts-node.
"use strict";
const path = require("node:path");
const root = path.resolve(__dirname, "..");
// The library comes from this checkout's dist/ (the package's public entry): built from these sources.
require("../scripts/source-digest").checkFresh(root);
const on = (name) => !process.env.HH_PATCHES_OFF || !process.env.HH_PATCHES_OFF.split(",").includes(name);
// Before anything loads @pulumi/pulumi: the closure serializer loads on first use (it says why).
if (on("lazy-closure")) require("./lazy-closure").install(root);
require("./transpile-cache").register();
if (on("promise-stacks")) require("./promise-stacks").install();
if (on("sdk-debug-logs")) require("./sdk-debug-logs").install(root);
if (on("protobuf-strings")) require("./protobuf-strings").install(root);

// The stack outputs are what the main module exports.
module.exports = require("./index.ts");
