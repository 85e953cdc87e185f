/**
 * Basic types and checks shared by the subordinate-ID modules: id ranges,
 * owner names and the error type.
 *
 * Everything here is pure: no I/O, no Pulumi.
 */

/**
 * A block of consecutive ids: `start`, `start + 1`, …, `start + count - 1`.
 * Both fields are plain numbers (ids, not bytes); `count` is the number of ids.
 * This is exactly the `start:count` pair of an /etc/subuid line.
 */
export interface IdRange {
    readonly start: number;
    readonly count: number;
}

/**
 * Smallest range we hand out: 65536 ids, i.e. a full 16-bit id space, which is
 * what a container image expects to map (uid 0…65535 inside the namespace).
 * This is also the default `SUB_UID_COUNT` of shadow's useradd.
 */
export const MIN_RANGE = 65536;

/**
 * 2^32 - 1 = 4294967295. uid_t is 32 bits wide and 4294967295 is `(uid_t)-1`,
 * which the kernel and libc use as "no id" (setresuid(-1) means "unchanged"),
 * so it must never be part of a range: the last id of a valid range is at most
 * `MAX_ID - 1` = 4294967294, i.e. `rangeEnd(r) <= MAX_ID`.
 */
export const MAX_ID = 4294967295;

/**
 * Error thrown for every invalid input of this library.
 * `field` names the offending input, e.g. `requests[3].size`, `pool.start`,
 * `previous.alice`, `entries[0].owner` or `managedBlock`.
 */
export class SubidError extends Error {
    /** The input the error is about (a path into the argument, see class doc). */
    readonly field: string;

    constructor(message: string, field: string) {
        super(message);
        // Set again explicitly: the ledger's dynamic provider runs this class after Pulumi's
        // closure serializer has rewritten it, and there `super(message)` leaves message empty.
        this.message = message;
        this.name = "SubidError";
        this.field = field;
    }
}

/** Exclusive end of a range: the first id after it (`start + count`). */
export function rangeEnd(r: IdRange): number {
    return r.start + r.count;
}

/** Last id inside a range (`start + count - 1`, inclusive). */
export function rangeLast(r: IdRange): number {
    return r.start + r.count - 1;
}

/** True when the two ranges share at least one id. Empty ranges overlap nothing. */
export function overlaps(a: IdRange, b: IdRange): boolean {
    if (a.count <= 0 || b.count <= 0) {
        return false;
    }
    return a.start < rangeEnd(b) && b.start < rangeEnd(a);
}

/** True when every id of `inner` lies in `outer`. */
export function contains(outer: IdRange, inner: IdRange): boolean {
    return inner.start >= outer.start && rangeEnd(inner) <= rangeEnd(outer);
}

/**
 * Human form of a range: first and last id, both inclusive, e.g.
 * `2147483648-2147549183` for `{start: 2147483648, count: 65536}`.
 */
export function formatRange(r: IdRange): string {
    return `${r.start}-${rangeLast(r)}`;
}

/**
 * True when `r` is a usable id range: integer `start >= 0`, integer
 * `count >= 1`, last id `<= MAX_ID - 1` (4294967294). Cheap; see
 * {@link validateRange} for the error describing what is wrong.
 */
export function isValidRange(r: IdRange): boolean {
    return (
        r !== null &&
        typeof r === "object" &&
        Number.isSafeInteger(r.start) &&
        Number.isSafeInteger(r.count) &&
        r.start >= 0 &&
        r.count >= 1 &&
        r.start + r.count <= MAX_ID
    );
}

/**
 * Checks that `r` is a usable id range: integer `start >= 0`, integer
 * `count >= 1` and last id `<= MAX_ID - 1` (4294967294).
 *
 * @param r the range to check (may come from untyped JSON, so fields are re-checked)
 * @param field name used in the error, e.g. `previous.alice`; the error's
 *   `field` is `${field}.start` / `${field}.count` / `${field}`.
 * @param context optional prefix for the message, e.g. `owner "alice": `
 * @throws SubidError when invalid.
 */
