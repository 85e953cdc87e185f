/**
 * Deterministic allocator of subordinate-id ranges.
 *
 * One range per owner, used for BOTH /etc/subuid and /etc/subgid: an owner
 * gets identical subuid and subgid ranges, so a file created in the namespace
 * as uid N:gid N shows up on the host as the same number for both, which keeps
 * reasoning (and shared-volume permissions) simple.
 *
 * Policy, in order of precedence:
 *  1. kept: an owner whose previous range has the requested size keeps it.
 *     If that range now overlaps an `avoid` range or lies outside the pool we
 *     throw instead of moving it: moving a tenant silently would change the
 *     host-side owner of every file on its volumes.
 *  2. resized (size changed): keeps its start if `[start, start + size)` stays
 *     in the pool and overlaps neither an `avoid` range nor the previous range
 *     of any other requested owner; otherwise it is placed like a new owner.
 *     (Checking against the other owners' *previous* ranges makes the decision
 *     independent of processing order.) Shrinking thus normally stays in place.
 *  3. new and relocated owners: sorted by name (code-unit order), each placed
 *     first-fit — the lowest start that is a multiple of `alignment` (default
 *     65536, absolute, not relative to the pool start) and whose range is free.
 * Adding or removing an owner therefore never moves another one; a removed
 * owner's range becomes free immediately (pass it in `avoid` if files owned by
 * it may still exist, so it is not handed to a new tenant).
 *
 * Cost: O((n + a) log(n + a)) for n requests and a avoid ranges — sorting plus
 * a segment tree over the free gaps for first-fit — including the incremental
 * case (kept owners cost one sort, no search).
 */

import {
    IdRange,
    MAX_ID,
    MIN_RANGE,
    SubidError,
    compareStrings,
    formatRange,
    isValidOwner,
    isValidRange,
    rangeEnd,
    validateOwner,
    validateRange,
} from "./ranges";

/**
 * The ids the allocator may hand out: `start` inclusive, `end` EXCLUSIVE
 * (so the last usable id is `end - 1`). Bounds: `0 <= start < end <= 4294967295`.
 */
export interface IdPool {
    readonly start: number;
    readonly end: number;
}

/**
 * Default pool: 2^31 (2147483648) up to, excluding, 4294967295 — last id
 * 4294967294, since 4294967295 is `(uid_t)-1`. The upper half of the id space
 * is far away from ordinary accounts (useradd's SUB_UID_MIN defaults to
 * 100000, system/LDAP uids are far below 2^31), and 2^31 is a multiple of
 * 65536. It holds 32767 ranges of 65536 (the block starting at 4294901760
 * would contain 4294967295 and is never used).
 */
export const DEFAULT_POOL: IdPool = { start: 2147483648, end: MAX_ID };

/** Default alignment of new ranges' starts (ids). */
export const DEFAULT_ALIGNMENT = MIN_RANGE;

/** One owner that needs a range. */
export interface AllocationRequest {
    /** Login name or decimal uid; see `isValidOwner`. */
    readonly owner: string;
    /** Number of ids; integer `>= minSize`. Default 65536 ({@link MIN_RANGE}). */
    readonly size?: number;
    /**
     * This owner's start must be a multiple of this (ids): a multiple of the call's `alignment`
     * (65536), e.g. kubelet's `idsPerPod` for its `kubelet` range. Default: the call's alignment.
     * A previous range whose start is not a multiple is placed anew (it would be refused by
     * whoever needs the alignment). Placing such an owner skips the sliver below its aligned
     * start for the rest of this call (the next call sees it free again).
     */
    readonly alignment?: number;
}

/**
 * Ids the allocator must not hand out, e.g. host subuid entries we do not
 * manage or real accounts' uids. (The host itself is checked by subids-host.sh, the one
 * place that reads /etc/subuid as shadow does: see test/subids/shadow-parse.test.ts.)
 */
export interface AvoidRange {
    /** The ids to avoid; may extend outside the pool. */
    readonly range: IdRange;
    /**
     * Human description used verbatim in errors after "overlaps", e.g.
     * `existing subuid entry "alice" 100000-165535 (line 3)`. If it does not
     * mention the range, the range is appended.
     */
    readonly reason: string;
    /**
     * Owner of the range when it is a subuid/subgid entry. If this owner is
     * requested and its previous range is exactly `range`, the range is the
     * owner's own grant (e.g. our entry moved out of the managed block, or an
     * identical `dockremap` line) and does not conflict with it.
     */
    readonly owner?: string;
}

