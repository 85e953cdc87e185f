import * as assert from "node:assert/strict";
import fc from "fast-check";
import {
    AllocateInput,
    Allocation,
    AllocationRequest,
    AvoidRange,
    DEFAULT_POOL,
    IdPool,
    IdRange,
    SubidError,
    allocate,
    describeChanges,
    formatAllocationTable,
    overlaps,
    rangeEnd,
} from "../../components/subids";

const B = 2147483648; // 2^31, default pool start
const K = 65536;

function expectSubidError(fn: () => unknown, field: string, message: RegExp): void {
    assert.throws(fn, (e: unknown) => {
        assert.ok(e instanceof SubidError, `expected SubidError, got ${String(e)}`);
        assert.equal(e.field, field);
        assert.match(e.message, message);
        return true;
    });
}

/** Invariants every allocation must satisfy. */
function checkInvariants(input: AllocateInput, allocation: Allocation): void {
    const pool = input.pool ?? DEFAULT_POOL;
    const owners = Object.keys(allocation).sort();
    assert.deepEqual(owners, input.requests.map((r) => r.owner).sort(), "exactly the requested owners");
    const ranges = owners.map((o) => ({ owner: o, ...(allocation[o] as IdRange) })).sort((a, b) => a.start - b.start);
    for (const r of ranges) {
        const req = input.requests.find((q) => q.owner === r.owner) as AllocationRequest;
        assert.equal(r.count, req.size ?? K, `size of ${r.owner}`);
        assert.ok(r.start >= pool.start && rangeEnd(r) <= pool.end, `${r.owner} inside the pool`);
        for (const a of input.avoid ?? []) {
            const own = a.owner === r.owner && input.previous?.[r.owner]?.start === a.range.start;
            if (!own) assert.ok(!overlaps(r, a.range), `${r.owner} avoids ${a.reason}`);
        }
    }
    for (let i = 1; i < ranges.length; i++) {
        assert.ok(!overlaps(ranges[i - 1] as IdRange, ranges[i] as IdRange), "no two owners overlap");
    }
}

