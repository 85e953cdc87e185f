/**
 * The allocation ledger: a small Pulumi resource whose state holds the previous allocation, so
 * that ranges stay put across `pulumi up`s without any side file.
 *
 * The allocation is computed in the provider's `check`, from the previous *checked inputs*
 * (which the engine keeps in state) and the new requests. Because the result is an input, the
 * engine shows it in `pulumi preview --diff` as a readable change of `allocation` and `table`,
 * before anything touches a host. All owners of one ledger are allocated in one call, so many
 * owners created in one `pulumi up` can never collide.
 */

import * as pulumi from "@pulumi/pulumi";
import { Allocation, AllocationRequest, AvoidRange, IdPool, allocate, formatAllocationTable } from "./allocator";
import { IdRange, formatRange } from "./ranges";
import { PackagedDynamicResource } from "../host/dynamic-resource";

/** What the ledger allocates: plain values (the provider runs in another process). */
export interface LedgerInputs {
    /** Label for the preview and the resource id, e.g. `fleet` or `host-a`. */
    readonly scope: string;
    /** Every owner that needs a range; owners left out are released. */
    readonly requests: readonly AllocationRequest[];
    /** Where to allocate; default 2^31 up to 2^32-1 (see `DEFAULT_POOL`). */
    readonly pool?: IdPool;
    /** Ranges that must not be handed out (e.g. known host entries). */
    readonly avoid?: readonly AvoidRange[];
    /**
     * Hand out ranges of removed owners again. Default false: a removed owner's range is kept
     * as `retired`, because files it owned may still sit on volumes and would otherwise belong
     * to the next tenant. An owner that comes back gets its retired range back.
     */
    readonly reuseRetiredRanges?: boolean;
}

/** The ledger's checked inputs: its inputs plus the allocation decided from the previous one. */
export interface LedgerState extends LedgerInputs {
    /** Owner → range; the same range is used in /etc/subuid and /etc/subgid. */
    readonly allocation: Allocation;
    /** Ranges of removed owners, kept out of circulation (see `reuseRetiredRanges`). */
    readonly retired: Allocation;
    /** The allocation as an aligned text table, for people reading previews and outputs. */
    readonly table: string;
}

/** What the ledger remembers between runs. */
export interface LedgerMemory {
    readonly allocation?: Allocation;
    readonly retired?: Allocation;
}

/**
 * Pure core of the ledger: the new state from the previous allocation and the new inputs.
 * @throws SubidError (with `field`) when the requests cannot be satisfied.
 */
export function planLedger(memory: LedgerMemory | undefined, inputs: LedgerInputs): LedgerState {
    const requested = new Set(inputs.requests.map((r) => r.owner));
    const before = memory?.allocation ?? {};
    // Every range ever handed out and not currently held: earlier retirees plus owners removed now.
    const released: Record<string, IdRange> = { ...(memory?.retired ?? {}) };
    for (const [owner, range] of Object.entries(before)) {
        if (!requested.has(owner)) released[owner] = range;
    }
    const retired: Record<string, IdRange> = {};
    const comingBack: Record<string, IdRange> = {};
    for (const [owner, range] of Object.entries(released)) {
        if (requested.has(owner)) comingBack[owner] = range;
        else if (!inputs.reuseRetiredRanges) retired[owner] = range;
    }
    const retiredAvoid: AvoidRange[] = Object.entries(retired).map(([owner, range]) => ({
        range,
        reason:
            `the retired range of removed owner ${JSON.stringify(owner)} ${formatRange(range)} ` +
            "(its files may still exist; set reuseRetiredRanges to hand it out again)",
    }));
    const { allocation } = allocate({
        requests: inputs.requests,
        pool: inputs.pool,
        avoid: [...(inputs.avoid ?? []), ...retiredAvoid],
        previous: { ...comingBack, ...before },
    });
    return {
        scope: inputs.scope,
        requests: inputs.requests,
        ...(inputs.pool ? { pool: inputs.pool } : {}),
        ...(inputs.avoid ? { avoid: inputs.avoid } : {}),
        ...(inputs.reuseRetiredRanges ? { reuseRetiredRanges: true } : {}),
        allocation,
        retired,
        table: formatAllocationTable(allocation),
    };
}

// The dynamic provider is serialized into the state and run by the engine in its own Node.js
// process; it may only capture plain functions and values.
export const ledgerProvider: pulumi.dynamic.ResourceProvider = {
    async check(olds: any, news: any) {
        try {
            const state = planLedger(olds, news as LedgerInputs);
            return { inputs: { ...news, ...state } };
        } catch (e) {
            const err = e as Error & { field?: string };
            return { inputs: news, failures: [{ property: err.field ?? "requests", reason: err.message }] };
        }
    },
    async diff(_id: string, olds: any, news: any) {
        const keys = ["scope", "requests", "pool", "avoid", "reuseRetiredRanges", "allocation", "retired"];
        const changed = keys.filter((k) => JSON.stringify(olds?.[k]) !== JSON.stringify(news?.[k]));
        // A stack made before #29 holds the provider serialized (26 KB, in inputs and outputs); the
        // package's one-line reference replaces it once (update: the same allocation, nothing else).
        const serializedBefore = typeof olds?.__provider === "string" && olds.__provider.length > 1000
            && typeof news?.__provider === "string" && news.__provider.length < 1000;
        return { changes: changed.length > 0 || serializedBefore, replaces: [] };
    },
    async create(inputs: any) {
        return { id: `subids-${inputs.scope}`, outs: inputs };
    },
    async update(_id: string, _olds: any, news: any) {
        return { outs: news };
    },
};

/** Arguments of {@link SubidLedger}. */
export interface SubidLedgerArgs {
    /** Label for previews and the resource id. Default: the resource name. */
    scope?: pulumi.Input<string>;
    /** Owners and sizes (default size 65536 ids). Adding or removing one never moves another. */
    requests: pulumi.Input<pulumi.Input<AllocationRequest>[]>;
    /** Pool of ids (`start` inclusive, `end` exclusive). Default 2147483648 up to 4294967295. */
    pool?: pulumi.Input<IdPool>;
    /** Ranges the allocator must avoid, each with the reason shown in errors. Default none. */
    avoid?: pulumi.Input<pulumi.Input<AvoidRange>[]>;
    /** Hand out removed owners' ranges again. Default false (see `LedgerInputs`). */
    reuseRetiredRanges?: pulumi.Input<boolean>;
}

/**
 * Holds one allocation of subordinate ID ranges in Pulumi state: one per fleet (a tenant gets
 * the same range on every host) or one per host (host-local users).
 */
export class SubidLedger extends PackagedDynamicResource {
    /** Owner → `{start, count}`, identical for subuid and subgid. */
    public readonly allocation!: pulumi.Output<Allocation>;
    /** Removed owners' ranges, kept out of circulation. */
    public readonly retired!: pulumi.Output<Allocation>;
    /** The allocation as a text table. */
    public readonly table!: pulumi.Output<string>;

    constructor(name: string, args: SubidLedgerArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            "subids-ledger",
            ledgerProvider,
            name,
            {
                scope: args.scope ?? name,
                requests: args.requests,
                pool: args.pool,
                avoid: args.avoid,
                reuseRetiredRanges: args.reuseRetiredRanges,
                allocation: undefined,
                retired: undefined,
                table: undefined,
            },
            // The table shows the same allocation as changed lines; the structured copies would
            // repeat it at length in every preview that moves a range.
            pulumi.mergeOptions(opts, { hideDiffs: ["allocation", "requests"] }),
            "subids",
            "SubidLedger",
        );
    }
}