/** Owner → range, identical for subuid and subgid. */
export type Allocation = { readonly [owner: string]: IdRange };

/** Input of {@link allocate}. */
export interface AllocateInput {
    /** Where to allocate; default {@link DEFAULT_POOL}. */
    readonly pool?: IdPool;
    /** Every owner that must have a range after this call (others are removed). */
    readonly requests: readonly AllocationRequest[];
    /** Ranges that must stay untouched. Default none. */
    readonly avoid?: readonly AvoidRange[];
    /** Result of the previous run, for stability. Default none (fresh allocation). */
    readonly previous?: Allocation;
    /** New ranges start at multiples of this (ids). Default 65536. */
    readonly alignment?: number;
    /**
     * Smallest accepted `size` (ids). Default 65536 ({@link MIN_RANGE}), the
     * only sensible value for containers; lower it only for tests/benchmarks.
     */
    readonly minSize?: number;
}

/**
 * What happened to one owner between two allocations. `moved` means the range
 * changed (with {@link allocate}: only because the size changed; the start may
 * be the same).
 */
export type AllocationChange =
    | { readonly kind: "added"; readonly owner: string; readonly to: IdRange }
    | { readonly kind: "kept"; readonly owner: string; readonly from: IdRange; readonly to: IdRange }
    | { readonly kind: "moved"; readonly owner: string; readonly from: IdRange; readonly to: IdRange }
    | { readonly kind: "removed"; readonly owner: string; readonly from: IdRange };

/** Output of {@link allocate}. */
export interface AllocationResult {
    readonly allocation: Allocation;
    /** One change per owner present before or after, sorted by owner. */
    readonly changes: readonly AllocationChange[];
}

interface Request {
    readonly owner: string;
    readonly size: number;
    readonly index: number;
    /** This owner's start alignment (a multiple of the call's). */
    readonly align: number;
}

interface SortedAvoid {
    readonly start: number;
    /** Exclusive. */
    readonly end: number;
    readonly avoid: AvoidRange;
    /** Position in `input.avoid`. */
    readonly index: number;
}

/** A range as start and exclusive end, with its owner. */
interface PlacedRange {
    readonly owner: string;
    readonly start: number;
    readonly end: number;
}

function formatPlaced(p: PlacedRange): string {
    return formatRange({ start: p.start, count: p.end - p.start });
}

function validatePool(pool: IdPool): IdPool {
    if (pool === null || typeof pool !== "object") {
        throw new SubidError("pool must be an object {start, end}", "pool");
    }
    if (!Number.isSafeInteger(pool.start) || pool.start < 0 || pool.start >= MAX_ID) {
        throw new SubidError(
            `pool.start must be an integer between 0 and ${MAX_ID - 1} (got ${String(pool.start)})`,
            "pool.start",
        );
    }
    if (!Number.isSafeInteger(pool.end) || pool.end < 1 || pool.end > MAX_ID) {
        throw new SubidError(
            `pool.end (exclusive) must be an integer between 1 and ${MAX_ID} (got ${String(pool.end)})`,
            "pool.end",
        );
    }
    if (pool.start >= pool.end) {
        throw new SubidError(`pool start ${pool.start} must be below pool end ${pool.end}`, "pool");
    }
    return { start: pool.start, end: pool.end };
}

function validatePositive(value: number, field: string): number {
    if (!Number.isSafeInteger(value) || value < 1 || value > MAX_ID) {
        throw new SubidError(`${field} must be an integer between 1 and ${MAX_ID} (got ${String(value)})`, field);
    }
    return value;
}

/** Pool as text: first-last id, inclusive. */
function formatPool(pool: IdPool): string {
    return `${pool.start}-${pool.end - 1}`;
}

/**
 * Own entries of an allocation as a Map (one pass over the object). Own keys
 * only: an owner named "constructor" must not find Object.prototype.constructor.
 */
function toMap(allocation: Allocation | undefined): Map<string, IdRange> {
    const m = new Map<string, IdRange>();
    if (allocation !== undefined) {
        for (const owner of Object.keys(allocation)) m.set(owner, allocation[owner] as IdRange);
    }
    return m;
}

function describeAvoid(a: AvoidRange): string {
    const r = formatRange(a.range);
    return a.reason.includes(r) ? a.reason : `${a.reason} (range ${r})`;
}