export function validateRange(r: IdRange, field: string, context = ""): void {
    if (r === null || typeof r !== "object") {
        throw new SubidError(`${context}${field} must be an object {start, count}`, field);
    }
    if (!Number.isSafeInteger(r.start) || r.start < 0 || r.start > MAX_ID - 1) {
        throw new SubidError(
            `${context}${field}.start must be an integer between 0 and ${MAX_ID - 1} (got ${String(r.start)})`,
            `${field}.start`,
        );
    }
    if (!Number.isSafeInteger(r.count) || r.count < 1) {
        throw new SubidError(
            `${context}${field}.count must be a positive integer (got ${String(r.count)})`,
            `${field}.count`,
        );
    }
    if (rangeEnd(r) > MAX_ID) {
        throw new SubidError(
            `${context}${field} ${r.start}+${r.count} ends at ${rangeLast(r)}, beyond the last valid id ${MAX_ID - 1}`,
            field,
        );
    }
}

/** Login names we accept as owners: POSIX-ish, as useradd's default NAME_REGEX, plus a trailing `$` (Samba machine accounts). */
export const OWNER_NAME_PATTERN = /^[a-z_][a-z0-9_-]*[$]?$/;

/** Longest accepted login name (characters); shadow's useradd default limit is 32. */
export const OWNER_NAME_MAX_LENGTH = 32;

/**
 * True when `owner` is acceptable as the first field of a subuid line we write:
 * a login name matching {@link OWNER_NAME_PATTERN} of at most
 * {@link OWNER_NAME_MAX_LENGTH} characters, or a decimal uid 0…4294967294
 * without leading zeros (subuid(5) allows a numeric UID as owner).
 */
export function isValidOwner(owner: string): boolean {
    if (typeof owner !== "string") {
        return false;
    }
    if (/^(0|[1-9][0-9]*)$/.test(owner)) {
        // Compare as number only after the shape check, so "1e3" etc. never pass.
        return owner.length <= 10 && Number(owner) <= MAX_ID - 1;
    }
    return owner.length <= OWNER_NAME_MAX_LENGTH && OWNER_NAME_PATTERN.test(owner);
}

/**
 * Throws unless {@link isValidOwner}. Besides taste, this matters for safety:
 * an owner containing `:` or a newline would corrupt /etc/subuid.
 *
 * @param field the error's `field`, e.g. `requests[2].owner`.
 */
export function validateOwner(owner: string, field: string): void {
    if (!isValidOwner(owner)) {
        throw new SubidError(
            `owner ${JSON.stringify(owner)}: not a valid owner (expected a login name matching ` +
                `${OWNER_NAME_PATTERN.source} of at most ${OWNER_NAME_MAX_LENGTH} characters, ` +
                `or a decimal uid 0-${MAX_ID - 1})`,
            field,
        );
    }
}

/**
 * Code-unit string order (not locale-aware), used everywhere we sort owners so
 * results never depend on the machine's locale.
 */
export function compareStrings(a: string, b: string): number {
    return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Why `r` cannot serve as a container runtime's subordinate range, or undefined when it can:
 * integers, at least 65536 IDs (images assume UIDs 0-65535 exist), ending at or before 4294967294.
 */
export function containerRangeProblem(r: IdRange): string | undefined {
    if (!Number.isInteger(r.start) || !Number.isInteger(r.count) || r.start < 0) {
        return `start and count must be non-negative integers, got ${JSON.stringify(r)}`;
    }
    if (r.count < MIN_RANGE) return `count ${r.count} is below ${MIN_RANGE}: images expect UIDs 0-65535`;
    if (r.start + r.count - 1 >= MAX_ID) return `range ends past ${MAX_ID - 1}, the last valid ID`;
    return undefined;
}
