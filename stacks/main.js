// The Pulumi program's entry point (Pulumi.yaml `main`): stacks/index.ts, loaded through the
// transpile cache of ./transpile-cache.js (it says why) instead of the engine's ts-node.
//
// The library itself needs none of this: it is the package's compiled dist/, loaded through its
// public entry as a user's program loads it. What stays here is what this repository's own
// program still gains from, measured on the dev stack's no-change preview (4 lab hosts, median
// of 11, 2026-12-07; docs/notes/fleet-scale.md): without the deferred closure serializer +26%
// CPU and +31% wall time, without the transpile cache (ts-node, transpile-only) +28% CPU and
// +54% wall time. Three more patches were removed that day, each under 10% (promise stack
// formatting, the SDK's debug trace, google-protobuf's string codec). At fleet scale the stack
// formatting is back, as one line below.
"use strict";
const path = require("node:path");
const root = path.resolve(__dirname, "..");
// The library comes from this checkout's dist/: it must be built from these sources.
require("../scripts/source-digest").checkFresh(root);
// Before anything loads @pulumi/pulumi: the closure serializer loads on first use (it says why;
// only for the SDK versions it lists, and test/stacks/lazy-closure.test.ts fails on any other).
require("./lazy-closure").install(root);
require("./transpile-cache").register();
// Stack traces formatted by V8 itself, not by the source-map-support the SDK's runner installs:
// the SDK takes a stack for every resource (its source position) and every promise it tracks
// (debuggable.js), and mapping each frame cost 21% of the program's CPU in a preview-only plan
// of 100 hosts (17 s -> 13 s, bench:plan; #29). Traces of this program then name transpiled lines.
Error.prepareStackTrace = undefined;

// The stack outputs are what the main module exports.
module.exports = require("./index.ts");