/** Max segment tree over free gaps' usable sizes, for "leftmost gap that fits". */
class MaxTree {
    private readonly width: number;
    private readonly tree: Float64Array;

    constructor(values: readonly number[]) {
        let width = 1;
        while (width < values.length) width *= 2;
        this.width = width;
        this.tree = new Float64Array(2 * width).fill(-Infinity);
        values.forEach((v, i) => {
            this.tree[width + i] = v;
        });
        for (let i = width - 1; i >= 1; i--) {
            this.tree[i] = Math.max(this.tree[2 * i] as number, this.tree[2 * i + 1] as number);
        }
    }

    max(): number {
        return this.tree[1] as number;
    }

    set(index: number, value: number): void {
        let i = index + this.width;
        this.tree[i] = value;
        for (i >>= 1; i >= 1; i >>= 1) {
            this.tree[i] = Math.max(this.tree[2 * i] as number, this.tree[2 * i + 1] as number);
        }
    }

    /** Smallest index whose value is >= x, or -1. */
    leftmostAtLeast(x: number): number {
        if (this.max() < x) return -1;
        let i = 1;
        while (i < this.width) {
            i = (this.tree[2 * i] as number) >= x ? 2 * i : 2 * i + 1;
        }
        return i - this.width;
    }
}

/**
 * Allocates one range per requested owner; see the module comment for the
 * policy. Pure and deterministic: the result depends only on the set of
 * requests (not their order), the avoid ranges, the pool and `previous`.
 *
 * @throws SubidError (with `field`) for: invalid or duplicate owner, size not
 *   an integer / below `minSize` / above the pool size, invalid pool bounds,
 *   invalid avoid or previous ranges, previous ranges of requested owners that
 *   overlap each other, a kept owner that now overlaps an avoid range or left
 *   the pool, and an exhausted pool. Messages name the owner and the
 *   conflicting range, e.g. `owner "tenant-b": range 2147483648-2147549183
 *   overlaps existing subuid entry "alice" 2147483648-2147549183 (line 3); …`.
 */
