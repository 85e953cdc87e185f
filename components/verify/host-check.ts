/**
 * The truth about one host, kept in Pulumi state and re-checkable at any time.
 *
 * `HostCheck` is a dynamic resource (served by Pulumi's Node.js dynamic provider) because it
 * needs what `remote.Command` lacks: a Read. Its lifecycle is standard Pulumi semantics:
 *
 * - create/update: runs `verify.sh observe` over SSH and records the checks (`result`), and the
 *   failed ones as `drift` lines;
 * - read (`pulumi refresh`, `up --refresh`): observes again, read-only, one SSH session per host,
 *   and records what it saw. The program always declares `drift: []`, so a host that drifted
 *   differs from the program: `preview --diff` shows the drifted checks on the host that has them,
 *   `--expect-no-changes` fails;
 * - update after such a refresh: re-runs, in the same SSH session, the host steps the drifted
 *   checks belong to (their exact command lines, the ones `remote.Command` ran: idempotent
 *   scripts), then observes again. Steps with nothing drifted are not run.
 *
 * A failed check fails the operation (unless `reportOnly`) with the observed and expected values,
 * and the state keeps the failed result (a resource init error), so the next `up` tries again and
 * the outputs never say "passed" for a host that did not pass.
 */
import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import * as pulumi from "@pulumi/pulumi";
import type { PlainConnection } from "../host/ssh-exec";
import { withSsh } from "../host/ssh-exec";
import type { IdRange } from "../subids/ranges";
import { Check, HostResult, PREPARED_NOT_PROVEN, VerifyRuntime, failedChecks, failureMessage, hostResult, parseObservations } from "./checks";
import { describeExit } from "../host/exit-codes";
import { parseReport } from "../host/report";
import { PackagedDynamicResource } from "../host/dynamic-resource";
import { readHostScript, scriptByDigest, scriptDigest } from "../host/script-files";

/** A host step the check can re-run when its checks drift. */
export interface HostStep {
    /** `subids` (the managed /etc/subuid and /etc/subgid lines) or `runtime`. */
    name: "subids" | "runtime";
    /** The exact command line of the step's `HostWork` create (sudo included). */
    command: string;
    /** The step's script under the package's `components/` (`subids/subids-host.sh`). */
    script: string;
}

/** A {@link HostStep} whose command line is still an Output. */
export interface HostStepInput {
    name: HostStep["name"];
    command: pulumi.Input<string>;
    /** The step's script under `components/`, as `runHostScript` takes it (`HostWork.scriptPath`). */
    script: string;
}

/** Which step repairs a failed check: the subids lines, else the runtime (which also restarts on new lines). */
export function stepFor(check: string): HostStep["name"] | undefined {
    if (/^sub[ug]id-(range|managed-lines)$/.test(check) || check === "getsubids") return "subids";
    // A foreign line overlapping ours, or a user's --userns=host container, is not ours to undo:
    // the check stays failed (and says so) until a human decides. Nor is a host that did not answer.
    if (/^sub[ug]id-no-overlap$/.test(check) || check === "no-userns-host-containers" || check === "host-users-pods" || check === UNREACHABLE) return undefined;
    return "runtime";
}

/** Steps to re-run for these failed checks, in host order (subids before the runtime). */
export function repairPlan(failed: readonly string[]): HostStep["name"][] {
    const names = new Set(failed.map(stepFor).filter((s): s is HostStep["name"] => s !== undefined));
    // dockerd and the rootless runtimes read the subordinate ranges when they start.
    if (names.has("subids")) names.add("runtime");
    return (["subids", "runtime"] as const).filter((s) => names.has(s));
}

/** The one check of a host that could not be observed (SSH or verify.sh failed). */
export const UNREACHABLE = "host-observed";

/** The result for a host that could not be observed at all: failed, saying why. */
export function unreachableResult(p: { host: string; runtime: VerifyRuntime; expectedRange: IdRange }, why: string, at: Date): HostResult {
    return {
        host: p.host,
        runtime: p.runtime,
        mode: "unreachable",
        passed: false,
        checks: [{
            name: UNREACHABLE,
            passed: false,
            expected: "verify.sh runs on the host over SSH",
            observed: why.slice(0, 500),
            detail: "a host that cannot be observed is not known to be hardened",
            severity: "error",
        }],
        uidMap: [],
        gidMap: [],
        containerRootHostUid: null,
        expectedRange: { start: p.expectedRange.start, count: p.expectedRange.count },
        verifiedAt: at.toISOString().replace(/\.\d{3}Z$/, "Z"),
        runtimeVersion: null,
        image: null,
    };
}

