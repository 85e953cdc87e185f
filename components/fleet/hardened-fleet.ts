import * as pulumi from "@pulumi/pulumi";
import type { ContainerEffects } from "../docker/remap";
import { HostConnection } from "../host/connection";
import { Problems } from "../host/validate";
import { DEFAULT_AUTO_SIZE, DEFAULT_AUTO_SLOTS, autoPoolProblem, autoSizeProblem, autoSlotsProblem } from "../podman/podman-auto";
import { DEFAULT_IDS_PER_POD, DEFAULT_MAX_PODS, idsPerPodProblem, kubeletRangeProblem, maxPodsProblem } from "../kubernetes/kubelet-userns";
import { Allocation, IdPool, formatAllocationTable } from "../subids/allocator";
import { SubidLedger } from "../subids/ledger";
import { isValidOwner } from "../subids/ranges";
import { FleetSummary, HostResult, fleetSummary } from "../verify/checks";
import { HardenedHost, RuntimeSpec, runtimeOwner, runtimeRangeAlignment, runtimeRangeSize } from "./hardened-host";
import { fleetOwnerProblems } from "./owners";
import { SharedLedger, sharedLedgerProblem } from "./shard";

/** One host of a fleet. */
export interface FleetHostSpec {
    /** How to reach it. */
    connection: HostConnection;
    /** How it runs containers. */
    runtime: RuntimeSpec;
    /** Fleet tenants placed on this host: their fleet-wide ranges are granted here. Default none. */
    tenants?: string[];
    /** Verification settings (see `HardenedHost`). */
    verify?: false | { reportOnly?: boolean; image?: string };
    /** Resources this host's work waits for (e.g. an `Ec2Machine`'s `ready`). */
    dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/** Arguments of {@link HardenedFleet}. */
export interface HardenedFleetArgs {
    /** Hosts by name; the name prefixes every child resource (`host-a-subids`, ...). */
    hosts: Record<string, FleetHostSpec>;
    /** Fleet-wide owners → size in IDs (default 65536): the same range on every host. */
    tenants?: Record<string, { size?: number }>;
    /** Pool of IDs for the whole fleet. Default 2^31 up to 2^32-1. */
    pool?: IdPool;
    /** Hand out removed owners' ranges again. Default false (they stay retired). */
    reuseRetiredRanges?: boolean;
    /**
     * A shard of a fleet: the ranges come from a ledger another stack owns (`ledgerFromStack`)
     * instead of a ledger of this fleet's own; `tenants`, `pool` and `reuseRetiredRanges` are then
     * the ledger stack's business. A host that names no tenants gets every tenant of the ledger.
     * Every owner the hosts need must be in the ledger (checked when it is read, before any host
     * is touched); nothing is written that the ledger did not give.
     */
    ledger?: SharedLedger;
}

const HOST_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Records every problem of a fleet's arguments in `problems` (nothing is registered, no host is
 * contacted) and returns the ledger's requests, owner -> size (undefined: the ledger's default).
 * {@link HardenedFleet} runs it first; the component provider runs it on the arguments it maps
 * from other languages, to report them in one error with its own.
 */
