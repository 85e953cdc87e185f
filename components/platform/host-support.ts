/**
 * `HostSupport`: the first step of a `HardenedHost`. On create and update it observes the host
 * (`platform.sh observe`, read-only), decides in TypeScript whether this host can run the mode
 * (support.ts), and only then:
 *
 * - refused: fails, naming the reason and what the user can do. Nothing was written to the host,
 *   and every later step (subids, runtime, verification) depends on this one, so none runs: the
 *   host stays byte for byte as found. The state keeps the refusal (a resource init error, as
 *   `HostCheck` keeps a failed check), so the next `up` decides again;
 * - supported: applies the decided fixes (`platform.sh fix`: an AppArmor profile for the exact
 *   rootlesskit/podman path, user.max_user_namespaces in its own sysctl.d file), none when none is
 *   needed (then nothing is written), and records the decision.
 *
 * Delete (`pulumi destroy`, after every later step's) takes the fixes back (`platform.sh unfix`).
 * A dynamic resource, because the decision is TypeScript and must run between observing and
 * writing; the later steps wait for it through dependsOn, so previews still show their exact
 * command lines.
 */
import * as pulumi from "@pulumi/pulumi";
import { HostConnection, commandConnection, needsSudo } from "../host/connection";
import { describeExit } from "../host/exit-codes";
import { parseReport } from "../host/report";
import { readHostScript, scriptByDigest, scriptCommandLine, scriptDigest } from "../host/script-files";
import type { PlainConnection } from "../host/ssh-exec";
import { withSsh } from "../host/ssh-exec";
import { PackagedDynamicResource } from "../host/dynamic-resource";
import { unpackScripts } from "../verify/host-check";
import { HostFacts, parseFacts } from "./facts";
import { SupportDecision, SupportMode, decideSupport, describeDecision, fixArgs } from "./support";

/** The script this step runs, under the package's `components/`. */
const PLATFORM_SCRIPT = "platform/platform.sh";

/** What the state keeps of the facts (the whole observation is in the step's log). */
export interface FactsSummary {
    distro: string;
    kernel: string;
    packageManager: HostFacts["packageManager"];
    apparmorRestrict: number | null;
    selinux: HostFacts["selinux"]["mode"];
    maxUserNamespaces: number | null;
    usernsProbe: boolean | null;
}

/** The inputs and outputs of a `HostSupport`, as the provider sees them (secrets revealed). */
export interface SupportProps {
    host: string;
    mode: SupportMode;
    /** platform.sh's digest: a new script decides again. */
    script: string;
    /** `sudo -n ` or empty: how the scripts run. */
    __sudo: boolean;
    __connection: PlainConnection;
    /**
     * State written before #29: platform.sh with its prelude, packed as HostCheck packed its
     * scripts. Now the script is the installed package's, by the digest in `script`; the next update
     * drops this.
     */
    __script?: string;
    decision?: SupportDecision;
    facts?: FactsSummary;
    /** The fixes platform.sh reported in place after the last step (`apparmor PATH`, `max_user_namespaces N`). */
    fixesApplied?: string[];
}

/** The summary the state keeps. */
export function summarize(f: HostFacts): FactsSummary {
    return {
        distro: f.osRelease.prettyName || `${f.osRelease.id} ${f.osRelease.versionId}`,
        kernel: f.kernel,
        packageManager: f.packageManager,
        apparmorRestrict: f.apparmor.restrictUnprivilegedUserns,
        selinux: f.selinux.mode,
        maxUserNamespaces: f.userns.maxUserNamespaces,
        usernsProbe: f.userns.probe.works,
    };
}

/** Why this state fails the operation (a refusal), or undefined. */
export function refusalMessage(p: SupportProps): string | undefined {
    const d = p.decision;
    if (d === undefined || d.status !== "refused") return undefined;
    return `${p.host}: ${describeDecision(d)}. Nothing was written to the host.`;
}

type Exec = (commandLine: string, stdin: string) => Promise<{ stdout: string; stderr: string; code: number | null }>;

async function runScript(exec: Exec, p: SupportProps, args: string[]): Promise<string> {
    const text = p.__script !== undefined ? unpackScripts(p.__script).platform ?? "" : scriptByDigest(PLATFORM_SCRIPT, p.script, args[0] === "unfix");
    const r = await exec(scriptCommandLine(args, p.__sudo), text);
    if (r.code !== 0) {
        const report = parseReport(r.stdout, "platform.sh");
        const why = report.ok === false && report.error ? report.error : r.stderr.trim().split("\n").slice(-3).join(" / ") || `exit ${r.code}`;
        throw new Error(`${p.host}: platform.sh ${args[0]} failed (${describeExit(r.code)}): ${why}`);
    }
    return r.stdout;
}

