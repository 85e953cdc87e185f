/**
 * `HostWork`: one host script run over SSH, the way `remote.Command` ran it (the command line
 * with its quoted arguments, the script on the session's stdin, the delete command on destroy),
 * but without the script in the state (issue #29).
 *
 * A `remote.Command` keeps its whole stdin, the script with its prelude (40-110 KB), in its inputs
 * and again in its outputs, for every host: most of a host's state, rewritten by the file backend
 * after every step of an update. The scripts are the same for every host of a fleet and ship in
 * the package, so `HostWork` keeps only the script's path and digest (`script`,
 * `scriptDigest`) beside the per-host values (`create`, `delete`, `connection`, `triggers`);
 * its provider reads the script from the installed package when it runs it, and refuses one
 * whose digest is not the plan's. The preview shows what it showed before: the command line (the
 * `owner:start:count` lines, the daemon.json keys), and the digest when a script changes.
 *
 * Lifecycle, as `remote.Command` (1.2.1) had it: create runs `create`; a change of any input
 * re-runs `create` (scripts are idempotent); a change of `triggers` replaces (create, then the old
 * one's delete); delete runs `delete` if there is one; refresh reads nothing from the host.
 *
 * Upgrade: a stack made before keeps its host work. The resource has the command's name and
 * parent and aliases its type, so the engine diffs the old `command:remote:Command` state with
 * this provider: when the command line and the script (the digest of the old stdin) are unchanged,
 * the update only rewrites the state, without contacting the host (test/e2e/lab-upgrade.test.ts).
 */
import { randomBytes } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { PackagedDynamicResource } from "./dynamic-resource";
import { describeExit } from "./exit-codes";
import { parseReport } from "./report";
import { readHostScript, scriptByDigest, scriptDigest } from "./script-files";
import type { PlainConnection } from "./ssh-exec";
import { withSsh } from "./ssh-exec";

/** The type token: the SDK's dynamic-resource form, `pulumi-nodejs:dynamic/<module>:<type>`. */
export const HOST_WORK_TYPE = "pulumi-nodejs:dynamic/host:HostWork";

/** The inputs and outputs of a `HostWork`, as the provider sees them (secrets revealed). */
export interface HostWorkProps {
    connection: PlainConnection;
    /** The command line create (and update) runs, sudo included: `bash -s -- ARGS`. */
    create: string;
    /** The command line destroy runs, if the script undoes its work. */
    delete?: string;
    /** The script under the package's `components/`, e.g. `subids/subids-host.sh`. */
    script: string;
    /** Its digest (prelude and parts included, as sent): a new script re-runs create. */
    scriptDigest: string;
    /** Values whose change replaces (create, then the old one's delete). */
    triggers?: unknown[];
    /** The script's stdout (its JSON report). */
    stdout?: string;
}

