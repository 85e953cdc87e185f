import type { HostWork } from "../host/host-work";
import * as pulumi from "@pulumi/pulumi";
import { HostConnection } from "../host/connection";
import { ScriptReport, parseReport } from "../host/report";
import { runHostScript } from "../host/script";
import { Problems } from "../host/validate";
import { IdRange, containerRangeProblem } from "../subids/ranges";

/** The one owner kubelet reads a range for (pkg/kubelet: a user named exactly `kubelet`). */
export const KUBELET_OWNER = "kubelet";
/** kubelet's default `userNamespaces.idsPerPod` (and the smallest it accepts). */
export const DEFAULT_IDS_PER_POD = 65536;
/** kubelet's default `maxPods`. */
export const DEFAULT_MAX_PODS = 110;
/** Where kubeadm-style nodes keep kubelet's drop-ins (`--config-dir`). */
export const DEFAULT_CONFIG_DIR = "/etc/kubernetes/kubelet.conf.d";
/** The drop-in this mode writes in the config dir (kubelet reads `*.conf` in lexical order). */
export const DROPIN_NAME = "50-hardened-hosts-userns.conf";
/** Where kubelet-userns.sh records the account it created (the subids step's destroy deletes it). */
export const KUBELET_ACCOUNTS_RECORD = "/etc/kubelet-userns.hardened-hosts.user";

/** Why an idsPerPod value is unusable, or undefined. */
export function idsPerPodProblem(n: unknown): string | undefined {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 65536 || n % 65536 !== 0 || n > 2 ** 31) {
        return `must be a multiple of 65536 (kubelet's rule), from 65536 to 2^31, not ${JSON.stringify(n)}`;
    }
    return undefined;
}

/** Why a maxPods value is unusable, or undefined. */
export function maxPodsProblem(n: unknown): string | undefined {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 2 || n > 65536) {
        return `must be a whole number from 2 (verification observes two pods) to 65536, not ${JSON.stringify(n)}`;
    }
    return undefined;
}

/** The kubelet range's size: idsPerPod x maxPods (a multiple of idsPerPod, as kubelet needs). */
export function kubeletRangeSize(idsPerPod: number, maxPods: number): number {
    return idsPerPod * maxPods;
}

/** Why idsPerPod and maxPods together are unusable (each checked on its own first), or undefined. */
export function kubeletRangeProblem(idsPerPod: number, maxPods: number): string | undefined {
    const size = kubeletRangeSize(idsPerPod, maxPods);
    if (size > 2 ** 31) return `idsPerPod ${idsPerPod} x maxPods ${maxPods} = ${size} IDs: more than the ledger's default pool of 2^31 IDs`;
    return undefined;
}

/** Why a range is not one kubelet accepts for these settings, or undefined. */
export function kubeletAlignmentProblem(r: IdRange, idsPerPod: number, maxPods: number): string | undefined {
    if (r.start % idsPerPod !== 0 || r.start < idsPerPod) return `starts at ${r.start}: kubelet needs a multiple of idsPerPod ${idsPerPod}, at least ${idsPerPod}`;
    if (r.count % idsPerPod !== 0 || r.count < kubeletRangeSize(idsPerPod, maxPods)) {
        return `holds ${r.count} IDs: kubelet needs a multiple of idsPerPod ${idsPerPod}, at least idsPerPod x maxPods = ${kubeletRangeSize(idsPerPod, maxPods)}`;
    }
    return undefined;
}

/** Arguments of {@link KubeletUserns}. */
export interface KubeletUsernsArgs {
    /** The node. */
    connection: HostConnection;
    /**
     * The `kubelet` range, already written to the node's /etc/subuid and /etc/subgid (see
     * `HostSubids`, which must come first: pass it in `dependsOn`): idsPerPod x maxPods IDs,
     * starting at a multiple of idsPerPod.
     */
    range: pulumi.Input<IdRange>;
    /** IDs per pod (a multiple of 65536). Default 65536. */
    idsPerPod?: pulumi.Input<number>;
    /** Pods per node; the range holds this many. Written to the drop-in too. Default 110. */
    maxPods?: pulumi.Input<number>;
    /** kubelet's `--config-dir`. Default `/etc/kubernetes/kubelet.conf.d`. */
    configDir?: pulumi.Input<string>;
    /**
     * Restart a running kubelet (`systemctl restart <kubeletUnit>`) when the range or drop-in
     * changed after it started (it reads them only then). Default false: the report says
     * `restartNeeded`, and verification proves nothing until it restarts.
     */
    restartKubelet?: pulumi.Input<boolean>;
    /** kubelet's systemd unit. Default `kubelet`. */
    kubeletUnit?: pulumi.Input<string>;
    /** URNs of runtime commands this one takes over (another mode's, when a host's mode changes). */
    takesOver?: pulumi.Input<string>[];
}

