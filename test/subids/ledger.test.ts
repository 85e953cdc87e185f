import * as assert from "node:assert/strict";
import { planLedger } from "../../components/subids";

// The ledger's pure core: what check() computes from the previous state and the new inputs.
describe("planLedger", function () {
    const A = 2147483648;
    const first = planLedger(undefined, {
        scope: "fleet",
        requests: [{ owner: "tenant-a" }, { owner: "tenant-b", size: 131072 }],
    });

    it("allocates every owner and renders a table", function () {
        assert.deepEqual(first.allocation, {
            "tenant-a": { start: A, count: 65536 },
            "tenant-b": { start: A + 65536, count: 131072 },
        });
        assert.match(first.table, /^OWNER\s+START\s+LAST\s+COUNT\ntenant-a\s+2147483648\s+2147549183\s+65536\n/);
        assert.deepEqual(first.retired, {});
    });

    it("keeps a removed owner's range out of circulation, and gives it back when the owner returns", function () {
        const removed = planLedger(first, { scope: "fleet", requests: [{ owner: "tenant-b", size: 131072 }, { owner: "tenant-c" }] });
        assert.deepEqual(removed.allocation["tenant-b"], first.allocation["tenant-b"], "others never move");
        assert.deepEqual(removed.retired, { "tenant-a": { start: A, count: 65536 } });
        assert.notEqual(removed.allocation["tenant-c"]?.start, A, "tenant-c must not inherit tenant-a's files");

        const back = planLedger(removed, {
            scope: "fleet",
            requests: [{ owner: "tenant-a" }, { owner: "tenant-b", size: 131072 }, { owner: "tenant-c" }],
        });
        assert.deepEqual(back.allocation["tenant-a"], { start: A, count: 65536 });
        assert.deepEqual(back.retired, {});
    });

    it("hands retired ranges out again only when asked", function () {
        const removed = planLedger(first, { scope: "fleet", requests: [{ owner: "tenant-b", size: 131072 }] });
        const reused = planLedger(removed, {
            scope: "fleet",
            requests: [{ owner: "tenant-b", size: 131072 }, { owner: "tenant-c" }],
            reuseRetiredRanges: true,
        });
        assert.deepEqual(reused.allocation["tenant-c"], { start: A, count: 65536 });
        assert.deepEqual(reused.retired, {});
    });

    it("is deterministic: the same memory and inputs give the same state", function () {
        const inputs = { scope: "fleet", requests: [{ owner: "z" }, { owner: "y" }, { owner: "x" }] };
        assert.deepEqual(planLedger(first, inputs), planLedger(first, inputs));
    });

    it("names the owner when a request is invalid", function () {
        assert.throws(
            () => planLedger(undefined, { scope: "fleet", requests: [{ owner: "tenant-a", size: 1000 }] }),
            /tenant-a/,
        );
    });
});

describe("ledger provider: a stack made before #29 (issue #29)", function () {
    it("rewrites the serialized provider text once, with the same allocation; the one-line text alone changes nothing", async function () {
        const { ledgerProvider, planLedger } = await import("../../components/subids/ledger");
        const { referenceText } = await import("../../components/host/dynamic-resource");
        const inputs = { scope: "fleet", requests: [{ owner: "tenant-a" }] };
        const state = { ...inputs, ...planLedger(undefined, inputs) };
        const text = referenceText("subids-ledger");
        const serialized = `exports.handler = __f0;\n${"x".repeat(26000)}`;
        assert.equal((await ledgerProvider.diff!("id", { ...state, __provider: serialized }, { ...state, __provider: text })).changes, true);
        assert.equal((await ledgerProvider.diff!("id", { ...state, __provider: text }, { ...state, __provider: `${text}// next release\n` })).changes, false);
        // Run from the sources (tests), both texts are serialized: no change either.
        assert.equal((await ledgerProvider.diff!("id", { ...state, __provider: serialized }, { ...state, __provider: `${serialized} ` })).changes, false);
        assert.deepEqual((await ledgerProvider.update!("id", { ...state, __provider: serialized }, { ...state, __provider: text })).outs, { ...state, __provider: text });
    });
});
