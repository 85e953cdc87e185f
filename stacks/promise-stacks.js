// Skips formatting the stack trace the Pulumi SDK takes for every promise it makes, unless the
// SDK will print it (stacks/main.js installs this once the SDK's runtime is loaded).
//
// Why: `debuggablePromise` (runtime/debuggable.js) stores `new Error().stack` on each promise, for
// one use only: the leak report printed when PULUMI_DEBUG_PROMISE_LEAKS is set. Reading `.stack`
// formats the trace at once through source-map-support (mapping every frame through the source
// maps): a third of the program's busy time in a no-change preview of 12 hosts (0.33 s of
// 2.1 s; docs/notes/fleet-scale.md), growing with every resource.
//
// How: Error.prepareStackTrace is V8's formatting hook (source-map-support's is in place by
// then); a wrapper gives errors made by `debuggablePromise` itself a one-line note instead, and
// hands every other error to the hook it wrapped. Nothing changes with PULUMI_DEBUG_PROMISE_LEAKS
// set; if the SDK renames the function, nothing changes at all.
"use strict";

const NOTE = "Error\n    (stack not kept: set PULUMI_DEBUG_PROMISE_LEAKS=1 to see where this promise was made)";

/** True when the error was made in the SDK's debuggablePromise (the innermost frame). */
function madeByDebuggablePromise(callSites) {
    const top = callSites[0];
    if (!top || top.getFunctionName() !== "debuggablePromise") return false;
    return /[\\/]@pulumi[\\/]pulumi[\\/]runtime[\\/]debuggable\.js$/.test(top.getFileName() ?? "");
}

/** Installs the wrapper; false when the stacks are wanted, no hook formats them, or it is in already. */
function install(env = process.env) {
    if (env.PULUMI_DEBUG_PROMISE_LEAKS) return false;
    const wrapped = Error.prepareStackTrace;
    // No hook: V8's own formatting is cheap enough, and stays exactly as it is.
    if (!wrapped || wrapped.promiseStacks) return false;
    const prepare = function (error, callSites) {
        return madeByDebuggablePromise(callSites) ? NOTE : wrapped(error, callSites);
    };
    prepare.promiseStacks = true;
    Error.prepareStackTrace = prepare;
    return true;
}

module.exports = { install, NOTE };
