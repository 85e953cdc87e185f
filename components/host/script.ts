import * as pulumi from "@pulumi/pulumi";
import { HostConnection, commandConnection, needsSudo } from "./connection";
import { HostWork } from "./host-work";
import { scriptCommandLine } from "./script-files";
import type { PlainConnection } from "./ssh-exec";

export { PRELUDE, SCRIPT_PARTS, readHostScript, scriptCommandLine, scriptDigest } from "./script-files";

/** Arguments of {@link runHostScript}. */
export interface HostScriptArgs {
    connection: HostConnection;
    /** Path of the script under `components/`, e.g. `subids/subids-host.sh`. */
    script: string;
    /** Arguments for create (and update: scripts are idempotent, so update re-runs create). */
    create: pulumi.Input<string[]>;
    /** Arguments for delete (`pulumi destroy`), if the script undoes its work. */
    delete?: pulumi.Input<string[]>;
    /** Values whose change must replace (delete, then create) instead of update. */
    triggers?: pulumi.Input<any[]>;
}

/**
 * One {@link HostWork} that runs a shipped host script: its command line with quoted arguments,
 * the script (from the installed package, by digest) on the SSH session's stdin. A component
 * calling this passes `{ parent: this, dependsOn: opts?.dependsOn }`: the SDK gives a child its
 * parent's providers and `protect`, but not its `dependsOn`, so without it the registration names
 * none of what its component waits for and the engine's graph (state) lacks those edges.
 */
export function runHostScript(name: string, args: HostScriptArgs, opts?: pulumi.CustomResourceOptions): HostWork {
    const sudo = needsSudo(args.connection);
    return new HostWork(
        name,
        {
            // Secret as a whole, as remote.Command's: a review shows `connection: [secret]`, not
            // the host's address, port and key fingerprint on every update of a host's step.
            connection: pulumi.secret(commandConnection(args.connection)) as pulumi.Input<PlainConnection>,
            script: args.script,
            create: pulumi.all([args.create, sudo]).apply(([a, s]) => scriptCommandLine(a, s)),
            delete: args.delete
                ? pulumi.all([args.delete, sudo]).apply(([a, s]) => scriptCommandLine(a, s))
                : undefined,
            triggers: args.triggers,
        },
        opts,
    );
}