/** One line per failed check, the way previews and outputs show drift. */
export function driftLines(checks: readonly Check[]): string[] {
    return failedChecks({ checks }).map((c) => `${c.name}: observed ${c.observed}; expected ${c.expected}`);
}

/** The inputs of a `HostCheck`, as the provider receives them (secrets revealed). */
export interface CheckProps {
    host: string;
    runtime: VerifyRuntime;
    user: string;
    expectedRange: IdRange;
    /** podman-auto: the planned IDs per container (absent for the other runtimes). */
    autoSize?: number;
    reportOnly: boolean;
    /**
     * Digests of what the checked state depends on (each step's command line and script, and
     * verify.sh's), `name sha256:...`; a change re-observes. The steps' own diffs show what changed.
     */
    rerunOn: string[];
    /** Declared: none. Recorded by a refresh: the failed checks it observed. */
    drift: string[];
    /** Declared: none. Recorded by a refresh: the steps the next update re-runs for that drift. */
    repair: HostStep["name"][];
    /** verify.sh's command line. Internal (`__`) keys stay out of every diff display. */
    __observe: string;
    /** The steps' command lines; their scripts are in `__scripts`. */
    __steps: { name: HostStep["name"]; command: string }[];
    __connection: PlainConnection;
    /**
     * verify.sh and each step's script, by name: `<path under components/> <digest>`, read from the
     * installed package when they run ({@link scriptByDigest}). Internal keys stay out of every diff
     * display.
     */
    __scriptRefs?: Record<string, string>;
    /**
     * State written before #29: the scripts themselves, packed ({@link packScripts}) or (before
     * the packing) plain. Read when there are no refs; the next update drops them.
     */
    __scripts?: PackedScripts | Record<string, string>;
    result?: HostResult;
    repaired?: string[];
}

/** `gzip+base64:` and the gzipped JSON of the scripts by name. */
export type PackedScripts = string;

/** packScripts' results by their JSON text, for the life of the program (a few distinct sets). */
const packedByText = new Map<string, PackedScripts>();

/**
 * The scripts as the check keeps them: one gzipped JSON object. Why: the state held every host's
 * scripts twice (inputs and outputs, 115-167 KB each, the prelude in each script), and the engine
 * sends them through every Check and Diff of a preview and writes the whole state after each step
 * of an update; packed they are ~2.7x smaller (a busy host's three: 148 KB -> 55 KB;
 * docs/notes/fleet-scale.md). gzip with a fixed
 * header (no time, no name) is deterministic, so the same scripts give the same inputs.
 */