export function fleetArgsProblems(args: HardenedFleetArgs, problems: Problems): Map<string, number | undefined> {
    // No subordinate IDs for system accounts, no tenant named as a remap user (issue 28).
    fleetOwnerProblems(args, problems);
    const tenants = args.tenants ?? {};
    for (const owner of Object.keys(tenants)) {
        if (!isValidOwner(owner)) problems.add(`tenants.${owner}`, "is not a valid login name or UID");
    }
    const hostNames = Object.keys(args.hosts).sort();
    if (hostNames.length === 0) problems.add("hosts", "at least one host is needed");
    if (args.ledger) {
        // A shard: the ledger stack decides owners, sizes and pool (checked when it is read).
        for (const k of ["tenants", "pool", "reuseRetiredRanges"] as const) {
            if (args[k] !== undefined) problems.add(k, `is the ledger's (${args.ledger.source}), not a shard's: set it there`);
        }
    }
    for (const host of hostNames) {
        if (!HOST_NAME.test(host)) problems.add(`hosts.${host}`, `host names must match ${HOST_NAME.source}`);
        if (args.ledger) continue;
        for (const t of args.hosts[host]!.tenants ?? []) {
            if (!(t in tenants)) problems.add(`hosts.${host}.tenants`, `${JSON.stringify(t)} is not one of the fleet's tenants`);
        }
    }
    // Runtime owners join the fleet allocation at the size their mode needs (the default,
    // or a podman-auto pool's slots x size) unless they are tenants. One owner, one range:
    // every host of a pool owner must ask for the same pool, and a tenant of that name for
    // the same size.
    const sizes = new Map<string, number | undefined>(Object.entries(tenants).map(([o, t]) => [o, t.size]));
    const needs = new Map<string, { size: number; host: string }>();
    for (const host of hostNames) {
        const runtime = args.hosts[host]!.runtime;
        const owner = runtimeOwner(runtime);
        if (runtime.mode === "podman-auto") {
            const slots = runtime.slots ?? DEFAULT_AUTO_SLOTS, each = runtime.size ?? DEFAULT_AUTO_SIZE;
            const why = autoSlotsProblem(slots) ?? autoSizeProblem(each);
            problems.add(`hosts.${host}.runtime.${autoSlotsProblem(slots) ? "slots" : "size"}`, why);
            if (why === undefined) problems.add(`hosts.${host}.runtime`, autoPoolProblem(slots, each));
        }
        if (runtime.mode === "kubelet-userns") {
            const ids = runtime.idsPerPod ?? DEFAULT_IDS_PER_POD, pods = runtime.maxPods ?? DEFAULT_MAX_PODS;
            problems.add(`hosts.${host}.runtime.idsPerPod`, idsPerPodProblem(ids));
            problems.add(`hosts.${host}.runtime.maxPods`, maxPodsProblem(pods));
            if (idsPerPodProblem(ids) === undefined && maxPodsProblem(pods) === undefined) problems.add(`hosts.${host}.runtime`, kubeletRangeProblem(ids, pods));
            if (idsPerPodProblem(ids) !== undefined || maxPodsProblem(pods) !== undefined) continue;
        }
        const size = runtimeRangeSize(runtime);
        if (size !== undefined) {
            const seen = needs.get(owner);
            if (seen && seen.size !== size) {
                problems.add(`hosts.${host}.runtime`, `needs a pool of ${size} IDs for ${JSON.stringify(owner)}, but host ${seen.host} needs ${seen.size}: every host of one pool owner gets the same pool (same slots and size)`);
            } else if (seen && runtimeRangeAlignment(args.hosts[seen.host]!.runtime) !== runtimeRangeAlignment(runtime)) {
                problems.add(`hosts.${host}.runtime`, `needs ${JSON.stringify(owner)}'s range aligned to ${runtimeRangeAlignment(runtime) ?? 65536}, but host ${seen.host} needs ${runtimeRangeAlignment(args.hosts[seen.host]!.runtime) ?? 65536}: every host of one owner gets the same range (same idsPerPod)`);
            } else if (owner in tenants && (tenants[owner]!.size ?? 65536) !== size) {
                problems.add(`hosts.${host}.runtime`, `needs a pool of ${size} IDs for ${JSON.stringify(owner)}, but the tenant of that name has ${tenants[owner]!.size ?? 65536}`);
            } else if (!seen) {
                needs.set(owner, { size, host });
            }
        }
        if (!sizes.has(owner)) sizes.set(owner, size);
    }
    return sizes;
}

/**
 * Many hosts, one subordinate-ID allocation: every tenant and runtime owner has the same range on
 * every host, so shared volumes keep meaning the same owner everywhere. Hosts are configured in
 * parallel (they share nothing but the ledger); run `pulumi up --continue-on-error` so that one
 * failing host does not stop the others' work from being recorded (the fleet's `summary` then
 * fails with that host's error; the others' resources and outputs stand).
 *
 * Renames: the type token (`hardened-hosts:index:HardenedFleet`) and every child name
 * (`<name>-subids`, `<host>`, `<host>-subids`, ...) are part of URNs in state. A rename must carry
 * `aliases` (`{ type: "<old token>" }` on the component, `{ name: "<old name>" }` on a child, or
 * `{ parent: ... }` when a child moves), or `pulumi up` deletes and recreates: for host work that
 * runs the scripts' `remove` (daemon.json restored, subids lines removed) and then `apply` again,
 * and for the ledger, a new allocation. None has been renamed since the first commit.
 */