describe("subids/allocator: examples", function () {
    it("places new owners first-fit by name at 65536-aligned starts from 2^31", function () {
        const { allocation, changes } = allocate({
            requests: [{ owner: "tenant-b" }, { owner: "tenant-a", size: 3 * K }, { owner: "1000" }],
        });
        assert.deepEqual(allocation, {
            "1000": { start: B, count: K },
            "tenant-a": { start: B + K, count: 3 * K },
            "tenant-b": { start: B + 4 * K, count: K },
        });
        assert.deepEqual(
            changes.map((c) => [c.kind, c.owner]),
            [
                ["added", "1000"],
                ["added", "tenant-a"],
                ["added", "tenant-b"],
            ],
        );
    });

    it("skips avoid ranges and realigns after them", function () {
        const { allocation } = allocate({
            requests: [{ owner: "a" }, { owner: "b" }],
            avoid: [{ range: { start: B + 10, count: 5 }, reason: "account uid" }],
        });
        assert.deepEqual(allocation, { a: { start: B + K, count: K }, b: { start: B + 2 * K, count: K } });
    });

    it("keeps owners across adds and removes, and reuses freed space first-fit", function () {
        const first = allocate({ requests: [{ owner: "a" }, { owner: "b" }, { owner: "c" }] }).allocation;
        const second = allocate({ requests: [{ owner: "c" }, { owner: "a" }, { owner: "d" }], previous: first });
        assert.deepEqual(second.allocation, {
            a: { start: B, count: K },
            c: { start: B + 2 * K, count: K },
            d: { start: B + K, count: K },
        });
        assert.equal(
            describeChanges(first, second.allocation),
            [
                "- b  2147549184-2147614719 (65536 ids)",
                "+ d  2147549184-2147614719 (65536 ids)",
                "= 2 owners kept",
            ].join("\n"),
        );
        assert.equal(describeChanges(second.allocation, second.allocation), "no changes (3 owners kept)");
    });

    it("resizes in place when the grown range is still free, otherwise moves only that owner", function () {
        const prev = allocate({ requests: [{ owner: "a" }, { owner: "b" }, { owner: "c" }] }).allocation;
        // c is last: it can grow in place
        const grownC = allocate({ requests: [{ owner: "a" }, { owner: "b" }, { owner: "c", size: 2 * K }], previous: prev });
        assert.deepEqual(grownC.allocation.c, { start: B + 2 * K, count: 2 * K });
        // a would run into b: it moves to the first free aligned slot after c
        const grownA = allocate({ requests: [{ owner: "a", size: 2 * K }, { owner: "b" }, { owner: "c" }], previous: prev });
        assert.deepEqual(grownA.allocation, {
            a: { start: B + 3 * K, count: 2 * K },
            b: prev.b,
            c: prev.c,
        });
        assert.deepEqual(
            grownA.changes.map((c) => c.kind),
            ["moved", "kept", "kept"],
        );
        assert.match(describeChanges(prev, grownA.allocation), /^~ a {2}2147483648-2147549183 \(65536 ids\) -> 2147680256-2147811327 \(131072 ids\)$/m);
        // shrinking keeps the start
        const big = allocate({ requests: [{ owner: "a", size: 4 * K }] }).allocation;
        assert.deepEqual(allocate({ requests: [{ owner: "a" }], previous: big }).allocation, { a: { start: B, count: K } });
    });

    it("refuses to silently move a kept owner that now collides with an avoid range", function () {
        const prev = { "tenant-b": { start: B, count: K } };
        expectSubidError(
            () =>
                allocate({
                    requests: [{ owner: "tenant-b" }],
                    previous: prev,
                    avoid: [
                        { range: { start: 1000, count: 1 }, reason: "uid 1000" },
                        { range: { start: B, count: K }, reason: `existing subuid entry "alice" ${B}-${B + K - 1} (line 3)`, owner: "alice" },
                    ],
                }),
            "avoid[1]",
            /^owner "tenant-b": range 2147483648-2147549183 overlaps existing subuid entry "alice" 2147483648-2147549183 \(line 3\); refusing to move it silently/,
        );
        // a terse reason gets the range appended
        expectSubidError(
            () => allocate({ requests: [{ owner: "x" }], previous: { x: { start: B, count: K } }, avoid: [{ range: { start: B + 7, count: 1 }, reason: "reserved" }] }),
            "avoid[0]",
            /^owner "x": range 2147483648-2147549183 overlaps reserved \(range 2147483655-2147483655\)/,
        );
    });

    it("does not treat an owner's own identical grant as a conflict", function () {
        const prev = { dockremap: { start: B, count: K } };
        const avoid: AvoidRange[] = [{ range: { start: B, count: K }, reason: "existing subuid entry", owner: "dockremap" }];
        const { allocation } = allocate({ requests: [{ owner: "dockremap" }, { owner: "new" }], previous: prev, avoid });
        assert.deepEqual(allocation, { dockremap: prev.dockremap, new: { start: B + K, count: K } });
        // ...but another owner may not take it once dockremap is gone
        const after = allocate({ requests: [{ owner: "new" }], previous: allocation, avoid }).allocation;
        assert.deepEqual(after, { new: { start: B + K, count: K } });
        const fresh = allocate({ requests: [{ owner: "other" }], avoid }).allocation;
        assert.deepEqual(fresh, { other: { start: B + K, count: K } });
    });

    it("refuses a kept owner whose previous range is outside the pool", function () {
        expectSubidError(
            () => allocate({ requests: [{ owner: "old" }], previous: { old: { start: 100000, count: K } } }),
            "previous.old",
            /^owner "old": previous range 100000-165535 lies outside the pool 2147483648-4294967294/,
        );
    });

    it("validates requests and names the owner", function () {
        expectSubidError(() => allocate({ requests: [{ owner: "Bad" }] }), "requests[0].owner", /^owner "Bad": not a valid owner/);
        expectSubidError(() => allocate({ requests: [{ owner: "a:b" }] }), "requests[0].owner", /^owner "a:b"/);
        expectSubidError(() => allocate({ requests: [{ owner: "x".repeat(33) }] }), "requests[0].owner", /at most 32 characters/);
        expectSubidError(() => allocate({ requests: [{ owner: "4294967295" }] }), "requests[0].owner", /not a valid owner/);
        expectSubidError(() => allocate({ requests: [{ owner: "007" }] }), "requests[0].owner", /not a valid owner/);
        assert.doesNotThrow(() => allocate({ requests: [{ owner: "4294967294" }, { owner: "_svc$" }, { owner: "a-b_c" }] }));
        expectSubidError(
            () => allocate({ requests: [{ owner: "a" }, { owner: "b" }, { owner: "a" }] }),
            "requests[2].owner",
            /^owner "a": duplicate request \(requests\[0\] and requests\[2\]\)$/,
        );
        expectSubidError(() => allocate({ requests: [{ owner: "a", size: 1000 }] }), "requests[0].size", /^owner "a": size 1000 is below the minimum of 65536$/);
        expectSubidError(() => allocate({ requests: [{ owner: "a", size: 65536.5 }] }), "requests[0].size", /^owner "a": size must be an integer/);
        expectSubidError(
            () => allocate({ requests: [{ owner: "a", size: 4 * K }], pool: { start: B, end: B + 2 * K } }),
            "requests[0].size",
            /^owner "a": size 262144 exceeds the pool size 131072 \(pool 2147483648-2147614719\)$/,
        );
    });

    it("validates the pool", function () {
        expectSubidError(() => allocate({ requests: [], pool: { start: -1, end: 10 } }), "pool.start", /pool.start must be an integer between 0 and 4294967294/);
        expectSubidError(() => allocate({ requests: [], pool: { start: 0, end: 4294967296 } }), "pool.end", /pool.end \(exclusive\) must be an integer between 1 and 4294967295/);
        expectSubidError(() => allocate({ requests: [], pool: { start: 10, end: 10 } }), "pool", /pool start 10 must be below pool end 10/);
        assert.doesNotThrow(() => allocate({ requests: [], pool: { start: 0, end: 4294967295 } }));
    });

    it("reports pool exhaustion naming the owner and the pool", function () {
        const pool: IdPool = { start: B, end: B + 2 * K + 5 };
        expectSubidError(
            () => allocate({ pool, requests: [{ owner: "a" }, { owner: "b" }, { owner: "c" }] }),
            "pool",
            /^owner "c": pool exhausted — no free range of 65536 ids aligned to 65536 left in pool 2147483648-2147614724 \(largest free aligned block: 5 ids\)$/,
        );
    });

    it("never uses the block containing 4294967295", function () {
        const pool: IdPool = { start: 4294967295 - 2 * K - 1, end: 4294967295 };
        const { allocation } = allocate({ pool, requests: [{ owner: "a" }] });
        assert.deepEqual(allocation, { a: { start: 4294836224, count: K } });
        expectSubidError(() => allocate({ pool, requests: [{ owner: "a" }, { owner: "b" }] }), "pool", /^owner "b": pool exhausted/);
    });

    it("rejects overlapping previous ranges of requested owners", function () {
        expectSubidError(
            () => allocate({ requests: [{ owner: "a" }, { owner: "b" }], previous: { a: { start: B, count: K }, b: { start: B + 10, count: K } } }),
            "previous.b",
            /owner "b": previous range 2147483658-2147549193 overlaps owner "a"'s previous range 2147483648-2147549183/,
        );
    });

    it("handles owner names that are Object.prototype keys", function () {
        const first = allocate({ requests: [{ owner: "__proto__" }, { owner: "constructor" }] }).allocation;
        assert.deepEqual(Object.keys(first).sort(), ["__proto__", "constructor"]);
        assert.equal(Object.getPrototypeOf(first), Object.prototype);
        const second = allocate({ requests: [{ owner: "other" }, { owner: "constructor" }], previous: first });
        assert.deepEqual(second.allocation.constructor, first.constructor);
        assert.deepEqual(second.changes.map((c) => `${c.kind}:${c.owner}`), ["removed:__proto__", "kept:constructor", "added:other"]);
        // a plain-object previous without those keys must not pick up Object.prototype members
        assert.deepEqual(allocate({ requests: [{ owner: "constructor" }], previous: {} }).changes.map((c) => c.kind), ["added"]);
    });

    it("formats a table sorted by start", function () {
        const { allocation } = allocate({ requests: [{ owner: "tenant-b" }, { owner: "a", size: 2 * K }] });
        assert.equal(
            formatAllocationTable(allocation),
            [
                "OWNER     START       LAST        COUNT",
                "a         2147483648  2147614719  131072",
                "tenant-b  2147614720  2147680255  65536",
            ].join("\n"),
        );
        assert.equal(formatAllocationTable({}), "(no owners)");
    });

    it("allocates 100k owners (reduced size) and adds one incrementally", function () {
        this.timeout(20000);
        const requests = Array.from({ length: 100_000 }, (_, i) => ({ owner: `t${i}`, size: 4096 }));
        const opts = { alignment: 4096, minSize: 4096 };
        const first = allocate({ requests, ...opts });
        const second = allocate({ requests: [...requests, { owner: "newcomer", size: 4096 }], previous: first.allocation, ...opts });
        assert.deepEqual(second.allocation.newcomer, { start: B + 100_000 * 4096, count: 4096 });
        assert.equal(second.changes.filter((c) => c.kind === "kept").length, 100_000);
    });
});