export function packScripts(scripts: Record<string, string>): PackedScripts {
    const sorted = Object.fromEntries(Object.entries(scripts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const text = JSON.stringify(sorted);
    // Hosts of one runtime mode carry the same scripts: each distinct set is compressed once per
    // run (gzip -9 of one set ~10 ms: 0.11 s of a 12-host preview's program before).
    let packed = packedByText.get(text);
    if (packed === undefined) {
        packed = `gzip+base64:${gzipSync(Buffer.from(text), { level: 9 }).toString("base64")}`;
        packedByText.set(text, packed);
    }
    return packed;
}

/** The scripts by name, packed or (state from before the packing) plain. */
export function unpackScripts(v: PackedScripts | Record<string, string> | undefined): Record<string, string> {
    if (v === undefined) return {};
    if (typeof v !== "string") return v;
    if (!v.startsWith("gzip+base64:")) throw new Error("__scripts: not a packed script set");
    return JSON.parse(gunzipSync(Buffer.from(v.slice("gzip+base64:".length), "base64")).toString("utf8"));
}

/** Runs one script and returns its stdout; a non-zero exit fails with its own report. */
async function runStep(exec: (c: string, s: string) => Promise<{ stdout: string; stderr: string; code: number | null }>, what: string, command: string, script: string): Promise<string> {
    const r = await exec(command, script);
    if (r.code !== 0) {
        const report = parseReport(r.stdout, what);
        // A script that printed no report (killed, cut off): the last lines it logged say why.
        const why = report.ok === false && report.exitCode !== undefined && report.error
            ? report.error
            : r.stderr.trim().split("\n").slice(-3).join(" / ") || report.error || `exit ${r.code}`;
        throw new Error(`${what} failed (${describeExit(r.code)}): ${why}`);
    }
    return r.stdout;
}

/** Observes (after re-running `repair` steps) and returns the new state. */
async function observe(p: CheckProps, repair: HostStep["name"][]): Promise<CheckProps> {
    const scripts = p.__scriptRefs ? scriptsByRef(p.__scriptRefs) : unpackScripts(p.__scripts);
    const stdout = await withSsh(p.__connection, async (exec) => {
        for (const name of repair) {
            const step = p.__steps.find((s) => s.name === name);
            if (step) await runStep(exec, `${p.host}: repairing ${name}`, step.command, scripts[name] ?? "");
        }
        return runStep(exec, `${p.host}: verify.sh`, p.__observe, scripts.verify ?? "");
    });
    return observedProps(p, stdout, repair);
}

/** The state after an observation: verify.sh's stdout turned into checks (pure). */
export function observedProps(p: CheckProps, stdout: string, repaired: HostStep["name"][]): CheckProps {
    let result: HostResult;
    try {
        result = hostResult(parseObservations(stdout), {
            host: p.host, runtime: p.runtime, user: p.user, expectedRange: p.expectedRange,
            ...(p.autoSize !== undefined ? { autoSize: p.autoSize } : {}),
        });
    } catch (e) {
        // Not a failed check: the verification itself could not be read.
        throw new Error(`${p.host} (${p.runtime}): ${(e as Error).message}`);
    }
    return { ...p, result, drift: driftLines(result.checks), repair: [], repaired };
}

/** Why this state fails the operation (failed checks, not reportOnly), or undefined. */
export function checkFailure(outs: CheckProps): string | undefined {
    const result = outs.result!;
    // A kubelet-userns node with nothing to prove it on yet is not a failure: its outputs say so.
    if (outs.reportOnly || result.passed || result.status === PREPARED_NOT_PROVEN) return undefined;
    return `${failureMessage(result)}\nExport the result without failing: reportOnly: true. After fixing the host: pulumi up --refresh.`;
}

/** What the engine stores; a failed host is stored too (an init error), so the next up retries. */
function settle(id: string, outs: CheckProps): { id: string; outs: CheckProps } {
    const failure = checkFailure(outs);
    if (failure !== undefined) {
        const err = new Error(failure) as Error & {
            id: string;
            properties: CheckProps;
            reasons: string[];
        };
        err.id = id;
        err.properties = outs;
        err.reasons = [err.message];
        throw err;
    }
    return { id, outs };
}

const COMPARED: (keyof CheckProps)[] = ["host", "runtime", "user", "expectedRange", "autoSize", "reportOnly", "rerunOn", "__observe", "__steps"];
const INPUTS: (keyof CheckProps)[] = [...COMPARED, "drift", "repair", "__connection", "__scriptRefs", "__scripts"];

/** The scripts of `__scriptRefs`, by name, from the installed package (their digests checked). */
export function scriptsByRef(refs: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(refs).map(([name, ref]) => {
        const [file, digest] = ref.split(" ");
        return [name, scriptByDigest(file!, digest!)];
    }));
}

/**
 * Whether olds are a check's state from before #29 (its scripts kept in it) that the program
 * declares unchanged: the update then only rewrites the state (no host contact).
 */
function legacyUnchanged(olds: CheckProps, news: CheckProps): boolean {
    return olds.__scripts !== undefined && olds.result !== undefined && (olds.drift ?? []).length === 0
        && COMPARED.every((k) => same(olds[k], news[k]));
}
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const failedNames = (p: CheckProps) => (p.result ? failedChecks(p.result).map((c) => c.name) : []);

/** The provider. Everything it uses is plain data or pure functions (it is serialized). */
export const hostCheckProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: CheckProps) {
        const outs = await observe(inputs, []);
        return settle(`${inputs.host}:${inputs.runtime}`, outs);
    },
    async diff(_id: string, olds: CheckProps, news: CheckProps) {
        const changed = COMPARED.filter((k) => !same(olds[k], news[k]));
        // State from before #29 holds the scripts: rewritten without them (see legacyUnchanged).
        return { changes: changed.length > 0 || (olds.drift ?? []).length > 0 || olds.__scripts !== undefined };
    },
    async update(id: string, olds: CheckProps, news: CheckProps) {
        if (legacyUnchanged(olds, news)) {
            const { __scripts: _old, ...rest } = news;
            return settle(id, { ...rest, result: olds.result, drift: [], repair: [], repaired: olds.repaired ?? [] });
        }
        // Drift recorded by a refresh (or a failed run) is repaired here, except for steps whose
        // command changed: their HostWork has just run those.
        const repair = repairPlan(failedNames(olds)).filter((name) => {
            const before = olds.__steps?.find((s) => s.name === name)?.command;
            const now = news.__steps.find((s) => s.name === name)?.command;
            // A step whose command changed has just been run by its remote.Command.
            return before === undefined || before === now;
        });
        return settle(id, await observe(news, repair));
    },
    async read(id: string, props: CheckProps) {
        // Read-only: what the host is now. Never fails on a failed check, nor on a host that does
        // not answer: refresh records that (the host fails "host-observed"), and the other hosts'
        // refresh goes on.
        let outs: CheckProps;
        try {
            outs = await observe(props, []);
        } catch (e) {
            const result = unreachableResult(props, (e as Error).message, new Date());
            outs = { ...props, result, drift: driftLines(result.checks), repair: [], repaired: [] };
        }
        // The recorded inputs say what the host has, so the next preview diffs the program's
        // `drift: []` against the drifted checks, line by line.
        const inputs: Record<string, unknown> = {};
        // Keys the program leaves out (autoSize for the other runtimes) stay out.
        for (const k of INPUTS) if (outs[k] !== undefined) inputs[k] = outs[k];
        inputs.repair = repairPlan(failedNames(outs));
        return { id, props: { ...outs, repaired: [] }, inputs };
    },
};

