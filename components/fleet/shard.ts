import * as pulumi from "@pulumi/pulumi";
import { Allocation } from "../subids/allocator";
import { IdRange, formatRange, isValidOwner, isValidRange, overlaps } from "../subids/ranges";
import { RuntimeSpec, runtimeOwner, runtimeRangeAlignment, runtimeRangeSize } from "./hardened-host";

/**
 * A fleet split over several stacks (by region, team or size) shares one allocation: one stack
 * owns the ledger (a `SubidLedger`) and publishes it; each shard's `HardenedFleet` takes its
 * ranges from there instead of keeping a ledger of its own. Shards share nothing else, so they
 * run at the same time on any runner, and one failing blocks no other.
 */
export interface SharedLedger {
    /** Owner → range: the ledger's allocation (e.g. its stack's `allocation` output). */
    allocation: pulumi.Input<Allocation>;
    /** The ledger's tenants: a host that names no tenants of its own gets every one of them. */
    tenants: pulumi.Input<string[]>;
    /** Where the ledger lives, for errors (e.g. `stack organization/hardened-hosts/ledger`). */
    source: string;
}

/**
 * The ledger a ledger stack publishes (its outputs `allocation` and `tenants`), through a
 * `StackReference`: read when the program runs, from the backend the shard runs against.
 */
export function ledgerFromStack(stack: string, opts?: pulumi.CustomResourceOptions): SharedLedger {
    const ref = new pulumi.StackReference(`ledger-${stack.replace(/[^A-Za-z0-9_.-]/g, "-")}`, { name: stack }, opts);
    return {
        allocation: ref.requireOutput("allocation") as pulumi.Output<Allocation>,
        tenants: ref.requireOutput("tenants") as pulumi.Output<string[]>,
        source: `stack ${stack}`,
    };
}

/** What a shard's hosts need from the ledger: each host's owners, and the size each runtime owner must have. */
export interface ShardNeeds {
    /** Host → its tenants, or undefined for "every ledger tenant". */
    hostTenants: Record<string, string[] | undefined>;
    /** Host → runtime. */
    runtimes: Record<string, RuntimeSpec>;
}

/**
 * Why a shared allocation cannot be used as it is, or undefined: it must be owner → {start,
 * count} of valid owners and ranges, no two overlapping (a shard writes only what the ledger
 * gave, and checks that what it was given is one ledger's), with every owner the hosts need, at
 * the size their mode needs (a podman-auto pool exactly), and the tenants a list of its owners.
 */
export function sharedLedgerProblem(allocation: unknown, tenants: unknown, needs: ShardNeeds, source: string): string | undefined {
    if (allocation === null || typeof allocation !== "object" || Array.isArray(allocation)) {
        return `${source}'s allocation is not a map of owner to {start, count}`;
    }
    const entries = Object.entries(allocation as Record<string, unknown>);
    const ranges: [string, IdRange][] = [];
    for (const [owner, r] of entries) {
        const range = r as IdRange;
        if (!isValidOwner(owner) || r === null || typeof r !== "object" || !isValidRange({ start: range.start, count: range.count })) {
            return `${source}'s allocation has an entry that is not a valid owner and range: ${JSON.stringify(owner)}: ${JSON.stringify(r)}`;
        }
        ranges.push([owner, { start: range.start, count: range.count }]);
    }
    for (let i = 0; i < ranges.length; i++) {
        for (let j = i + 1; j < ranges.length; j++) {
            const [a, ra] = ranges[i]!, [b, rb] = ranges[j]!;
            if (overlaps(ra, rb)) return `${source}'s allocation is not one ledger's: ${a} ${formatRange(ra)} overlaps ${b} ${formatRange(rb)}`;
        }
    }
    if (!Array.isArray(tenants) || tenants.some((t) => typeof t !== "string" || !(t in (allocation as object)))) {
        return `${source}'s tenants are not a list of owners of its allocation: ${JSON.stringify(tenants)}`;
    }
    const missing: string[] = [];
    const sized: string[] = [];
    for (const host of Object.keys(needs.runtimes).sort()) {
        const runtime = needs.runtimes[host]!;
        const owner = runtimeOwner(runtime);
        const range = (allocation as Allocation)[owner];
        if (!range) missing.push(`${owner} (the ${runtime.mode} owner of ${host})`);
        else {
            const size = runtimeRangeSize(runtime) ?? 65536;
            const exact = runtime.mode === "podman-auto";
            if (exact ? range.count !== size : range.count < size) {
                sized.push(`${owner} has ${range.count} IDs there, ${host}'s ${runtime.mode} needs ${exact ? "" : "at least "}${size}`);
            }
            // kubelet wants its range to start at a multiple of idsPerPod.
            const align = runtimeRangeAlignment(runtime);
            if (align !== undefined && range.start % align !== 0) {
                sized.push(`${owner} starts at ${range.start} there, not a multiple of ${host}'s idsPerPod ${align} (kubelet refuses it)`);
            }
        }
        for (const t of needs.hostTenants[host] ?? []) {
            if (!(tenants as string[]).includes(t)) missing.push(`${t} (a tenant of ${host})`);
        }
    }
    const uniq = [...new Set(missing)];
    if (uniq.length > 0) return `${source} has no range for ${uniq.join(", ")}: add ${uniq.length === 1 ? "it" : "them"} to the ledger stack and update it first`;
    if (sized.length > 0) return `${source}'s ranges are too small: ${[...new Set(sized)].join("; ")}`;
    return undefined;
}
