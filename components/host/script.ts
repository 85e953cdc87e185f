import * as fs from "node:fs";
import * as path from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HostConnection, commandConnection, needsSudo } from "./connection";
import { shellJoin } from "./shell";

/** The prelude every host script runs on (exit codes, output helpers, shared readers). */
export const PRELUDE = "host/prelude.sh";

/**
 * The parts a script is made of, sent in this order between the prelude and the script itself
 * (each only defines functions; run from its file, the script sources them from beside it).
 */
export const SCRIPT_PARTS: Readonly<Record<string, readonly string[]>> = {
    "rootless/rootless.sh": ["rootless/rootless-common.sh", "rootless/toml-keys.sh", "rootless/rootless-docker.sh", "rootless/rootless-podman.sh"],
    "docker/docker-remap.sh": ["docker/docker-switch.sh"],
    // The subids step refuses, before it writes, a Docker switch the runtime step would refuse.
    "subids/subids-host.sh": ["docker/docker-switch.sh"],
};

/**
 * Host scripts are real files next to the component that ships them (`components/<dir>/*.sh`).
 * They travel to the host on the SSH session's stdin (`bash -s -- ARGS`), together with their
 * arguments, so nothing is left on the host and the preview shows exactly what will run. The
 * shared prelude (components/host/prelude.sh) goes first on the same stdin: a script finds its
 * helpers defined (run from its file instead, a script sources the prelude beside it). A script
 * in parts ({@link SCRIPT_PARTS}) has them between the prelude and itself.
 */
export function readHostScript(relativePath: string): string {
    const read = (rel: string) => fs.readFileSync(path.join(__dirname, "..", rel), "utf8");
    return [PRELUDE, ...(SCRIPT_PARTS[relativePath] ?? []), relativePath].map(read).join("\n");
}

/** The command line that runs a script read from stdin, with quoted arguments. */
export function scriptCommandLine(args: readonly string[], sudo: boolean): string {
    return (sudo ? "sudo -n " : "") + shellJoin(["bash", "-s", "--", ...args]);
}

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
 * One `remote.Command` that runs a shipped host script. A component calling this passes
 * `{ parent: this, dependsOn: opts?.dependsOn }`: the SDK gives a child its parent's providers
 * and `protect`, but not its `dependsOn`, so without it the command's registration names none of
 * what its component waits for and the engine's graph (state) lacks those edges.
 */
export function runHostScript(name: string, args: HostScriptArgs, opts?: pulumi.CustomResourceOptions): command.remote.Command {
    const sudo = needsSudo(args.connection);
    const text = readHostScript(args.script);
    return new command.remote.Command(
        name,
        {
            connection: commandConnection(args.connection),
            create: pulumi.all([args.create, sudo]).apply(([a, s]) => scriptCommandLine(a, s)),
            delete: args.delete
                ? pulumi.all([args.delete, sudo]).apply(([a, s]) => scriptCommandLine(a, s))
                : undefined,
            stdin: text,
            triggers: args.triggers,
            // Scripts announce each step on stderr; stdout is one JSON object we parse. The
            // progress display shows the steps, not the JSON.
            logging: "stderr",
            addPreviousOutputInEnv: false,
        },
        // No hideDiffs: engine 3.274 lists every hidden property of every command as changed
        // on each refresh ("~ stdout (hidden)"), even when it is not; updates print inputs only.
        opts,
    );
}
