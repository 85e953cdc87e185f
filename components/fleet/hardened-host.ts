import { HOST_WORK_TYPE, HostWork } from "../host/host-work";
import * as pulumi from "@pulumi/pulumi";
import { ContainerEffects, DockerUsernsRemap, ExistingContainers } from "../docker/remap";
import { HostConnection } from "../host/connection";
import { DEFAULT_IDS_PER_POD, DEFAULT_MAX_PODS, KUBELET_ACCOUNTS_RECORD, KUBELET_OWNER, KubeletUserns, kubeletRangeSize } from "../kubernetes/kubelet-userns";
import { Problems, componentError, systemAccountProblem } from "../host/validate";
import { DEFAULT_AUTO_SIZE, DEFAULT_AUTO_SLOTS, DEFAULT_POOL_OWNER, PodmanAuto, autoPoolSize } from "../podman/podman-auto";
import { HostSupport } from "../platform/host-support";
import type { SupportDecision } from "../platform/support";
import { RootlessRuntime } from "../rootless/runtime";
import { Allocation } from "../subids/allocator";
import { HostSubids } from "../subids/host-subids";
import { IdRange } from "../subids/ranges";
import { HostResult, VerifyRuntime } from "../verify/checks";
import { HostVerification } from "../verify/verification";

/** Rootful Docker with `userns-remap`. */
export interface UsernsRemapRuntime {
    mode: "userns-remap";
    /** The remap user. Default `dockremap`. */
    remapUser?: string;
    /** More daemon.json keys to merge, e.g. `{"no-new-privileges": true}`. Default none. */
    daemonOptions?: Record<string, unknown>;
    /** Install Docker when missing. Default true. */
    installDocker?: boolean;
    /** Refuse to restart dockerd while containers run. Default false (`existingContainers` decides). */
    requireNoContainers?: boolean;
    /**
     * Take over a `userns-remap` to another user already in the host's daemon.json (an operator's
     * own remap; its containers stop being visible). Default false: such a host is refused.
     */
    takeOverRemap?: boolean;
    /**
     * Containers the apply would stop (a restart) or hide (a switch to another remapped root):
     * "refuse" (default) refuses before anything is written, naming them; "stop" is the explicit
     * opt-in, and the host's `containers` output records what it stopped and hid.
     */
    existingContainers?: ExistingContainers;
}

/** A runtime owned by a named non-root user. */
export interface RootlessRuntimeSpec {
    mode: "docker-rootless" | "podman";
    /** The runtime's owner (a non-root login name). */
    user: string;
    /** Create the user when missing. Default true. */
    createUser?: boolean;
    /** Set the user's shell to nologin. Default false. */
    restrictShell?: boolean;
}

/**
 * Rootful Podman where every container gets its own user namespace (`userns = "auto"`), a
 * `size`-ID slice of one pool: `slots` x `size` IDs owned by `poolOwner`, from the ledger, the
 * same on every host of this mode.
 */
export interface PodmanAutoRuntime {
    mode: "podman-auto";
    /** The pool's owner in /etc/subuid and /etc/subgid (need not be an account). Default `containers`. */
    poolOwner?: string;
    /** Containers the pool holds at once (at least 2). Default 64. */
    slots?: number;
    /** IDs per container (1024-65536). Default 65536. */
    size?: number;
    /** Install Podman when missing. Default true. */
    installPodman?: boolean;
}

/**
 * A Kubernetes node whose pods with `hostUsers: false` get their user namespaces from the
 * `kubelet` range of the ledger (idsPerPod x maxPods IDs, aligned as kubelet needs), not from
 * kubelet's default 65536..2^32. kubelet itself is not installed, stopped or taken over (see
 * components/kubernetes/).
 */
export interface KubeletUsernsRuntime {
    mode: "kubelet-userns";
    /** IDs per pod (kubelet's `userNamespaces.idsPerPod`, a multiple of 65536). Default 65536. */
    idsPerPod?: number;
    /** Pods per node (kubelet's `maxPods`, written to the drop-in too). Default 110. */
    maxPods?: number;
    /** kubelet's `--config-dir` (the drop-in goes there). Default `/etc/kubernetes/kubelet.conf.d`. */
    configDir?: string;
    /** Restart a running kubelet when its range or drop-in changed (it reads them only at start). Default false. */
    restartKubelet?: boolean;
    /** kubelet's systemd unit (for restartKubelet). Default `kubelet`. */
    kubeletUnit?: string;
}

/** How a host runs containers. */
export type RuntimeSpec = UsernsRemapRuntime | RootlessRuntimeSpec | PodmanAutoRuntime | KubeletUsernsRuntime;