/** What `kubelet-userns.sh apply` reported. */
export interface KubeletUsernsReport extends ScriptReport {
    owner?: string;
    range?: IdRange;
    idsPerPod?: number;
    maxPods?: number;
    dropIn?: string;
    changed?: string[];
    createdUser?: boolean;
    restartNeeded?: boolean;
    restarted?: boolean;
    notes?: string[];
}

const CONFIG_DIR = /^\/[A-Za-z0-9._/-]*$/;
const UNIT = /^[A-Za-z0-9_.@-]{1,100}$/;

/**
 * Prepares a Kubernetes node so that pods with `hostUsers: false` get their user namespaces from
 * the `kubelet` range of the fleet ledger (KEP-127): the `kubelet` system account, a
 * KubeletConfiguration drop-in in kubelet's `--config-dir` (`maxPods`, `userNamespaces.idsPerPod`,
 * the feature gate where the version needs it), prerequisites refused by name (Linux >= 6.3,
 * containerd >= 2.0 or CRI-O >= 1.25, runc >= 1.2 or crun >= 1.9, getsubids, kubelet's root dir
 * not on overlayfs). Never installs, stops or takes over kubelet; restarts it only with
 * `restartKubelet`. `pulumi destroy` removes the drop-in (the subids step removes the line and
 * the account it created).
 */
export class KubeletUserns extends pulumi.ComponentResource {
    /** The kubelet range. */
    public readonly range: pulumi.Output<IdRange>;
    /** IDs per pod. */
    public readonly idsPerPod: pulumi.Output<number>;
    /** Pods per node. */
    public readonly maxPods: pulumi.Output<number>;
    /** The host script's report of the last apply. */
    public readonly report: pulumi.Output<KubeletUsernsReport>;
    /** The command that prepares the node (for `dependsOn`). */
    public readonly command: HostWork;

    constructor(name: string, args: KubeletUsernsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hardened-hosts:kubernetes:KubeletUserns", name, {}, opts);
        const problems = new Problems(this);
        const ids = problems.check("idsPerPod", args.idsPerPod ?? DEFAULT_IDS_PER_POD, idsPerPodProblem);
        const pods = problems.check("maxPods", args.maxPods ?? DEFAULT_MAX_PODS, maxPodsProblem);
        const configDir = problems.check("configDir", args.configDir ?? DEFAULT_CONFIG_DIR, (d) =>
            typeof d === "string" && CONFIG_DIR.test(d) && !d.includes("..") ? undefined : `must be an absolute path (${CONFIG_DIR.source}), not ${JSON.stringify(d)}`);
        const unit = problems.check("kubeletUnit", args.kubeletUnit ?? "kubelet", (u) =>
            typeof u === "string" && UNIT.test(u) ? undefined : `must be a systemd unit name (${UNIT.source}), not ${JSON.stringify(u)}`);
        const inputs: [pulumi.Input<IdRange>, pulumi.Input<number>, pulumi.Input<number>] =
            [args.range, args.idsPerPod ?? DEFAULT_IDS_PER_POD, args.maxPods ?? DEFAULT_MAX_PODS];
        const checked = problems.check<[IdRange, number, number]>("range",
            inputs.some((x) => pulumi.Output.isInstance(x) || x instanceof Promise)
                ? pulumi.all(inputs) as pulumi.Output<[IdRange, number, number]>
                : inputs as [IdRange, number, number],
            ([r, n, m]) => {
                if (r === null || typeof r !== "object") return "must be {start, count}";
                if (idsPerPodProblem(n) !== undefined || maxPodsProblem(m) !== undefined) return containerRangeProblem(r);
                return containerRangeProblem(r) ?? kubeletAlignmentProblem(r, n, m);
            });
        problems.throwIfAny();
        const range = checked.apply(([r]) => ({ start: r.start, count: r.count }));
        this.range = range;
        this.idsPerPod = ids;
        this.maxPods = pods;
        this.command = runHostScript(
            `${name}-runtime`,
            {
                connection: args.connection,
                script: "kubernetes/kubelet-userns.sh",
                // The preview shows the range, idsPerPod and maxPods on this line.
                create: pulumi.all([range, ids, pods, configDir, args.restartKubelet ?? false, unit]).apply(([r, n, m, d, restart, u]) => [
                    "apply",
                    "--range", `${r.start}:${r.count}`,
                    "--ids-per-pod", String(n),
                    "--max-pods", String(m),
                    "--config-dir", d,
                    "--restart-kubelet", restart ? "yes" : "no",
                    "--kubelet-unit", u,
                ]),
                delete: pulumi.output(configDir).apply((d) => ["remove", "--config-dir", d]),
                triggers: ["kubelet-userns"],
            },
            { parent: this, dependsOn: opts?.dependsOn, aliases: args.takesOver, deleteBeforeReplace: true },
        );
        this.report = this.command.stdout.apply((out) => parseReport<KubeletUsernsReport>(out, "kubelet-userns.sh"));
        // The report is the step's stdout, in its HostWork's state: not stored twice (issue #29).
        this.registerOutputs({ range, idsPerPod: ids, maxPods: pods });
    }
}
