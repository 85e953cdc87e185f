// The Pulumi program's entry point (Pulumi.yaml `main`): stacks/index.ts, loaded through the
// transpile cache of ./transpile-cache.js (it says why) instead of the engine's ts-node.
"use strict";
const path = require("node:path");
// Before anything loads @pulumi/pulumi: the closure serializer loads on first use (it says why).
require("./lazy-closure").install(path.resolve(__dirname, ".."));
require("./transpile-cache").register();
// The SDK's runtime (cmd/run) has installed its stack formatting by now: promises' stacks are
// formatted only when the SDK will print them (it says why).
require("./promise-stacks").install();
// The SDK's per-resource debug trace is sent only when the pulumi command will show or log it
// (it says why and how it tells).
require("./sdk-debug-logs").install(path.resolve(__dirname, ".."));

// Long strings cross the engine's RPCs through Buffer, not google-protobuf's byte loops (it says why).
require("./protobuf-strings").install(path.resolve(__dirname, ".."));

// The stack outputs are what the main module exports.
module.exports = require("./index.ts");