/** Observe, decide, fix (supported only). Pure apart from the host session. */
export async function decideOnHost(p: SupportProps, exec: Exec): Promise<SupportProps> {
    const facts = parseFacts(await runScript(exec, p, ["observe"]));
    const decision = decideSupport(facts, p.mode);
    const out: SupportProps = { ...p, decision, facts: summarize(facts), fixesApplied: [] };
    if (decision.status === "refused") return out;
    const ours = facts.fixes ?? { apparmorProfiles: [], maxUserNamespaces: null };
    // Nothing to fix and nothing of ours there: platform.sh is not even asked (nothing written).
    if (decision.fixes.length === 0 && ours.apparmorProfiles.length === 0 && ours.maxUserNamespaces === null) return out;
    const report = JSON.parse((await runScript(exec, p, fixArgs(decision.fixes))).trim().split("\n").pop()!) as { fixes?: typeof ours };
    const now = report.fixes ?? ours;
    out.fixesApplied = [
        ...now.apparmorProfiles.map((x) => `apparmor ${x}`),
        ...(now.maxUserNamespaces !== null ? [`max_user_namespaces ${now.maxUserNamespaces}`] : []),
    ];
    return out;
}

function settle(id: string, outs: SupportProps): { id: string; outs: SupportProps } {
    const refused = refusalMessage(outs);
    if (refused !== undefined) {
        const err = new Error(refused) as Error & { id: string; properties: SupportProps; reasons: string[] };
        err.id = id;
        err.properties = outs;
        err.reasons = [refused];
        throw err;
    }
    return { id, outs };
}

const COMPARED: (keyof SupportProps)[] = ["host", "mode", "script", "__sudo"];
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The provider. Everything it uses is plain data or pure functions (it is serialized). */
export const hostSupportProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: SupportProps) {
        const outs = await withSsh(inputs.__connection, (exec) => decideOnHost(inputs, exec));
        return settle(`${inputs.host}:${inputs.mode}`, outs);
    },
    async diff(_id: string, olds: SupportProps, news: SupportProps) {
        const changed = COMPARED.filter((k) => !same(olds[k], news[k]));
        // A refused host is decided again on every up (it may have been fixed by hand). State from
        // before #29 holds the script: rewritten without it (no host contact, see update).
        return { changes: changed.length > 0 || olds.decision?.status !== "supported" || olds.__script !== undefined };
    },
    async update(id: string, olds: SupportProps, news: SupportProps) {
        if (olds.__script !== undefined && olds.decision?.status === "supported" && COMPARED.every((k) => same(olds[k], news[k]))) {
            return { outs: { ...news, decision: olds.decision, facts: olds.facts, fixesApplied: olds.fixesApplied ?? [] } };
        }
        const outs = await withSsh(news.__connection, (exec) => decideOnHost(news, exec));
        return settle(id, outs);
    },
    async delete(_id: string, props: SupportProps) {
        // Only a host that got fixes is visited again: the others hold nothing of ours.
        if ((props.fixesApplied ?? []).length === 0) return;
        await withSsh(props.__connection, (exec) => runScript(exec, props, ["unfix"]));
    },
};

/** Arguments of {@link HostSupport}. */
export interface HostSupportArgs {
    connection: HostConnection;
    mode: pulumi.Input<SupportMode>;
    /** The host's name in errors and outputs. */
    hostName: pulumi.Input<string>;
}

/** The dynamic resource; see the module comment. */
export class HostSupport extends PackagedDynamicResource {
    /** The decision for this host and mode (supported or refused, and how). */
    public readonly decision!: pulumi.Output<SupportDecision>;
    /** What the decision was made from. */
    public readonly facts!: pulumi.Output<FactsSummary>;
    /** The fixes in place on the host. */
    public readonly fixesApplied!: pulumi.Output<string[]>;

    constructor(name: string, args: HostSupportArgs, opts?: pulumi.CustomResourceOptions) {
        const script = readHostScript(PLATFORM_SCRIPT);
        super(
            "host-support",
            hostSupportProvider,
            name,
            {
                host: args.hostName,
                mode: args.mode,
                script: scriptDigest(script),
                __sudo: needsSudo(args.connection),
                __connection: commandConnection(args.connection) as pulumi.Input<PlainConnection>,
                decision: undefined,
                facts: undefined,
                fixesApplied: undefined,
            },
            pulumi.mergeOptions(opts, { additionalSecretOutputs: ["__connection"] }),
        );
    }
}