export function allocate(input: AllocateInput): AllocationResult {
    const pool = validatePool(input.pool ?? DEFAULT_POOL);
    const alignment = validatePositive(input.alignment ?? DEFAULT_ALIGNMENT, "alignment");
    const minSize = validatePositive(input.minSize ?? MIN_RANGE, "minSize");
    const poolSize = pool.end - pool.start;
    const previous = input.previous;

    // --- requests -----------------------------------------------------------
    if (!Array.isArray(input.requests)) {
        throw new SubidError("requests must be an array", "requests");
    }
    const byOwner = new Map<string, Request>();
    input.requests.forEach((r, index) => {
        // Messages are built only on failure: this loop runs for every owner.
        if (!isValidOwner(r.owner)) validateOwner(r.owner, `requests[${index}].owner`);
        const who = (): string => `owner ${JSON.stringify(r.owner)}`;
        const earlier = byOwner.get(r.owner);
        if (earlier) {
            throw new SubidError(
                `${who()}: duplicate request (requests[${earlier.index}] and requests[${index}])`,
                `requests[${index}].owner`,
            );
        }
        const size = r.size ?? MIN_RANGE;
        if (!Number.isSafeInteger(size) || size < minSize || size > poolSize) {
            const field = `requests[${index}].size`;
            if (!Number.isSafeInteger(size)) {
                throw new SubidError(`${who()}: size must be an integer (got ${String(size)})`, field);
            }
            if (size < minSize) {
                throw new SubidError(`${who()}: size ${size} is below the minimum of ${minSize}`, field);
            }
            throw new SubidError(
                `${who()}: size ${size} exceeds the pool size ${poolSize} (pool ${formatPool(pool)})`,
                field,
            );
        }
        const align = r.alignment ?? alignment;
        if (!Number.isSafeInteger(align) || align < alignment || align % alignment !== 0 || align > poolSize) {
            throw new SubidError(`${who()}: alignment must be a multiple of ${alignment} no larger than the pool (got ${String(r.alignment)})`, `requests[${index}].alignment`);
        }
        byOwner.set(r.owner, { owner: r.owner, size, index, align });
    });

    // --- previous ranges of requested owners -------------------------------
    // One pass over the object (probing a 100k-key object is much slower than
    // a Map), in its own key order: allocations we return are ordered
    // by start, so sorting prevSorted is close to linear (TimSort on a run).
    const prevOf = new Map<string, IdRange>();
    const prevSorted: PlacedRange[] = [];
    const removed: [string, IdRange][] = [];
    if (previous !== undefined) {
        for (const owner of Object.keys(previous)) {
            const p = previous[owner] as IdRange;
            if (!byOwner.has(owner)) {
                removed.push([owner, p]);
                continue;
            }
            if (!isValidRange(p)) validateRange(p, `previous.${owner}`, `owner ${JSON.stringify(owner)}: `);
            prevOf.set(owner, p);
            prevSorted.push({ owner, start: p.start, end: rangeEnd(p) });
        }
    }
    prevSorted.sort((a, b) => a.start - b.start || compareStrings(a.owner, b.owner));
    for (let i = 1; i < prevSorted.length; i++) {
        const cur = prevSorted[i - 1] as PlacedRange;
        const next = prevSorted[i] as PlacedRange;
        if (next.start < cur.end) {
            throw new SubidError(
                `owner ${JSON.stringify(next.owner)}: previous range ${formatPlaced(next)} ` +
                    `overlaps owner ${JSON.stringify(cur.owner)}'s previous range ${formatPlaced(cur)}`,
                `previous.${next.owner}`,
            );
        }
    }

    // --- avoid ranges ----------------------------------------------------------
    const allAvoid: SortedAvoid[] = (input.avoid ?? []).map((a, index) => {
        if (!isValidRange(a.range)) validateRange(a.range, `avoid[${index}].range`);
        return { start: a.range.start, end: rangeEnd(a.range), avoid: a, index };
    });
    allAvoid.sort(
        (a, b) =>
            a.start - b.start || a.end - b.end || compareStrings(a.avoid.reason, b.avoid.reason) || a.index - b.index,
    );
    // Conflict checks skip an owner's own identical grant (see AvoidRange.owner).
    const checkAvoid = allAvoid.filter(({ avoid: a }) => {
        const own = a.owner !== undefined ? prevOf.get(a.owner) : undefined;
        return !(own !== undefined && own.start === a.range.start && own.count === a.range.count);
    });
    // prefix maximum of ends: any avoid overlapping [s, e) starts before e, and
    // among those the one reaching furthest overlaps iff its end > s.
    const prefixArg = new Int32Array(checkAvoid.length);
    for (let i = 0; i < checkAvoid.length; i++) {
        const prevArg = i > 0 ? (prefixArg[i - 1] as number) : -1;
        prefixArg[i] =
            prevArg >= 0 && (checkAvoid[prevArg] as SortedAvoid).end >= (checkAvoid[i] as SortedAvoid).end ? prevArg : i;
    }
    const avoidConflict = (s: number, e: number): SortedAvoid | undefined => {
        let lo = 0;
        let hi = checkAvoid.length; // first index with start >= e
        while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            if ((checkAvoid[mid] as SortedAvoid).start < e) lo = mid + 1;
            else hi = mid;
        }
        if (lo === 0) return undefined;
        const best = checkAvoid[prefixArg[lo - 1] as number] as SortedAvoid;
        return best.end > s ? best : undefined;
    };

    // --- kept and resized owners (in start order, so `fixed` stays sorted) -----
    const fixed: PlacedRange[] = [];
    const toPlace: Request[] = [];
    for (const req of byOwner.values()) {
        if (!prevOf.has(req.owner)) toPlace.push(req);
    }
    prevSorted.forEach((p, i) => {
        const req = byOwner.get(p.owner) as Request;
        const who = (): string => `owner ${JSON.stringify(req.owner)}`;
        const count = p.end - p.start;
        // A start that is not a multiple of the owner's own alignment (it asks for a larger
        // one now): placed anew, like a new owner.
        if (req.align !== alignment && p.start % req.align !== 0) {
            toPlace.push(req);
            return;
        }
        if (count === req.size) {
            if (p.start < pool.start || p.end > pool.end) {
                throw new SubidError(
                    `${who()}: previous range ${formatPlaced(p)} lies outside the pool ${formatPool(pool)}; ` +
                        `refusing to move it silently (that would change the owner of its files on shared volumes)`,
                    `previous.${req.owner}`,
                );
            }
            const hit = avoidConflict(p.start, p.end);
            if (hit) {
                throw new SubidError(
                    `${who()}: range ${formatPlaced(p)} overlaps ${describeAvoid(hit.avoid)}; refusing to move it ` +
                        `silently (that would change the owner of its files on shared volumes) — resolve the ` +
                        `conflicting range, or change this owner's size to move it on purpose`,
                    `avoid[${hit.index}]`,
                );
            }
            fixed.push(p);
            return;
        }
        // Resized: stay at the same start if the new range is free, judged
        // against the other owners' PREVIOUS ranges so the order of
        // evaluation does not matter (previous ranges are disjoint).
        const newEnd = p.start + req.size;
        const next = prevSorted[i + 1];
        const fitsInPlace =
            p.start >= pool.start &&
            newEnd <= pool.end &&
            (next === undefined || newEnd <= next.start) &&
            avoidConflict(p.start, newEnd) === undefined;
        if (fitsInPlace) {
            fixed.push({ owner: p.owner, start: p.start, end: newEnd });
        } else {
            toPlace.push(req);
        }
    });

    // --- free gaps of the pool -------------------------------------------------
    const busy: { start: number; end: number }[] = [];
    for (const a of allAvoid) {
        const s = Math.max(a.start, pool.start);
        const e = Math.min(a.end, pool.end);
        if (s < e) busy.push({ start: s, end: e });
    }
    for (const f of fixed) busy.push(f);
    busy.sort((a, b) => a.start - b.start || a.end - b.end); // two sorted runs: a merge
    const gapStart: number[] = [];
    const gapEnd: number[] = [];
    let cursor = pool.start;
    for (const b of busy) {
        if (b.start > cursor) {
            gapStart.push(cursor);
            gapEnd.push(b.start);
        }
        if (b.end > cursor) cursor = b.end;
    }
    if (cursor < pool.end) {
        gapStart.push(cursor);
        gapEnd.push(pool.end);
    }
    const alignUp = (x: number): number => Math.ceil(x / alignment) * alignment;
    // Usable size of a gap = ids from its first aligned id to its end. Taking
    // from the aligned start leaves only a sub-alignment sliver before it, which
    // no aligned range can use, so each placement just moves the gap's start.
    const usable = (i: number): number => (gapEnd[i] as number) - alignUp(gapStart[i] as number);
    const tree = new MaxTree(gapStart.map((_, i) => usable(i)));

    // --- first-fit, by owner name ------------------------------------------------
    toPlace.sort((a, b) => compareStrings(a.owner, b.owner));
    const placed: PlacedRange[] = [];
    for (const req of toPlace) {
        if (req.align !== alignment) {
            // Rare (one owner such as `kubelet`): a scan of the gaps for the first one holding
            // `size` IDs from a multiple of the owner's own alignment.
            const up = (x: number): number => Math.ceil(x / req.align) * req.align;
            const j = gapStart.findIndex((g, k) => up(g) + req.size <= (gapEnd[k] as number));
            if (j < 0) {
                throw new SubidError(
                    `owner ${JSON.stringify(req.owner)}: pool exhausted — no free range of ${req.size} ids ` +
                        `aligned to ${req.align} left in pool ${formatPool(pool)}`,
                    "pool",
                );
            }
            const s0 = up(gapStart[j] as number);
            gapStart[j] = s0 + req.size;
            tree.set(j, usable(j));
            placed.push({ owner: req.owner, start: s0, end: s0 + req.size });
            continue;
        }
        const i = tree.leftmostAtLeast(req.size);
        if (i < 0) {
            const largest = Math.max(0, tree.max());
            throw new SubidError(
                `owner ${JSON.stringify(req.owner)}: pool exhausted — no free range of ${req.size} ids ` +
                    `aligned to ${alignment} left in pool ${formatPool(pool)} ` +
                    `(largest free aligned block: ${largest} ids)`,
                "pool",
            );
        }
        const start = alignUp(gapStart[i] as number);
        gapStart[i] = start + req.size;
        tree.set(i, usable(i));
        placed.push({ owner: req.owner, start, end: start + req.size });
    }

    const all = [...fixed, ...placed].sort((a, b) => a.start - b.start);
    const ranges = all.map((r): [string, IdRange] => [r.owner, { start: r.start, count: r.end - r.start }]);
    // Object.fromEntries defines own properties, so even "__proto__" is a plain key.
    const allocation: Allocation = Object.fromEntries(ranges);

    // Changes from the data at hand (same result as diffAllocations, without re-probing objects).
    const changes: AllocationChange[] = [];
    for (const [owner, to] of ranges) {
        const from = prevOf.get(owner);
        if (from === undefined) changes.push({ kind: "added", owner, to });
        else if (from.start === to.start && from.count === to.count) changes.push({ kind: "kept", owner, from, to });
        else changes.push({ kind: "moved", owner, from, to });
    }
    for (const [owner, from] of removed) changes.push({ kind: "removed", owner, from });
    changes.sort((a, b) => compareStrings(a.owner, b.owner));
    return { allocation, changes };
}

