import type { HostWork } from "../host/host-work";
import * as pulumi from "@pulumi/pulumi";
import { HostConnection } from "../host/connection";
import { ScriptReport, parseReport } from "../host/report";
import { runHostScript } from "../host/script";
import { Problems, runtimeUserProblem } from "../host/validate";
import { IdRange, containerRangeProblem } from "../subids/ranges";

/** Default IDs per container: the full 16-bit space images assume (and a Kubernetes pod gets). */
export const DEFAULT_AUTO_SIZE = 65536;
/** Default containers the pool holds at once. */
export const DEFAULT_AUTO_SLOTS = 64;
/** Podman's own name for the owner of the rootful `userns=auto` pool. */
export const DEFAULT_POOL_OWNER = "containers";

/** Why a per-container size is unusable, or undefined. */
export function autoSizeProblem(size: unknown): string | undefined {
    if (typeof size !== "number" || !Number.isInteger(size) || size < 1024 || size > 65536) {
        return `must be a whole number of IDs from 1024 (Podman's minimum) to 65536 (Podman's maximum), not ${JSON.stringify(size)}`;
    }
    return undefined;
}

/** Why a slot count is unusable, or undefined. */
export function autoSlotsProblem(slots: unknown): string | undefined {
    if (typeof slots !== "number" || !Number.isInteger(slots) || slots < 2 || slots > 65536) {
        return `must be a whole number from 2 to 65536 (verification runs two containers at once), not ${JSON.stringify(slots)}`;
    }
    return undefined;
}

/** The pool a host of this mode needs: `slots` x `size` IDs. */
export function autoPoolSize(slots: number, size: number): number {
    return slots * size;
}

/** Why slots and size together are unusable (each is checked on its own first), or undefined. */
export function autoPoolProblem(slots: number, size: number): string | undefined {
    const pool = autoPoolSize(slots, size);
    if (pool < 65536) return `slots ${slots} x size ${size} = ${pool} IDs: a pool holds at least 65536 (the smallest range the ledger hands out)`;
    if (pool > 2 ** 31) return `slots ${slots} x size ${size} = ${pool} IDs: more than the ledger's default pool of 2^31 IDs`;
    return undefined;
}

/** Arguments of {@link PodmanAuto}. */
export interface PodmanAutoArgs {
    /** The host. */
    connection: HostConnection;
    /**
     * The owner of the pool in /etc/subuid and /etc/subgid (written to storage.conf as
     * `root-auto-userns-user`; it need not be an account). Default `containers`.
     */
    poolOwner?: pulumi.Input<string>;
    /**
     * The pool owner's range, already written to the host's /etc/subuid and /etc/subgid (see
     * `HostSubids`, which must come first: pass it in `dependsOn`). Exactly `slots` x `size` IDs.
     */
    pool: pulumi.Input<IdRange>;
    /** IDs each container gets (1024-65536). Default 65536. */
    size?: pulumi.Input<number>;
    /** Containers the pool holds at once (at least 2). Default 64. */
    slots?: pulumi.Input<number>;
    /** Install Podman (and uidmap, nftables where netavark needs it, busybox-static) when missing. Default true. */
    installPodman?: pulumi.Input<boolean>;
    /**
     * URNs of runtime commands this one takes over on the same host (another mode's, when a
     * host's mode changes). The old one's `remove` then runs before this one's apply. Default none.
     */
    takesOver?: pulumi.Input<string>[];
}

/** What `podman-auto.sh apply` reported. */
export interface PodmanAutoReport extends ScriptReport {
    podman?: string;
    owner?: string;
    pool?: IdRange;
    size?: number;
    slots?: number;
    /** The files this apply wrote (none when they were already as wanted). */
    changed?: string[];
    /** Packages this apply installed. */
    installed?: string[];
}

