/**
 * Subordinate-id (subuid/subgid) library: file format with a managed block,
 * a deterministic range allocator, the ledger and the host-side writer (subids-host.sh, which
 * alone checks a host's own entries, read as shadow-utils reads them).
 * Pure: no Pulumi runtime, no I/O.
 */

export type { IdRange } from "./ranges";
export {
    MAX_ID,
    MIN_RANGE,
    OWNER_NAME_MAX_LENGTH,
    OWNER_NAME_PATTERN,
    SubidError,
    compareStrings,
    contains,
    formatRange,
    isValidOwner,
    isValidRange,
    overlaps,
    rangeEnd,
    rangeLast,
    validateOwner,
    validateRange,
} from "./ranges";

export type {
    BlankLine,
    CommentLine,
    EntryLine,
    InvalidLine,
    ManagedBlock,
    ParseOptions,
    SubidEntry,
    SubidFile,
    SubidLine,
} from "./format";
export {
    MANAGED_BEGIN,
    MANAGED_END,
    MANAGED_END_ADDED_NEWLINE,
    findManagedBlock,
    managedMarkers,
    formatEntry,
    managedEntries,
    parseSubidFile,
    renderSubidFile,
    shadowEntryOf,
    sortEntries,
    validateSubidFile,
    withManagedEntries,
    withoutManagedBlock,
} from "./format";

export type {
    AllocateInput,
    Allocation,
    AllocationChange,
    AllocationRequest,
    AllocationResult,
    AvoidRange,
    IdPool,
} from "./allocator";
export {
    DEFAULT_ALIGNMENT,
    DEFAULT_POOL,
    allocate,
    allocationEntries,
    describeChanges,
    diffAllocations,
    formatAllocationTable,
} from "./allocator";

export { SubidLedger, planLedger } from "./ledger";
export type { LedgerInputs, LedgerMemory, LedgerState, SubidLedgerArgs } from "./ledger";
export { HostSubids } from "./host-subids";
export type { HostSubidsArgs, HostSubidsReport } from "./host-subids";