// --- properties --------------------------------------------------------------

const U = 4096; // unit for generated sizes/alignment keeps pools small and collisions frequent
const ownerArb = fc.stringMatching(/^[a-z][a-z0-9]{0,5}$/);
const poolArb = fc
    .record({ startUnits: fc.integer({ min: 0, max: 40 }), lengthUnits: fc.integer({ min: 8, max: 400 }), jitter: fc.integer({ min: 0, max: U - 1 }) })
    .map(({ startUnits, lengthUnits, jitter }): IdPool => ({ start: B + startUnits * U + jitter, end: B + (startUnits + lengthUnits) * U }));
const avoidArb = fc.array(
    fc.record({ offset: fc.integer({ min: 0, max: 500 * U }), count: fc.integer({ min: 1, max: 3 * U }) }).map(
        ({ offset, count }): AvoidRange => ({ range: { start: B + offset, count }, reason: `reserved at ${B + offset}` }),
    ),
    { maxLength: 6 },
);
const requestsArb = fc.uniqueArray(
    fc.record({ owner: ownerArb, size: fc.integer({ min: 1, max: 4 }).map((n) => n * U) }),
    { maxLength: 12, selector: (r) => r.owner },
);
const opts = { alignment: U, minSize: U };

/** allocate, or undefined when the pool is exhausted (the only acceptable failure for these inputs). */
function tryAllocate(input: AllocateInput): Allocation | undefined {
    try {
        return allocate(input).allocation;
    } catch (e) {
        assert.ok(e instanceof SubidError, String(e));
        assert.match(e.message, /^owner "[^"]+": /, "errors name the owner");
        if (/pool exhausted/.test(e.message)) return undefined;
        // A kept owner may now collide with an avoid range only if avoid changed; not in these properties.
        throw e;
    }
}