/** Every runtime mode (exhaustive: a new mode fails to compile until it is listed). */
const MODES: Record<RuntimeSpec["mode"], true> = { "userns-remap": true, "docker-rootless": true, podman: true, "podman-auto": true, "kubelet-userns": true };
export const RUNTIME_MODES = Object.keys(MODES) as readonly RuntimeSpec["mode"][];

/**
 * The URNs the runtime command of host `name` has in `mode` (names as HardenedHost gives them):
 * a HostWork, or in a stack made before #29 a remote.Command.
 */
function runtimeCommandUrns(name: string, mode: RuntimeSpec["mode"], host: pulumi.Resource): pulumi.Output<string>[] {
    const component = mode === "userns-remap"
        ? pulumi.createUrn(`${name}-docker`, "hardened-hosts:docker:DockerUsernsRemap", host)
        : mode === "podman-auto"
            ? pulumi.createUrn(`${name}-${mode}`, "hardened-hosts:podman:PodmanAuto", host)
            : mode === "kubelet-userns"
                ? pulumi.createUrn(`${name}-${mode}`, "hardened-hosts:kubernetes:KubeletUserns", host)
                : pulumi.createUrn(`${name}-${mode}`, "hardened-hosts:rootless:RootlessRuntime", host);
    const command = mode === "userns-remap" ? `${name}-docker-daemon` : `${name}-${mode}-runtime`;
    return [HOST_WORK_TYPE, "command:remote:Command"].map((type) => pulumi.createUrn(command, type, component));
}

/** The subordinate-ID owner a runtime needs a range for. */
export function runtimeOwner(runtime: RuntimeSpec): string {
    switch (runtime.mode) {
        case "userns-remap":
            return runtime.remapUser ?? "dockremap";
        case "docker-rootless":
        case "podman":
            return runtime.user;
        case "podman-auto":
            return runtime.poolOwner ?? DEFAULT_POOL_OWNER;
        case "kubelet-userns":
            return KUBELET_OWNER;
        default: {
            const other: never = runtime;
            throw new Error(`unknown runtime mode ${JSON.stringify((other as { mode: unknown }).mode)}`);
        }
    }
}

/**
 * The size the runtime's owner needs in the ledger, or undefined for the ledger's default (65536):
 * podman-auto's pool is slots x size.
 */
export function runtimeRangeSize(runtime: RuntimeSpec): number | undefined {
    switch (runtime.mode) {
        case "userns-remap":
        case "docker-rootless":
        case "podman":
            return undefined;
        case "podman-auto":
            return autoPoolSize(runtime.slots ?? DEFAULT_AUTO_SLOTS, runtime.size ?? DEFAULT_AUTO_SIZE);
        case "kubelet-userns":
            return kubeletRangeSize(runtime.idsPerPod ?? DEFAULT_IDS_PER_POD, runtime.maxPods ?? DEFAULT_MAX_PODS);
        default: {
            const other: never = runtime;
            throw new Error(`unknown runtime mode ${JSON.stringify((other as { mode: unknown }).mode)}`);
        }
    }
}

/**
 * The start alignment the runtime's owner needs in the ledger when it is more than the ledger's
 * 65536, or undefined: kubelet wants its range to start at a multiple of idsPerPod.
 */
export function runtimeRangeAlignment(runtime: RuntimeSpec): number | undefined {
    if (runtime.mode !== "kubelet-userns") return undefined;
    const ids = runtime.idsPerPod ?? DEFAULT_IDS_PER_POD;
    return ids > 65536 ? ids : undefined;
}

/** Modes whose owner is a system account of the project's own (refused as an owner otherwise). */
function systemOwnerMode(mode: RuntimeSpec["mode"]): boolean {
    return mode === "userns-remap" || mode === "podman-auto" || mode === "kubelet-userns";
}

