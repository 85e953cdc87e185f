/**
 * Timings of the subordinate-id library. No thresholds: it prints figures.
 * Run alone with `npx ts-node --transpile-only bench/subids.bench.ts`, or with
 * all benches via `npm run bench`.
 *
 * 100k owners cannot get the production size of 65536 ids each: that would be
 * 6.5e9 ids, more than the 32-bit id space (the default pool holds 32767 such
 * ranges). The scaling runs therefore use 16384-id ranges aligned to 16384
 * (allowed through the allocator's `minSize`/`alignment` options), which
 * exercises exactly the same code paths; one extra run fills the default pool
 * at the production size.
 */
import { performance } from "node:perf_hooks";
import {
    Allocation,
    AllocationRequest,
    allocate,
    allocationEntries,
    parseSubidFile,
    renderSubidFile,
    withManagedEntries,
} from "../components/subids";

const SMALL = 16384;
const smallOpts = { alignment: SMALL, minSize: SMALL };

/** Median wall time in ms of `reps` runs of `fn` (after one warm-up run). */
function median(reps: number, fn: () => unknown): number {
    fn();
    const times: number[] = [];
    for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        fn();
        times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)] as number;
}

function requests(n: number, size: number): AllocationRequest[] {
    return Array.from({ length: n }, (_, i) => ({ owner: `tenant-${i}`, size }));
}

function subuidText(lines: number): string {
    const out: string[] = ["# /etc/subuid generated for the benchmark", ""];
    for (let i = 0; out.length < lines; i++) {
        out.push(i % 1000 === 999 ? "# comment" : `user${i}:${100000 + i * 65536}:65536`);
    }
    return out.join("\n") + "\n";
}

function row(label: string, ms: number): void {
    console.log(`${label.padEnd(58)} ${ms.toFixed(2).padStart(10)} ms`);
}

function ratio(label: string, a: number, b: number): void {
    console.log(`${label.padEnd(58)} ${(a / b).toFixed(2).padStart(10)} x`);
}

export function run(): void {
    console.log(`node ${process.version}; median of repetitions after one warm-up\n`);

    const alloc: Record<number, number> = {};
    for (const [n, reps] of [
        [1_000, 9],
        [10_000, 7],
        [100_000, 5],
    ] as const) {
        const reqs = requests(n, SMALL);
        alloc[n] = median(reps, () => allocate({ requests: reqs, ...smallOpts }));
        row(`allocate ${n} new owners (16384 ids each)`, alloc[n] as number);
    }
    const full = requests(32_767, 65536);
    row("allocate 32767 new owners (65536 ids, default pool full)", median(5, () => allocate({ requests: full })));

    // Fragmented pool: an avoided id in every other 16384-block of the first
    // 120000 blocks. Owners of 2 blocks fit none of those 60000 gaps; a naive
    // first-fit would rescan them for every owner (O(n * gaps)).
    const scattered = Array.from({ length: 60_000 }, (_, i) => ({
        range: { start: 2147483648 + 2 * i * SMALL + 5, count: 1 },
        reason: `scattered ${i}`,
    }));
    const mixed = [...requests(5_000, SMALL), ...requests(5_000, 2 * SMALL).map((r) => ({ ...r, owner: `big-${r.owner}` }))];
    row("allocate 10000 owners around 60000 scattered avoid ranges", median(5, () => allocate({ requests: mixed, avoid: scattered, ...smallOpts })));

    const base = requests(100_000, SMALL);
    const previous: Allocation = allocate({ requests: base, ...smallOpts }).allocation;
    const plusOne = [...base, { owner: "newcomer", size: SMALL }];
    row("add 1 owner to a previous allocation of 100000", median(5, () => allocate({ requests: plusOne, previous, ...smallOpts })));
    const minusOne = base.slice(1);
    row("remove 1 owner from a previous allocation of 100000", median(5, () => allocate({ requests: minusOne, previous, ...smallOpts })));

    const parse: Record<number, number> = {};
    for (const [n, reps] of [
        [1_000, 9],
        [10_000, 7],
        [100_000, 5],
    ] as const) {
        const text = subuidText(n);
        parse[n] = median(reps, () => {
            if (renderSubidFile(parseSubidFile(text)) !== text) throw new Error("round-trip failed");
        });
        row(`parse + render a ${n}-line subuid file`, parse[n] as number);
    }
    const host = subuidText(100_000);
    const entries = allocationEntries(previous);
    row("write a 100000-entry managed block into a 100000-line file", median(5, () => withManagedEntries(host, entries)));

    console.log("");
    ratio("growth allocate 10k / 1k (linear would be 10)", alloc[10_000] as number, alloc[1_000] as number);
    ratio("growth allocate 100k / 10k (linear would be 10)", alloc[100_000] as number, alloc[10_000] as number);
    ratio("growth parse+render 10k / 1k", parse[10_000] as number, parse[1_000] as number);
    ratio("growth parse+render 100k / 10k", parse[100_000] as number, parse[10_000] as number);
}

if (require.main === module) {
    run();
}