describe("subids/allocator: properties", function () {
    it("never overlaps, stays in the pool, avoids avoid ranges, gives the requested sizes", function () {
        fc.assert(
            fc.property(poolArb, requestsArb, avoidArb, (pool, requests, avoid) => {
                const input = { pool, requests, avoid, ...opts };
                const allocation = tryAllocate(input);
                if (allocation) {
                    checkInvariants(input, allocation);
                    for (const o of Object.keys(allocation)) {
                        assert.equal((allocation[o] as IdRange).start % U, 0, "new ranges are aligned");
                    }
                }
            }),
            { numRuns: 200 },
        );
    });

    it("places new owners exactly where a naive first-fit by name would", function () {
        const naive = (pool: IdPool, requests: AllocationRequest[], avoid: AvoidRange[]): Allocation | undefined => {
            const taken: IdRange[] = avoid.map((a) => a.range);
            const out: Record<string, IdRange> = {};
            for (const r of [...requests].sort((a, b) => (a.owner < b.owner ? -1 : 1))) {
                const count = r.size ?? K;
                let start = Math.ceil(pool.start / U) * U;
                while (start + count <= pool.end && taken.some((t) => overlaps(t, { start, count }))) start += U;
                if (start + count > pool.end) return undefined;
                taken.push((out[r.owner] = { start, count }));
            }
            return out;
        };
        fc.assert(
            fc.property(poolArb, requestsArb, avoidArb, (pool, requests, avoid) => {
                const expected = naive(pool, requests, avoid);
                const actual = tryAllocate({ pool, requests, avoid, ...opts });
                assert.deepEqual(actual === undefined ? undefined : { ...actual }, expected);
            }),
            { numRuns: 200 },
        );
    });

    it("is deterministic and independent of request order", function () {
        fc.assert(
            fc.property(poolArb, requestsArb, avoidArb, fc.infiniteStream(fc.nat()), (pool, requests, avoid, noise) => {
                const shuffled = [...requests]
                    .map((r) => ({ r, k: noise.next().value as number }))
                    .sort((a, b) => a.k - b.k)
                    .map((x) => x.r);
                const a = tryAllocate({ pool, requests, avoid, ...opts });
                const b = tryAllocate({ pool, requests: shuffled, avoid: [...avoid].reverse(), ...opts });
                assert.deepEqual(a, b);
                if (a) assert.deepEqual(Object.entries(a), Object.entries(b as Allocation), "same key order too");
            }),
            { numRuns: 150 },
        );
    });

    it("keeps every unchanged owner across any sequence of adds, removes and resizes", function () {
        const stepArb = fc.record({
            add: fc.array(fc.record({ owner: ownerArb, size: fc.integer({ min: 1, max: 3 }).map((n) => n * U) }), { maxLength: 4 }),
            remove: fc.array(fc.nat(), { maxLength: 3 }),
            resize: fc.option(fc.record({ pick: fc.nat(), size: fc.integer({ min: 1, max: 3 }).map((n) => n * U) }), { nil: undefined }),
        });
        fc.assert(
            fc.property(poolArb, avoidArb, fc.array(stepArb, { minLength: 1, maxLength: 6 }), (pool, avoid, steps) => {
                let previous: Allocation | undefined;
                let requests: AllocationRequest[] = [];
                for (const step of steps) {
                    let next = [...requests];
                    for (const i of step.remove) {
                        if (next.length > 0) next.splice(i % next.length, 1);
                    }
                    if (step.resize && next.length > 0) {
                        const i = step.resize.pick % next.length;
                        next[i] = { owner: (next[i] as AllocationRequest).owner, size: step.resize.size };
                    }
                    for (const a of step.add) {
                        if (!next.some((r) => r.owner === a.owner)) next.push(a);
                    }
                    const input = { pool, requests: next, avoid, previous, ...opts };
                    const allocation = tryAllocate(input);
                    if (!allocation) continue; // exhausted: nothing applied, try the next step
                    checkInvariants(input, allocation);
                    for (const r of next) {
                        // (an owner removed and re-added with another size in one step counts as resized)
                        const before = previous?.[r.owner];
                        if (before && before.count === r.size) {
                            assert.deepEqual(allocation[r.owner], before, `${r.owner} kept its range`);
                        }
                    }
                    previous = allocation;
                    requests = next;
                }
            }),
            { numRuns: 150 },
        );
    });

    it("a size change moves only that owner", function () {
        fc.assert(
            fc.property(poolArb, requestsArb, avoidArb, fc.nat(), fc.integer({ min: 1, max: 4 }), (pool, requests, avoid, pick, units) => {
                const before = tryAllocate({ pool, requests, avoid, ...opts });
                if (!before || requests.length === 0) return;
                const i = pick % requests.length;
                const target = requests[i] as AllocationRequest;
                const changed = requests.map((r, j) => (j === i ? { owner: r.owner, size: units * U } : r));
                const after = tryAllocate({ pool, requests: changed, avoid, previous: before, ...opts });
                if (!after) return;
                for (const r of requests) {
                    if (r.owner !== target.owner) assert.deepEqual(after[r.owner], before[r.owner]);
                }
                if (units * U === target.size) assert.deepEqual(after[target.owner], before[target.owner]);
            }),
            { numRuns: 150 },
        );
    });

    it("throws a SubidError naming the owner for every invalid request", function () {
        const badArb = fc.oneof(
            fc.record({ owner: fc.constantFrom("Root", "a b", "9x", "", "-x", "a:b"), size: fc.constant(K) }),
            fc.record({ owner: ownerArb, size: fc.oneof(fc.integer({ min: -5, max: K - 1 }), fc.double({ min: K, max: 2 * K, noInteger: true })) }),
        );
        fc.assert(
            fc.property(requestsArb, badArb, fc.nat(), (good, bad, at) => {
                const ok = good.filter((r) => r.owner !== bad.owner).map((r) => ({ owner: r.owner, size: K }));
                const requests = [...ok];
                requests.splice(at % (ok.length + 1), 0, bad);
                assert.throws(
                    () => allocate({ requests }),
                    (e: unknown) =>
                        e instanceof SubidError &&
                        e.message.startsWith(`owner ${JSON.stringify(bad.owner)}: `) &&
                        /^requests\[\d+\]\.(owner|size)$/.test(e.field),
                );
            }),
            { numRuns: 100 },
        );
    });
});