/** Arguments of {@link HardenedHost}. */
export interface HardenedHostArgs {
    /** The host (from an `Ec2Machine`, an existing host, or a local test host). */
    connection: HostConnection;
    /** How the host runs containers. */
    runtime: RuntimeSpec;
    /**
     * Every range this host grants, owner → range: the runtime's owner and the tenants placed on
     * it (usually from a fleet's `SubidLedger`). It must contain the runtime's owner.
     */
    allocation: pulumi.Input<Allocation>;
    /** Verify after deploy. Default `{}` (verify, fail the update on a failed check). */
    verify?: false | { reportOnly?: boolean; image?: string };
    /** Resources the host work must wait for (e.g. an `Ec2Machine`'s `ready`). */
    dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * One hardened machine: its subordinate ranges, its runtime, and the proof. Children read well
 * in a preview: `<name>-support` (the distribution decided for the mode: components/platform/),
 * `<name>-subids`, `<name>-docker` or `<name>-<mode>`, `<name>-verify`. Each step's
 * commands wait for the previous step's (and the first for `dependsOn`, the argument or the option).
 *
 * Renames: the type token (`hardened-hosts:index:HardenedHost`) and the child names above are in
 * every URN; renaming one needs `aliases` (see `HardenedFleet`), or the host's work is removed and
 * applied again. None has been renamed since the first commit.
 */
export class HardenedHost extends pulumi.ComponentResource {
    /** The `owner:start:count` lines written to the host. */
    public readonly subidLines: pulumi.Output<string[]>;
    /** The runtime owner's range. */
    public readonly runtimeRange: pulumi.Output<IdRange>;
    /** Verification result, when verified. */
    public readonly verification?: pulumi.Output<HostResult>;
    /**
     * userns-remap: what the runtime's last apply did to the containers it found (stopped, hidden,
     * a remap taken over); undefined in the other modes, which never stop what they did not start.
     */
    public readonly containers?: pulumi.Output<ContainerEffects>;
    /** Whether this host's distribution supports the mode, and how (or why not): the first step's decision. */
    public readonly support: pulumi.Output<SupportDecision>;