/**
 * Rootful Podman where every container gets its own user namespace (`userns = "auto"`): each
 * one is given `size` IDs of the pool owner's range, no two containers share an ID, and none
 * maps host root. Merges into /etc/containers/containers.conf (`[containers] userns = "auto"`)
 * and /etc/containers/storage.conf (`root-auto-userns-user`, `auto-userns-min-size` =
 * `auto-userns-max-size` = size), keeping every other line; checks that Podman still reads them
 * (else puts them back). `pulumi destroy` gives both files their original bytes (or removes the
 * ones it created). A symlinked file stays a link: its target is written.
 *
 * The size goes to storage.conf because Podman 4.3.1 (Debian 12) silently ignores a size in
 * containers.conf's `userns = "auto:size=N"`; min = max makes every automatic namespace exactly
 * `size` IDs on 4.x and 5.x alike, so the pool holds exactly `slots` containers.
 */
export class PodmanAuto extends pulumi.ComponentResource {
    /** The pool owner. */
    public readonly poolOwner: pulumi.Output<string>;
    /** The pool (the owner's range). */
    public readonly pool: pulumi.Output<IdRange>;
    /** IDs per container. */
    public readonly size: pulumi.Output<number>;
    /** Containers the pool holds at once. */
    public readonly slots: pulumi.Output<number>;
    /** The host script's report of the last apply. */
    public readonly report: pulumi.Output<PodmanAutoReport>;
    /** The command that configures Podman (for `dependsOn`). */
    public readonly command: HostWork;

    constructor(name: string, args: PodmanAutoArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hardened-hosts:podman:PodmanAuto", name, {}, opts);
        // Every problem of the arguments at once; plain values (stack config) before any resource
        // is registered, Outputs when they resolve.
        const problems = new Problems(this);
        const owner = problems.check("poolOwner", args.poolOwner ?? DEFAULT_POOL_OWNER, runtimeUserProblem);
        const size = problems.check("size", args.size ?? DEFAULT_AUTO_SIZE, autoSizeProblem);
        const slots = problems.check("slots", args.slots ?? DEFAULT_AUTO_SLOTS, autoSlotsProblem);
        const poolInputs: [pulumi.Input<IdRange>, pulumi.Input<number>, pulumi.Input<number>] =
            [args.pool, args.size ?? DEFAULT_AUTO_SIZE, args.slots ?? DEFAULT_AUTO_SLOTS];
        const checkedPool = problems.check<[IdRange, number, number]>("pool",
            poolInputs.some((x) => pulumi.Output.isInstance(x) || x instanceof Promise)
                ? pulumi.all(poolInputs) as pulumi.Output<[IdRange, number, number]>
                : poolInputs as [IdRange, number, number],
            ([p, z, s]) => {
                if (p === null || typeof p !== "object") return "must be {start, count}";
                // A bad size or slots count is reported as itself, not as a pool of the wrong size too.
                if (autoSizeProblem(z) !== undefined || autoSlotsProblem(s) !== undefined) return containerRangeProblem(p);
                return containerRangeProblem(p)
                    ?? (p.count !== autoPoolSize(s, z) ? `holds ${p.count} IDs, not slots ${s} x size ${z} = ${autoPoolSize(s, z)} (the ledger request must be that size)` : undefined);
            });
        problems.throwIfAny();
        const pool = checkedPool.apply(([p]) => ({ start: p.start, count: p.count }));

        this.poolOwner = owner;
        this.pool = pool;
        this.size = size;
        this.slots = slots;
        this.command = runHostScript(
            `${name}-runtime`,
            {
                connection: args.connection,
                script: "podman/podman-auto.sh",
                // The preview shows the pool and the slots on this line.
                create: pulumi.all([owner, pool, size, slots, args.installPodman ?? true]).apply(([o, p, z, s, install]) => [
                    "apply",
                    "--owner", o,
                    "--pool", `${p.start}:${p.count}`,
                    "--slots", String(s),
                    "--size", String(z),
                    "--install", install ? "yes" : "no",
                ]),
                delete: ["remove"],
                // Constant: only a change of mode (another command taking over) replaces.
                triggers: ["podman-auto"],
            },
            { parent: this, dependsOn: opts?.dependsOn, aliases: args.takesOver, deleteBeforeReplace: true },
        );
        this.report = this.command.stdout.apply((out) => parseReport<PodmanAutoReport>(out, "podman-auto.sh"));
        // The report is the step's stdout, in its HostWork's state: not stored twice (issue #29).
        this.registerOutputs({ poolOwner: owner, pool, size, slots });
    }
}