describe("subids/allocator: an owner's own alignment (kubelet's idsPerPod)", function () {
    const B = 2147483648, K = 65536;
    it("places the aligned owner at the first multiple of its alignment that fits; the others as before", function () {
        const { allocation } = allocate({ requests: [{ owner: "alpha" }, { owner: "kubelet", size: 8 * 2 * K, alignment: 2 * K }, { owner: "zed" }] });
        assert.deepEqual(allocation["alpha"], { start: B, count: K });
        assert.deepEqual(allocation["kubelet"], { start: B + 2 * K, count: 16 * K }, "past alpha, at a multiple of 131072");
        assert.deepEqual(allocation["zed"], { start: B + 18 * K, count: K });
    });
    it("keeps an aligned previous range; re-places one that is not a multiple of a larger alignment asked for now", function () {
        const previous = { kubelet: { start: B + K, count: 8 * K } };
        assert.deepEqual(allocate({ requests: [{ owner: "kubelet", size: 8 * K }], previous }).allocation["kubelet"], previous.kubelet);
        const moved = allocate({ requests: [{ owner: "kubelet", size: 8 * K, alignment: 2 * K }], previous }).allocation["kubelet"]!;
        assert.equal(moved.start % (2 * K), 0);
    });
    it("refuses an alignment that is no multiple of the call's", function () {
        assert.throws(() => allocate({ requests: [{ owner: "kubelet", alignment: 100000 }] }), /alignment must be a multiple of 65536/);
    });
});