/** A `command:remote:Command`'s state, as stacks made before HostWork hold it. */
interface LegacyCommandProps {
    create?: string;
    delete?: string;
    stdin?: string;
    stdout?: string;
    connection?: PlainConnection;
    triggers?: unknown[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
/** Whether `old` has every non-null value `now` has (a provider may have added defaults to what it kept). */
function covers(old: unknown, now: unknown): boolean {
    if (now === null || now === undefined) return true;
    if (typeof now !== "object" || Array.isArray(now)) return same(old, now);
    if (old === null || typeof old !== "object") return false;
    return Object.entries(now).every(([k, v]) => covers((old as Record<string, unknown>)[k], v));
}

/** Inputs whose change re-runs create. */
const COMPARED = ["create", "delete", "script", "scriptDigest", "connection"] as const;

/** Whether olds are a `remote.Command`'s (a stack made before HostWork). */
export function isLegacyCommand(olds: Partial<HostWorkProps> & LegacyCommandProps): boolean {
    return typeof olds.stdin === "string" && olds.scriptDigest === undefined;
}

/**
 * Whether the state of a `remote.Command` says the host already has exactly this work: the same
 * command line, the same script (the digest of its stdin), the same connection. Then the upgrade
 * rewrites the state and nothing runs on the host.
 */
export function legacyUnchanged(olds: LegacyCommandProps, news: HostWorkProps): boolean {
    return olds.create === news.create
        && (olds.delete ?? "") === (news.delete ?? "")
        && scriptDigest(olds.stdin ?? "") === news.scriptDigest
        && covers(olds.connection, news.connection)
        && same(olds.triggers ?? [], news.triggers ?? []);
}

/** Runs a command line with the script on stdin; its stdout, or an error saying why it failed. */
async function run(conn: PlainConnection, what: string, commandLine: string, script: string): Promise<string> {
    return withSsh(conn, async (exec) => {
        const r = await exec(commandLine, script);
        if (r.code !== 0) {
            const report = parseReport(r.stdout, what);
            // A script that printed no report (killed, cut off): the last lines it logged say why.
            const why = report.ok === false && report.exitCode !== undefined && report.error
                ? report.error
                : r.stderr.trim().split("\n").slice(-3).join(" / ") || report.error || `exit ${r.code}`;
            throw new Error(`${conn.host}: ${what} failed (${describeExit(r.code)}): ${why}`);
        }
        return r.stdout;
    });
}

/** Create and update: run the script with the `create` command line. */
async function apply(p: HostWorkProps): Promise<HostWorkProps> {
    const stdout = await run(p.connection, p.script, p.create, scriptByDigest(p.script, p.scriptDigest));
    return { ...p, stdout };
}

/** The provider (loaded from the installed package: dist/providers/host-work.js says how). */
export const hostWorkProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: HostWorkProps) {
        return { id: randomBytes(8).toString("hex"), outs: await apply(inputs) };
    },
    async diff(_id: string, olds: HostWorkProps & LegacyCommandProps, news: HostWorkProps) {
        const replaces = same(olds.triggers ?? [], news.triggers ?? []) ? [] : ["triggers"];
        // A remote.Command's state is rewritten as ours (update: see legacyUnchanged).
        const changed = isLegacyCommand(olds) || COMPARED.some((k) => !same(olds[k], news[k]));
        return { changes: changed || replaces.length > 0, replaces };
    },
    async update(_id: string, olds: HostWorkProps & LegacyCommandProps, news: HostWorkProps) {
        if (isLegacyCommand(olds) && legacyUnchanged(olds, news)) return { outs: { ...news, stdout: olds.stdout ?? "" } };
        return { outs: await apply(news) };
    },
    async delete(_id: string, props: HostWorkProps) {
        if (!props.delete) return;
        // The recorded delete command line, with the installed script even when the package
        // changed since the last update: destroy must not depend on that release being installed.
        await run(props.connection, `${props.script} (delete)`, props.delete, scriptByDigest(props.script, props.scriptDigest, true));
    },
};

/** Arguments of {@link HostWork}. */
export interface HostWorkArgs {
    connection: pulumi.Input<PlainConnection>;
    /** The script under `components/`, e.g. `subids/subids-host.sh`. */
    script: string;
    /** The command line create (and update) runs. */
    create: pulumi.Input<string>;
    /** The command line destroy runs, if the script undoes its work. */
    delete?: pulumi.Input<string | undefined>;
    /** Values whose change replaces instead of updating. */
    triggers?: pulumi.Input<any[]>;
}

/** The dynamic resource; see the module comment. */
export class HostWork extends PackagedDynamicResource {
    /** The command line create runs. */
    public readonly create!: pulumi.Output<string>;
    /** The command line destroy runs, if any. */
    public readonly delete!: pulumi.Output<string | undefined>;
    /** The script's path under `components/`. */
    public readonly script!: pulumi.Output<string>;
    /** The script's digest (prelude and parts included). */
    public readonly scriptDigest!: pulumi.Output<string>;
    /** The script's stdout (its JSON report). */
    public readonly stdout!: pulumi.Output<string>;
    /** The script's text as this program reads it (prelude and parts included); not in the state. */
    public readonly scriptText: string;
    /** The script's path under `components/`, as a plain value. */
    public readonly scriptPath: string;

    constructor(name: string, args: HostWorkArgs, opts?: pulumi.CustomResourceOptions) {
        const text = readHostScript(args.script);
        super(
            "host-work",
            hostWorkProvider,
            name,
            {
                connection: args.connection,
                create: args.create,
                delete: args.delete,
                script: args.script,
                scriptDigest: scriptDigest(text),
                triggers: args.triggers,
                stdout: undefined,
            },
            pulumi.mergeOptions(opts, {
                // Stacks made before #29 ran this work as a remote.Command of the same name.
                aliases: [{ type: "command:remote:Command" }],
                additionalSecretOutputs: ["connection"],
                // The upgrade's review would print each old command's script (its stdin, 40-110 KB)
                // and log (stderr) as removed; after it, neither exists, so nothing is ever hidden.
                hideDiffs: ["stdin", "stderr"],
            }),
            "host",
            "HostWork",
        );
        this.scriptText = text;
        this.scriptPath = args.script;
    }
}