    constructor(name: string, args: HardenedHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hardened-hosts:index:HardenedHost", name, {}, opts);
        const owner = runtimeOwner(args.runtime);
        // A plain allocation is checked now; one from a ledger when it resolves (see Problems).
        const problems = new Problems(this);
        // The remap user and a pool owner are the project's own (system) accounts; every other
        // owner (tenants, a rootless runtime's user) must not be a system account.
        const systemOwner = systemOwnerMode(args.runtime.mode) ? owner : undefined;
        const allocation = problems.check("allocation", args.allocation, (a: Allocation) => {
            if (!a[owner]) return `has no range for the runtime's owner ${JSON.stringify(owner)}`;
            const system = Object.keys(a).filter((o) => o !== systemOwner && systemAccountProblem(o) !== undefined);
            return system.length === 0 ? undefined
                : `${system.map((o) => JSON.stringify(o)).join(", ")}: system accounts get no subordinate IDs`;
        });
        problems.throwIfAny();
        this.runtimeRange = allocation.apply((a) => a[owner]!);

        // Each step's component passes its dependsOn on to its commands (the SDK does not), so
        // ordering the components orders the host work, for `pulumi destroy` too. The first step
        // waits for args.dependsOn and for this component's own dependsOn.
        // First of all, the host is observed and its distribution decided for this mode
        // (components/platform/): a refused host fails here, before anything is written, and no
        // later step runs; a supported one gets the narrow fixes the decision names.
        const support = new HostSupport(`${name}-support`, { connection: args.connection, mode: args.runtime.mode, hostName: name },
            pulumi.mergeOptions({ parent: this, dependsOn: args.dependsOn }, { dependsOn: opts?.dependsOn }));
        this.support = support.decision;
        // The remap user and a pool owner may be system accounts (the remap user is one by
        // design); every other owner that is a system account on the host is refused there. On a
        // userns-remap host daemon.json is checked before the subids step writes anything.
        const subids = new HostSubids(`${name}-subids`, {
            connection: args.connection,
            allocation: args.allocation,
            systemOwners: systemOwnerMode(args.runtime.mode) ? [owner] : [],
            dockerConfig: args.runtime.mode === "userns-remap" ? "/etc/docker/daemon.json" : undefined,
            takeOverRemap: args.runtime.mode === "userns-remap" ? args.runtime.takeOverRemap : undefined,
            existingContainers: args.runtime.mode === "userns-remap" ? args.runtime.existingContainers : undefined,
            // The remap user and group docker-remap.sh created go on destroy, after our lines.
            // kubelet-userns: the kubelet account, when kubelet-userns.sh created it.
            deleteAccountsRecordedIn: args.runtime.mode === "userns-remap" ? "/etc/docker/daemon.json.hardened-hosts.user"
                : args.runtime.mode === "kubelet-userns" ? KUBELET_ACCOUNTS_RECORD : undefined,
        }, { parent: this, dependsOn: [support] });
        const runtime = args.runtime;
        // A host's mode can change (userns-remap → podman, ...): the new mode's command takes
        // over the old one's state, so the engine runs the old remove before the new apply and
        // verification comes after both, instead of the old remove running last (un-hardening a
        // host whose outputs had just said "passed").
        const takesOver = (mode: RuntimeSpec["mode"]) => RUNTIME_MODES.filter((m) => m !== mode).flatMap((m) => runtimeCommandUrns(name, m, this));
        let runtimeResource: pulumi.Resource;
        let runtimeCommand: HostWork;
        let dockerHost: pulumi.Output<string> | undefined;
        let autoSize: pulumi.Output<number> | undefined;
        let verifyRuntime: VerifyRuntime;
        switch (runtime.mode) {
            case "userns-remap": {
                const remap = new DockerUsernsRemap(`${name}-docker`, {
                    connection: args.connection,
                    remapUser: owner,
                    range: this.runtimeRange,
                    daemonOptions: runtime.daemonOptions,
                    installDocker: runtime.installDocker,
                    requireNoContainers: runtime.requireNoContainers,
                    takeOverRemap: runtime.takeOverRemap,
                    existingContainers: runtime.existingContainers,
                    takesOver: takesOver(runtime.mode),
                }, { parent: this, dependsOn: [subids] });
                runtimeResource = remap;
                runtimeCommand = remap.command;
                this.containers = remap.containers;
                verifyRuntime = "docker-remap";
                break;
            }
            case "docker-rootless":
            case "podman": {
                const rootless = new RootlessRuntime(`${name}-${runtime.mode}`, {
                    connection: args.connection,
                    mode: runtime.mode,
                    user: runtime.user,
                    range: this.runtimeRange,
                    createUser: runtime.createUser,
                    restrictShell: runtime.restrictShell,
                    takesOver: takesOver(runtime.mode),
                }, { parent: this, dependsOn: [subids] });
                runtimeResource = rootless;
                runtimeCommand = rootless.command;
                // The script's report names the socket; verify.sh derives it itself when empty.
                dockerHost = rootless.dockerHost.apply((h) => h ?? "");
                verifyRuntime = runtime.mode;
                break;
            }
            case "podman-auto": {
                const auto = new PodmanAuto(`${name}-${runtime.mode}`, {
                    connection: args.connection,
                    poolOwner: owner,
                    pool: this.runtimeRange,
                    size: runtime.size,
                    slots: runtime.slots,
                    installPodman: runtime.installPodman,
                    takesOver: takesOver(runtime.mode),
                }, { parent: this, dependsOn: [subids] });
                runtimeResource = auto;
                runtimeCommand = auto.command;
                autoSize = auto.size;
                verifyRuntime = runtime.mode;
                break;
            }
            case "kubelet-userns": {
                const kube = new KubeletUserns(`${name}-${runtime.mode}`, {
                    connection: args.connection,
                    range: this.runtimeRange,
                    idsPerPod: runtime.idsPerPod,
                    maxPods: runtime.maxPods,
                    configDir: runtime.configDir,
                    restartKubelet: runtime.restartKubelet,
                    kubeletUnit: runtime.kubeletUnit,
                    takesOver: takesOver(runtime.mode),
                }, { parent: this, dependsOn: [subids] });
                runtimeResource = kube;
                runtimeCommand = kube.command;
                // verify.sh reads the pods' maps against idsPerPod (its --auto-size).
                autoSize = kube.idsPerPod;
                verifyRuntime = runtime.mode;
                break;
            }
            default: {
                const other: never = runtime;
                throw componentError(`runtime.mode: ${JSON.stringify((other as { mode: unknown }).mode)} is not one of ${RUNTIME_MODES.map((m) => JSON.stringify(m)).join(", ")}`, this);
            }
        }

        if (args.verify !== false) {
            const verify = new HostVerification(`${name}-verify`, {
                connection: args.connection,
                runtime: verifyRuntime,
                user: owner,
                expectedRange: this.runtimeRange,
                autoSize,
                // Every line of the managed block, tenants included: a removed or changed one is drift.
                expectedLines: subids.lines,
                dockerHost,
                image: args.verify?.image,
                reportOnly: args.verify?.reportOnly ?? false,
                hostName: name,
                // Re-checked whenever a step's command line or script changes (the steps'
                // digests are in the check's rerunOn); drift a refresh saw is repaired by
                // re-running these, exactly as they ran.
                steps: [
                    // The very command line and script the step's HostWork runs.
                    { name: "subids", command: subids.command.create, script: subids.command.scriptPath },
                    { name: "runtime", command: runtimeCommand.create, script: runtimeCommand.scriptPath },
                ],
            }, { parent: this, dependsOn: [runtimeResource] });
            this.verification = verify.result;
        }
        this.subidLines = subids.lines;
        // The verification and the support decision are in their own resources' state; stored
        // again here they were 8 KB a host (issue #29).
        this.registerOutputs({ subidLines: this.subidLines, runtimeRange: this.runtimeRange, containers: this.containers });
    }
}
