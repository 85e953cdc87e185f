/**
 * The host scripts as files of the installed package, read by the program (previews show their
 * digests) and by the dynamic providers that run them (host-work.ts, the check, the support step).
 * Nothing here loads `@pulumi/command` or the SDK: the providers load this module in the engine's
 * dynamic-provider process.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
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

/** `components/` of this copy of the library (dist/components/ once built). */
const COMPONENTS_DIR = path.resolve(__dirname, "..");

/**
 * Host scripts are real files next to the component that ships them (`components/<dir>/*.sh`).
 * They travel to the host on the SSH session's stdin (`bash -s -- ARGS`), together with their
 * arguments, so nothing is left on the host. The shared prelude (components/host/prelude.sh) goes
 * first on the same stdin: a script finds its helpers defined (run from its file instead, a script
 * sources the prelude beside it). A script in parts ({@link SCRIPT_PARTS}) has them between the
 * prelude and itself.
 */
export function readHostScript(relativePath: string): string {
    const read = (rel: string) => fs.readFileSync(path.join(COMPONENTS_DIR, rel), "utf8");
    return [PRELUDE, ...(SCRIPT_PARTS[relativePath] ?? []), relativePath].map(read).join("\n");
}

/** The short digest state and previews show for a script's text (`sha256:` and 16 hex digits). */
export function scriptDigest(text: string): string {
    return `sha256:${createHash("sha256").update(text).digest("hex").slice(0, 16)}`;
}

/**
 * A script by its path and the digest recorded when it was planned, as sent to the host. The
 * scripts are the installed package's: a digest that differs means the package changed since the
 * plan; `lenient` (destroy: the recorded arguments of an older release's script) runs the installed
 * one anyway, anything else refuses to run a script the plan did not show.
 */
export function scriptByDigest(relativePath: string, digest: string, lenient = false): string {
    const text = readHostScript(relativePath);
    const now = scriptDigest(text);
    if (now !== digest && !lenient) {
        throw new Error(`${relativePath}: the installed hardened-hosts has ${now}, not the ${digest} the plan was made with ` +
            "(the package changed since the preview): preview and update again");
    }
    return text;
}

/** The command line that runs a script read from stdin, with quoted arguments. */
export function scriptCommandLine(args: readonly string[], sudo: boolean): string {
    return (sudo ? "sudo -n " : "") + shellJoin(["bash", "-s", "--", ...args]);
}
