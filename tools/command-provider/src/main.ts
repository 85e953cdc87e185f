// Entry point of the pulumi-resource-command plugin (TypeScript stand-in for pulumi-command v1.2.1).
//
// The engine starts the plugin as `pulumi-resource-command [flags] <engine address>`; the
// provider server prints its gRPC port and serves until the engine closes it. The engine
// address is also where log messages go.

import { main } from "@pulumi/pulumi/provider";
import { EngineLogSink, StderrLogSink } from "./log";
import { CommandProvider } from "./provider";

/** The engine address: the first argument that is not a flag (same rule as pulumi's parseArgs). */
export function engineAddress(args: string[]): string | undefined {
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (a === "--tracing") {
            i++;
            continue;
        }
        if (a.startsWith("-")) continue;
        return a;
    }
    return undefined;
}

if (require.main === module) {
    const args = process.argv.slice(2);
    const addr = engineAddress(args);
    const sink = addr ? new EngineLogSink(addr) : new StderrLogSink();
    void main(new CommandProvider(sink), args);
}