/**
 * Per-owner differences between two allocations, sorted by owner (code-unit
 * order): `added` (only in next), `removed` (only in prev), `kept` (same
 * range), `moved` (range differs).
 *
 * @param prev earlier allocation, or undefined for "nothing before"
 */
export function diffAllocations(prev: Allocation | undefined, next: Allocation): AllocationChange[] {
    const before = toMap(prev);
    const after = toMap(next);
    const owners = new Set<string>([...before.keys(), ...after.keys()]);
    const changes: AllocationChange[] = [];
    for (const owner of [...owners].sort(compareStrings)) {
        const from = before.get(owner);
        const to = after.get(owner);
        if (from === undefined && to !== undefined) {
            changes.push({ kind: "added", owner, to });
        } else if (from !== undefined && to === undefined) {
            changes.push({ kind: "removed", owner, from });
        } else if (from !== undefined && to !== undefined) {
            const same = from.start === to.start && from.count === to.count;
            changes.push({ kind: same ? "kept" : "moved", owner, from, to });
        }
    }
    return changes;
}

function describeRange(r: IdRange): string {
    return `${formatRange(r)} (${r.count} ids)`;
}

/**
 * Readable preview of what changes between two allocations, one line per
 * added/moved/removed owner (sorted by owner) and a final count of kept ones:
 *
 * ```
 * + tenant-c  2147614720-2147680255 (65536 ids)
 * ~ tenant-b  2147549184-2147614719 (65536 ids) -> 2147680256-2147811327 (131072 ids)
 * - tenant-d  2147680256-2147745791 (65536 ids)
 * = 12 owners kept
 * ```
 * Returns `no changes (N owners kept)` when nothing changes.
 */