/** Arguments of {@link HostCheck}, as the program declares them. */
export interface HostCheckArgs {
    connection: pulumi.Input<PlainConnection>;
    host: pulumi.Input<string>;
    runtime: pulumi.Input<VerifyRuntime>;
    user: pulumi.Input<string>;
    expectedRange: pulumi.Input<IdRange>;
    /** podman-auto: the planned IDs per container; undefined for the other runtimes. */
    autoSize?: pulumi.Input<number | undefined>;
    reportOnly: pulumi.Input<boolean>;
    /** verify.sh's command line (sudo included). */
    observe: pulumi.Input<string>;
    /** Digests (`name sha256:...`) whose change re-observes, besides the steps' and verify.sh's. */
    rerunOn: pulumi.Input<pulumi.Input<string>[]>;
    steps: HostStepInput[];
    /** verify.sh's path under `components/`. */
    verifyScript: string;
}

/** A short digest of command lines and scripts' texts, for previews. */
function digest(...parts: string[]): string {
    const h = createHash("sha256");
    for (const p of parts) h.update(p).update("\0");
    return `sha256:${h.digest("hex").slice(0, 16)}`;
}

/** The dynamic resource; see the module comment. */
export class HostCheck extends PackagedDynamicResource {
    /** The checks of the last observation (create, update or refresh). */
    public readonly result!: pulumi.Output<HostResult>;
    /** Failed checks of the last observation, one line each; empty when the host passed. */
    public readonly drift!: pulumi.Output<string[]>;
    /** Steps the last update re-ran to repair drift. */
    public readonly repaired!: pulumi.Output<string[]>;

    constructor(name: string, args: HostCheckArgs, opts?: pulumi.CustomResourceOptions) {
        const steps = pulumi.output(args.steps) as pulumi.Output<HostStep[]>;
        // The texts as the program reads them (the digests are those of the texts, as before #29).
        const texts = new Map([args.verifyScript, ...args.steps.map((x) => x.script)].map((f) => [f, readHostScript(f)]));
        const digests = pulumi.all([steps, args.observe, args.rerunOn]).apply(([ss, observe, extra]) => [
            ...ss.map((x) => `${x.name} ${digest(x.command, texts.get(x.script)!)}`),
            `verify ${digest(observe, texts.get(args.verifyScript)!)}`,
            ...extra,
        ]);
        const ref = (f: string) => `${f} ${scriptDigest(texts.get(f)!)}`;
        super(
            "host-check",
            hostCheckProvider,
            name,
            {
                host: args.host,
                runtime: args.runtime,
                user: args.user,
                expectedRange: args.expectedRange,
                autoSize: args.autoSize,
                reportOnly: args.reportOnly,
                rerunOn: digests,
                drift: [],
                repair: [],
                __observe: args.observe,
                __steps: steps.apply((s) => s.map(({ name, command }) => ({ name, command }))),
                __connection: args.connection,
                __scriptRefs: Object.fromEntries([["verify", ref(args.verifyScript)], ...args.steps.map((x) => [x.name, ref(x.script)])]),
                result: undefined,
                repaired: undefined,
            },
            pulumi.mergeOptions(opts, {
                // The full result is exported; diffs show the drift lines instead.
                hideDiffs: ["result", "repaired"],
                additionalSecretOutputs: ["__connection"],
            }),
        );
    }
}