export class HardenedFleet extends pulumi.ComponentResource {
    /** The fleet's allocation, owner → range. */
    public readonly allocation: pulumi.Output<Allocation>;
    /** The allocation as a text table. */
    public readonly table: pulumi.Output<string>;
    /** The hosts, by name. */
    public readonly hosts: Record<string, HardenedHost>;
    /** Hosts passed / failed and the failing checks (verified hosts only). */
    public readonly summary: pulumi.Output<FleetSummary>;
    /**
     * The hosts whose runtime apply stopped or hid containers, or took over a remap (only with the
     * opt-ins `existingContainers: "stop"` and `takeOverRemap`), by name: what it did there.
     */
    public readonly containers: pulumi.Output<Record<string, ContainerEffects>>;

    constructor(name: string, args: HardenedFleetArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hardened-hosts:index:HardenedFleet", name, {}, opts);
        // Every problem of the arguments at once, before anything is registered.
        const problems = new Problems(this);
        const sizes = fleetArgsProblems(args, problems);
        problems.throwIfAny();
        const hostNames = Object.keys(args.hosts).sort();
        // Each host's owners: its runtime's, and its tenants (a shard's host without a list: every
        // tenant of the shared ledger).
        let hostOwners: (host: string) => pulumi.Output<string[]>;
        if (args.ledger) {
            const share = args.ledger;
            const needs = {
                hostTenants: Object.fromEntries(hostNames.map((h) => [h, args.hosts[h]!.tenants])),
                runtimes: Object.fromEntries(hostNames.map((h) => [h, args.hosts[h]!.runtime])),
            };
            const checked = problems.check("ledger", pulumi.all([share.allocation, share.tenants]),
                ([a, t]) => sharedLedgerProblem(a, t, needs, share.source));
            this.allocation = checked.apply(([a]) => a as Allocation);
            this.table = this.allocation.apply(formatAllocationTable);
            hostOwners = (h) => checked.apply(([, t]) => [runtimeOwner(args.hosts[h]!.runtime), ...(args.hosts[h]!.tenants ?? (t as string[]))]);
        } else {
            // Owners that need a start aligned to more than 65536 (kubelet-userns: idsPerPod).
            const alignments = new Map<string, number>();
            for (const host of hostNames) {
                const a = runtimeRangeAlignment(args.hosts[host]!.runtime);
                if (a !== undefined) alignments.set(runtimeOwner(args.hosts[host]!.runtime), a);
            }
            const ledger = new SubidLedger(`${name}-subids`, {
                scope: name,
                requests: [...sizes.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([owner, size]) => ({
                    owner,
                    ...(size === undefined ? {} : { size }),
                    ...(alignments.has(owner) ? { alignment: alignments.get(owner)! } : {}),
                })),
                pool: args.pool,
                reuseRetiredRanges: args.reuseRetiredRanges,
            }, { parent: this });
            this.allocation = ledger.allocation;
            this.table = ledger.table;
            hostOwners = (h) => pulumi.output([runtimeOwner(args.hosts[h]!.runtime), ...(args.hosts[h]!.tenants ?? [])]);
        }

        this.hosts = {};
        for (const host of hostNames) {
            const spec = args.hosts[host]!;
            this.hosts[host] = new HardenedHost(host, {
                connection: spec.connection,
                runtime: spec.runtime,
                allocation: pulumi.all([this.allocation, hostOwners(host)]).apply(([a, owners]) => Object.fromEntries(owners.map((o) => [o, a[o]!]))),
                verify: spec.verify,
                dependsOn: spec.dependsOn,
                // The fleet's own dependsOn reaches every host's commands (children do not inherit it).
            }, { parent: this, dependsOn: opts?.dependsOn });
        }
        const results = hostNames
            .map((h) => this.hosts[h]!.verification)
            .filter((v): v is pulumi.Output<HostResult> => v !== undefined);
        this.summary = pulumi.all(results).apply((r) => fleetSummary(r));
        const effects = hostNames
            .map((h) => [h, this.hosts[h]!.containers] as const)
            .filter((e): e is readonly [string, pulumi.Output<ContainerEffects>] => e[1] !== undefined);
        this.containers = pulumi.all(Object.fromEntries(effects)).apply((byHost) => Object.fromEntries(Object.entries(byHost)
            .filter(([, e]) => e.stopped.length > 0 || e.hidden.length > 0 || e.remapTakenOverFrom !== null)));
        this.registerOutputs({ allocation: this.allocation, table: this.table, summary: this.summary });
    }
}