export function describeChanges(prev: Allocation | undefined, next: Allocation): string {
    const changes = diffAllocations(prev, next);
    const shown = changes.filter((c) => c.kind !== "kept");
    const kept = changes.length - shown.length;
    const keptText = `${kept} owner${kept === 1 ? "" : "s"} kept`;
    if (shown.length === 0) {
        return `no changes (${keptText})`;
    }
    const width = shown.reduce((w, c) => Math.max(w, c.owner.length), 0);
    const lines = shown.map((c) => {
        const name = c.owner.padEnd(width);
        switch (c.kind) {
            case "added":
                return `+ ${name}  ${describeRange(c.to)}`;
            case "removed":
                return `- ${name}  ${describeRange(c.from)}`;
            default:
                return `~ ${name}  ${describeRange(c.from)} -> ${describeRange(c.to)}`;
        }
    });
    lines.push(`= ${keptText}`);
    return lines.join("\n");
}

/**
 * The allocation as an aligned text table sorted by start (then owner), with
 * inclusive first/last ids:
 *
 * ```
 * OWNER     START       LAST        COUNT
 * tenant-a  2147483648  2147549183  65536
 * ```
 * Returns `(no owners)` for an empty allocation.
 */
export function formatAllocationTable(allocation: Allocation): string {
    const rows = allocationEntries(allocation).map((e) => [
        e.owner,
        String(e.start),
        String(e.start + e.count - 1),
        String(e.count),
    ]);
    if (rows.length === 0) {
        return "(no owners)";
    }
    const header = ["OWNER", "START", "LAST", "COUNT"];
    const widths = header.map((h, col) => rows.reduce((w, r) => Math.max(w, (r[col] as string).length), h.length));
    return [header, ...rows]
        .map((r) => r.map((cell, col) => cell.padEnd(widths[col] as number)).join("  ").trimEnd())
        .join("\n");
}

/**
 * The allocation as `{owner, start, count}` entries sorted by start, then
 * owner — the shape `withManagedEntries` writes (the same list serves
 * /etc/subuid and /etc/subgid).
 */
export function allocationEntries(allocation: Allocation): { owner: string; start: number; count: number }[] {
    return Object.keys(allocation)
        .map((owner) => {
            const r = allocation[owner] as IdRange;
            return { owner, start: r.start, count: r.count };
        })
        .sort((a, b) => a.start - b.start || compareStrings(a.owner, b.owner));
}
