// Drops the Pulumi SDK's own per-resource trace ("Registering resource ...", "RegisterResource RPC
// finished ...") when the pulumi command that runs the program will show it nowhere
// (stacks/main.js installs this once the SDK's runtime is loaded).
//
// Why: the SDK sends five such debug messages for every resource, one Log RPC at a time (its log
// chain waits for each before the next, and the program cannot end before the chain does): 415
// RPCs in a no-change preview of 12 hosts, 0.3 s of its 3 s (docs/notes/fleet-scale.md). The engine
// shows debug messages only with `--debug`, writes them to its own log only from `-v=3`, and to an
// event log when one is asked for (`--event-log`, which the Automation API always passes); the
// Pulumi Cloud backend keeps them only with `--debug`. Pulumi's own SDKs cut the same trace for
// the same reason (pulumi/pulumi#7144 moved the payloads behind excessiveDebugOutput; #7295 cut
// the Python SDK's, 35.8 s -> 6.35 s).
//
// How: the command line of the `pulumi` process that runs us (the first ancestor named pulumi)
// says whether any of those is on; when it is, when no such ancestor is found, or when
// HH_SDK_DEBUG_LOGS=1, nothing changes. Otherwise the SDK's log module drops debug messages that
// start with one of the SDK's own trace prefixes; every other message (ours, the user's, the SDK's
// failures, every info/warning/error) goes through as before.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

/** The SDK's per-resource and per-invoke trace messages (runtime/resource.js, runtime/invoke.js). */
const TRACE_PREFIXES = [
    "Registering resource: ",
    "RegisterResource RPC prepared: ",
    "RegisterResource RPC finished: ",
    "RegisterResourceOutputs RPC prepared: ",
    "RegisterResourceOutputs RPC finished: ",
    "Reading resource: ",
    "ReadResource RPC prepared: ",
    "ReadResource RPC finished: ",
    "Getting resource: ",
    "Checking resource existence: ",
    "Invoking function: ",
    "Invoke RPC prepared: ",
    "Invoke RPC finished: ",
    "Calling function: ",
    "Call RPC prepared: ",
    "Call RPC finished: ",
    "Resource RPC serialization requested: ",
];

/** True for a message of the SDK's own trace. */
function isSdkTrace(msg) {
    return typeof msg === "string" && TRACE_PREFIXES.some((p) => msg.startsWith(p));
}

/**
 * True when pulumi's arguments ask for debug messages anywhere: -d/--debug, -v/--verbose (any
 * level; glog prints debug messages from 3), --event-log. Short flags may be clustered (`-yd`) or
 * carry their value (`-v=9`, `-v9`); an argument that only looks like one (a value) errs towards
 * keeping the messages.
 */
function wantsDebug(args) {
    for (const arg of args) {
        if (arg === "--") break;
        if (/^--(debug|verbose|event-log)(=|$)/.test(arg)) return true;
        if (/^-[A-Za-z]/.test(arg)) {
            // A cluster of short flags ends at the first one that takes a value (-v9, -s dev).
            const cluster = arg.slice(1).split("=")[0];
            if (/^[a-zA-Z]*[dv]/.test(cluster)) return true;
        }
    }
    return false;
}

/** [pid, argv] of the nearest ancestor whose argv[0] is a `pulumi`, or undefined (up to 16 up). */
function pulumiAncestor(pid = process.ppid, proc = "/proc") {
    for (let depth = 0; depth < 16 && pid > 1; depth++) {
        let argv;
        let stat;
        try {
            argv = fs.readFileSync(path.join(proc, String(pid), "cmdline"), "utf8").split("\0");
            stat = fs.readFileSync(path.join(proc, String(pid), "stat"), "utf8");
        } catch {
            return undefined;
        }
        if (argv[argv.length - 1] === "") argv.pop();
        if (path.basename(argv[0] ?? "") === "pulumi") return [pid, argv];
        // stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
        pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    }
    return undefined;
}

/** Whether the SDK's trace is dropped in this process, and why (for tests and for debugging us). */
function decide(env = process.env, ancestor = pulumiAncestor()) {
    if (env.HH_SDK_DEBUG_LOGS === "1") return { drop: false, why: "HH_SDK_DEBUG_LOGS=1" };
    if (!ancestor) return { drop: false, why: "no pulumi command found among this process's ancestors" };
    if (wantsDebug(ancestor[1].slice(1))) return { drop: false, why: `pulumi (pid ${ancestor[0]}) shows or logs debug messages` };
    return { drop: true, why: `pulumi (pid ${ancestor[0]}) shows debug messages nowhere` };
}

/**
 * Installs the filter on the SDK's log module found from `projectRoot`; returns the decision, and
 * appends it as a JSON line to the file HH_SDK_DEBUG_LOGS_REPORT names, if any (nothing else can
 * tell afterwards whether a message that nothing shows was sent).
 */
function install(projectRoot, env = process.env, ancestor = pulumiAncestor()) {
    const decision = decide(env, ancestor);
    if (env.HH_SDK_DEBUG_LOGS_REPORT) fs.appendFileSync(env.HH_SDK_DEBUG_LOGS_REPORT, `${JSON.stringify(decision)}\n`);
    if (!decision.drop) return decision;
    const log = require(require.resolve("@pulumi/pulumi/log", { paths: [projectRoot] }));
    const debug = log.debug;
    if (typeof debug !== "function" || debug.sdkTraceDropped) return decision;
    const filtered = function (msg, ...rest) {
        return isSdkTrace(msg) ? Promise.resolve() : debug.call(this, msg, ...rest);
    };
    filtered.sdkTraceDropped = true;
    log.debug = filtered;
    return decision;
}

module.exports = { install, decide, wantsDebug, pulumiAncestor, isSdkTrace, TRACE_PREFIXES };
