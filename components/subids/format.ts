/**
 * The /etc/subuid and /etc/subgid file format (subuid(5), subgid(5)) and the
 * managed block this project writes into those files.
 *
 * A file is a list of lines `owner:start:count`; owner is a login name or a
 * numeric uid. We also keep `#` comments, blank lines and anything malformed
 * verbatim, because we never rewrite lines we do not own.
 *
 * How shadow itself reads these files (lib/commonio.c, lib/subordinateio.c of
 * shadow-maint/shadow; used by newuidmap/newgidmap, getsubids, useradd, usermod):
 *  - there is NO comment syntax: every line goes through subordinate_parse(),
 *    which splits on `:` and needs three non-empty fields whose 2nd and 3rd are
 *    numbers for strtoul(base 0) (so `0x10` is hex and `010` octal), with
 *    nothing after the number; fields after the third are silently ignored.
 *    Lines that do not parse are kept as raw text and skipped by every lookup.
 *    So a `#` line is "ignored" only because it does not parse: a comment with
 *    two colons such as `#alice:100000:65536` IS read as an entry whose owner
 *    is `#alice`. Our markers therefore contain no `:` at all.
 *  - lines starting with `+` or `-` are NIS markers and never parsed.
 *  - an entry ending in `\r` (CRLF file) fails the number check and is ignored.
 *  - recent shadow rejects a file whose last line has no `\n` ("Non-text
 *    file", shadow PR #1583), so everything we write ends with `\n`.
 *  - useradd's automatic allocation (find_free_range) sorts the file by start
 *    and moves every unparsed line (comments, blanks, our markers) to the END
 *    of the file when it writes it back. {@link findManagedBlock} detects the
 *    damage that can cause instead of guessing.
 */

import {
    IdRange,
    MAX_ID,
    SubidError,
    compareStrings,
    formatRange,
    isValidOwner,
    isValidRange,
    overlaps,
    validateOwner,
    validateRange,
} from "./ranges";

/** One subordinate-id grant: `owner` may map `count` ids starting at `start`. */
export interface SubidEntry extends IdRange {
    /** Login name or decimal uid (first field of the line). */
    readonly owner: string;
}

/** Fields every parsed line has. */
interface LineBase {
    /** 1-based line number in the parsed text. */
    readonly lineNo: number;
    /**
     * Exact text of the line without its `\n` (a CRLF line keeps its `\r`).
     * Rendering uses only this field, so unmodified lines come back byte-for-byte.
     */
    readonly text: string;
}

/** A well-formed `owner:start:count` line. */
export interface EntryLine extends LineBase, SubidEntry {
    readonly kind: "entry";
}

/** A line whose first non-blank character is `#`. */
export interface CommentLine extends LineBase {
    readonly kind: "comment";
}

/** An empty or whitespace-only line. */
export interface BlankLine extends LineBase {
    readonly kind: "blank";
}

/** Anything else; kept verbatim. `error` says why (without the `line N: ` prefix). */
export interface InvalidLine extends LineBase {
    readonly kind: "invalid";
    readonly error: string;
}

/** One line of a subuid/subgid file. */
export type SubidLine = EntryLine | CommentLine | BlankLine | InvalidLine;

/** A parsed subuid/subgid file. */
export interface SubidFile {
    /** Every line, in file order. */
    readonly lines: readonly SubidLine[];
    /** Whether the text ended with `\n`. Irrelevant (and false) when there are no lines. */
    readonly trailingNewline: boolean;
}

/** Options of {@link parseSubidFile}. */
export interface ParseOptions {
    /** Throw a SubidError listing every malformed line instead of keeping them. Default false. */
    readonly strict?: boolean;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * Parses a number field the way we require it: plain decimal, no sign, no
 * leading zero (shadow would read `0100` as octal 64), at most `max`.
 */
function parseField(raw: string, name: "start" | "count"): number | string {
    const min = name === "start" ? 0 : 1;
    const expected =
        name === "start" ? `start must be an integer between 0 and ${MAX_ID}` : "count must be a positive integer";
    if (/^0[0-9]+$/.test(raw)) {
        return `${expected} without leading zeros (shadow reads ${JSON.stringify(raw)} as octal)`;
    }
    if (!DECIMAL.test(raw) || raw.length > 10) {
        return `${expected} (got ${JSON.stringify(raw)})`;
    }
    const n = Number(raw);
    if (n < min || n > MAX_ID) {
        return `${expected} (got ${raw})`;
    }
    return n;
}

/** Classifies one line (without its `\n`). */
function parseLine(text: string, lineNo: number): SubidLine {
    if (/^\s*$/.test(text)) {
        return { kind: "blank", lineNo, text };
    }
    if (/^\s*#/.test(text)) {
        return { kind: "comment", lineNo, text };
    }
    const invalid = (error: string): InvalidLine => ({ kind: "invalid", lineNo, text, error });
    if (text.startsWith("+") || text.startsWith("-")) {
        return invalid("NIS-style +/- line, not an owner:start:count entry");
    }
    if (text.endsWith("\r")) {
        return invalid("entry ends with a carriage return (CRLF line ending); shadow ignores such entries");
    }
    const fields = text.split(":");
    if (fields.length !== 3) {
        return invalid("expected owner:start:count");
    }
    const [owner, rawStart, rawCount] = fields as [string, string, string];
    if (owner === "") {
        return invalid("owner must not be empty");
    }
    if (/\s/.test(owner)) {
        return invalid(`owner must not contain whitespace (got ${JSON.stringify(owner)})`);
    }
    const start = parseField(rawStart, "start");
    if (typeof start === "string") {
        return invalid(start);
    }
    const count = parseField(rawCount, "count");
    if (typeof count === "string") {
        return invalid(count);
    }
    if (start + count > MAX_ID) {
        return invalid(
            `range ${start}+${count} ends at ${start + count - 1}, beyond the last valid id ${MAX_ID - 1}`,
        );
    }
    return { kind: "entry", lineNo, text, owner, start, count };
}

/**
 * Parses subuid/subgid text. Every line is kept with its 1-based number and
 * exact text, so {@link renderSubidFile} reproduces the input byte-for-byte.
 * Lines are split on `\n` only; a `\r` before it stays part of the line text.
 *
 * @param text whole file content (may be empty)
 * @param options `strict` (default false): throw a SubidError (field `file`)
 *   whose message lists every error of {@link validateSubidFile}.
 */
export function parseSubidFile(text: string, options: ParseOptions = {}): SubidFile {
    const parts = text.split("\n");
    const trailingNewline = text.length > 0 && text.endsWith("\n");
    if (trailingNewline || text.length === 0) {
        parts.pop(); // the empty string after the final "\n" (or of the empty text) is not a line
    }
    const lines = parts.map((line, i) => parseLine(line, i + 1));
    const file: SubidFile = { lines, trailingNewline };
    if (options.strict) {
        const errors = validateSubidFile(file);
        if (errors.length > 0) {
            throw new SubidError(errors.join("\n"), "file");
        }
    }
    return file;
}

/**
 * Lists the problems of every malformed line, as `line N: message`, e.g.
 * `line 3: count must be a positive integer (got "0")`,
 * `line 2: start must be an integer between 0 and 4294967295 (got "x")`,
 * `line 4: expected owner:start:count`. Empty when the file is clean.
 */
export function validateSubidFile(file: SubidFile): string[] {
    const errors: string[] = [];
    for (const line of file.lines) {
        if (line.kind === "invalid") {
            errors.push(`line ${line.lineNo}: ${line.error}`);
        }
    }
    return errors;
}

/**
 * Renders a file back to text: line texts joined with `\n`, plus a final
 * `\n` when `trailingNewline` is set and there is at least one line.
 * Only `text` of each line is used (kind/owner/start/count are ignored).
 */
export function renderSubidFile(file: SubidFile): string {
    if (file.lines.length === 0) {
        return "";
    }
    let out = file.lines.map((l) => l.text).join("\n");
    if (file.trailingNewline) {
        out += "\n";
    }
    return out;
}

/** The `owner:start:count` line for an entry (no newline). */
export function formatEntry(e: SubidEntry): string {
    return `${e.owner}:${e.start}:${e.count}`;
}

/**
 * How shadow's subordinate_parse() would read a line, or undefined when it
 * would skip it. Unlike {@link parseSubidFile} this accepts what shadow
 * accepts: hex/octal numbers, extra fields after the third, any non-empty
 * owner — including a comment such as `#alice:100000:65536`, whose owner is
 * `#alice`. Used to avoid ranges that the real tools consider taken.
 *
 * Errs on the side of returning an entry (avoiding too much is safe):
 * leading whitespace and `+` in numbers are accepted, as strtoul does.
 * The range is clipped to ids 0…4294967294; undefined if nothing is left.
 */
export function shadowEntryOf(text: string): SubidEntry | undefined {
    // shadow copies the line into a 1024-byte buffer and skips longer lines;
    // text.length <= UTF-8 byte length, so this never skips a line shadow reads.
    if (text.length >= 1024 || text.startsWith("+") || text.startsWith("-")) {
        return undefined;
    }
    const fields = text.split(":");
    if (fields.length < 3) {
        return undefined;
    }
    const [owner, rawStart, rawCount] = fields as [string, string, string];
    if (owner === "" || rawStart === "" || rawCount === "") {
        return undefined;
    }
    const start = strtoulBase0(rawStart);
    const count = strtoulBase0(rawCount);
    if (start === undefined || count === undefined || count === 0 || start >= MAX_ID) {
        return undefined;
    }
    return { owner, start, count: Math.min(count, MAX_ID - start) };
}

/** strtoul(s, &end, 0) that must consume the whole string; undefined otherwise. */
function strtoulBase0(raw: string): number | undefined {
    const m = /^[ \t\n\v\f\r]*\+?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(raw);
    if (!m) {
        return undefined;
    }
    const digits = m[1] as string;
    let value: number;
    if (/^0[xX]/.test(digits)) {
        value = parseInt(digits.slice(2), 16);
    } else if (digits.startsWith("0")) {
        value = digits.length === 1 ? 0 : parseInt(digits.slice(1), 8);
    } else {
        value = parseInt(digits, 10);
    }
    // Huge values lose precision but stay huge, which is all the clipping needs.
    return value;
}

// ---------------------------------------------------------------------------
// Managed block
// ---------------------------------------------------------------------------

/**
 * First line of our block. Contains no `:` so shadow never parses it as an
 * entry (see the module comment).
 */
export const MANAGED_BEGIN = "# BEGIN hardened-hosts managed block (do not edit)";

/** Last line of our block. */
export const MANAGED_END = "# END hardened-hosts managed block";

/**
 * Last line of our block when we appended it to a file whose last line had no
 * `\n`: we had to add that `\n` (shadow rejects files without one), and this
 * variant records it so {@link withoutManagedBlock} can take it away again.
 */
export const MANAGED_END_ADDED_NEWLINE = "# END hardened-hosts managed block (final newline added)";

/**
 * The markers of one stack's block (`project/stack`, as subids-host.sh `--stack` writes them):
 * stacks sharing a host keep a block each, and another stack's block is foreign. Without a stack,
 * the markers above (every block written before stacks were named).
 */
export function managedMarkers(stack?: string): { begin: string; end: string; endAddedNewline: string } {
    if (stack === undefined) return { begin: MANAGED_BEGIN, end: MANAGED_END, endAddedNewline: MANAGED_END_ADDED_NEWLINE };
    if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/.test(stack)) throw new SubidError(`stack ${JSON.stringify(stack)} is not PROJECT/STACK`, "stack");
    return {
        begin: `# BEGIN hardened-hosts managed block of ${stack} (do not edit)`,
        end: `# END hardened-hosts managed block of ${stack}`,
        endAddedNewline: `# END hardened-hosts managed block of ${stack} (final newline added)`,
    };
}

/** Location of the managed block inside {@link SubidFile.lines}. */
export interface ManagedBlock {
    /** Index (0-based, into `lines`) of the BEGIN marker. */
    readonly beginIndex: number;
    /** Index (0-based, into `lines`) of the END marker. */
    readonly endIndex: number;
    /** True when the END marker is {@link MANAGED_END_ADDED_NEWLINE}. */
    readonly addedFinalNewline: boolean;
    /** The block has the markers of before stacks were named, found for a stack that has none of its own (adopted). */
    readonly legacy?: boolean;
}

/** Marker comparison ignores trailing whitespace (incl. `\r`) so an editor's touch does not orphan the block. */
function markerOf(text: string, m = managedMarkers()): "begin" | "end" | "end-added-newline" | undefined {
    const t = text.replace(/\s+$/, "");
    if (t === m.begin) return "begin";
    if (t === m.end) return "end";
    if (t === m.endAddedNewline) return "end-added-newline";
    return undefined;
}

/**
 * Finds our block: `stack`'s (another stack's block is foreign: ignored here), or without one of
 * its own the block of before stacks were named (adopted, `legacy`, as subids-host.sh reads it);
 * without `stack`, that block only. Returns undefined when the file has no such markers.
 *
 * @throws SubidError (field `managedBlock`) when the markers are inconsistent:
 *   a BEGIN without END or vice versa, END before BEGIN, or more than one
 *   block. We refuse to guess which lines are ours; useradd re-sorting the
 *   file is the usual cause (it moves all comment lines to the end).
 */
export function findManagedBlock(file: SubidFile, stack?: string): ManagedBlock | undefined {
    if (stack !== undefined) {
        const own = findBlockWith(file, managedMarkers(stack));
        if (own) return own;
        const legacy = findBlockWith(file, managedMarkers());
        return legacy && { ...legacy, legacy: true };
    }
    return findBlockWith(file, managedMarkers());
}

function findBlockWith(file: SubidFile, markers: ReturnType<typeof managedMarkers>): ManagedBlock | undefined {
    const begins: number[] = [];
    const ends: number[] = [];
    let addedFinalNewline = false;
    file.lines.forEach((line, i) => {
        const m = markerOf(line.text, markers);
        if (m === "begin") {
            begins.push(i);
        } else if (m !== undefined) {
            ends.push(i);
            addedFinalNewline = m === "end-added-newline";
        }
    });
    if (begins.length === 0 && ends.length === 0) {
        return undefined;
    }
    const lineNos = (xs: number[]): string => xs.map((i) => i + 1).join(", ");
    const hint =
        " — repair the file by hand (a tool such as useradd may have re-sorted it, moving comment lines to the end)";
    if (begins.length > 1 || ends.length > 1) {
        throw new SubidError(
            `more than one managed block marker (BEGIN on lines ${lineNos(begins) || "none"}, ` +
                `END on lines ${lineNos(ends) || "none"})${hint}`,
            "managedBlock",
        );
    }
    const [begin] = begins;
    const [end] = ends;
    if (begin === undefined) {
        throw new SubidError(`line ${(end as number) + 1}: END marker without BEGIN marker${hint}`, "managedBlock");
    }
    if (end === undefined) {
        throw new SubidError(`line ${begin + 1}: BEGIN marker without END marker${hint}`, "managedBlock");
    }
    if (end < begin) {
        throw new SubidError(
            `line ${end + 1}: END marker comes before the BEGIN marker on line ${begin + 1}${hint}`,
            "managedBlock",
        );
    }
    return { beginIndex: begin, endIndex: end, addedFinalNewline };
}

function asFile(file: SubidFile | string): SubidFile {
    return typeof file === "string" ? parseSubidFile(file) : file;
}

/**
 * The entries inside our block, in file order; `[]` when there is no block.
 * Non-entry lines inside the block (someone edited it despite the marker) are
 * ignored here and dropped by the next {@link withManagedEntries}.
 *
 * @throws SubidError when the markers are inconsistent (see {@link findManagedBlock}).
 */
export function managedEntries(file: SubidFile | string, stack?: string): SubidEntry[] {
    const f = asFile(file);
    const block = findManagedBlock(f, stack);
    if (!block) {
        return [];
    }
    const out: SubidEntry[] = [];
    for (let i = block.beginIndex + 1; i < block.endIndex; i++) {
        const line = f.lines[i] as SubidLine;
        if (line.kind === "entry") {
            out.push({ owner: line.owner, start: line.start, count: line.count });
        }
    }
    return out;
}

/** Entries sorted by start, then owner, then count: the order we write them in. */
export function sortEntries(entries: readonly SubidEntry[]): SubidEntry[] {
    return [...entries].sort(
        (a, b) => a.start - b.start || compareStrings(a.owner, b.owner) || a.count - b.count,
    );
}

/** Validates entries we are about to write; returns them sorted. */
function checkedEntries(entries: readonly SubidEntry[]): SubidEntry[] {
    entries.forEach((e, i) => {
        // Error texts are built only on failure: this runs once per entry.
        if (!isValidOwner(e.owner)) validateOwner(e.owner, `entries[${i}].owner`);
        if (!isValidRange(e)) validateRange(e, `entries[${i}]`, `owner ${JSON.stringify(e.owner)}: `);
    });
    const sorted = sortEntries(entries);
    for (let i = 1; i < sorted.length; i++) {
        const a = sorted[i - 1] as SubidEntry;
        const b = sorted[i] as SubidEntry;
        // Sorted by start: if any two overlap, some adjacent pair overlaps too.
        if (overlaps(a, b)) {
            throw new SubidError(
                `owner ${JSON.stringify(b.owner)}: range ${formatRange(b)} overlaps ` +
                    `owner ${JSON.stringify(a.owner)} ${formatRange(a)} in the entries to write`,
                "entries",
            );
        }
    }
    return sorted;
}

function newLine(text: string): SubidLine {
    // lineNo is meaningless for lines we create; 0 marks them as new.
    return parseLine(text, 0);
}

/**
 * Text of the file with our block holding exactly `entries`; nothing outside
 * the block changes.
 *
 * - block present: its inner lines are replaced in place (a block in the
 *   middle of the file stays in the middle);
 * - block absent: it is appended at the end. If the file's last line had no
 *   `\n`, one is added and the END marker becomes
 *   {@link MANAGED_END_ADDED_NEWLINE} so removal can restore the exact bytes;
 *   a new or empty file gets a normal trailing `\n`;
 * - `entries` empty: same as {@link withoutManagedBlock};
 * - entries are written sorted by start, then owner, one `owner:start:count`
 *   line each, with `\n` endings (never `\r\n`: shadow ignores CRLF entries).
 *   When nothing changes the result equals the input byte-for-byte.
 *
 * - `stack` (`project/stack`): that stack's block, with its markers (see {@link managedMarkers});
 *   another stack's block is left as it is; a block of before stacks were named is adopted.
 *
 * @throws SubidError for an invalid owner or range, overlapping entries, or
 *   inconsistent markers (see {@link findManagedBlock}).
 */
export function withManagedEntries(file: SubidFile | string, entries: readonly SubidEntry[], stack?: string): string {
    const f = asFile(file);
    const sorted = checkedEntries(entries);
    if (sorted.length === 0) {
        return withoutManagedBlock(f, stack);
    }
    const inner = sorted.map((e) => newLine(formatEntry(e)));
    const markers = managedMarkers(stack);
    const block = findManagedBlock(f, stack);
    if (block) {
        // An adopted block of before stacks were named gets this stack's markers.
        const lines = [
            ...f.lines.slice(0, block.beginIndex),
            block.legacy ? newLine(markers.begin) : f.lines[block.beginIndex] as SubidLine,
            ...inner,
            block.legacy ? newLine(block.addedFinalNewline ? markers.endAddedNewline : markers.end) : f.lines[block.endIndex] as SubidLine,
            ...f.lines.slice(block.endIndex + 1),
        ];
        // The END marker is our line; if it is the last line it gets its "\n".
        const atEnd = block.endIndex === f.lines.length - 1;
        return renderSubidFile({ lines, trailingNewline: atEnd ? true : f.trailingNewline });
    }
    const addNewline = f.lines.length > 0 && !f.trailingNewline;
    const lines = [
        ...f.lines,
        newLine(markers.begin),
        ...inner,
        newLine(addNewline ? markers.endAddedNewline : markers.end),
    ];
    return renderSubidFile({ lines, trailingNewline: true });
}

/**
 * Text of the file without our block (markers and everything between them);
 * every other line is kept byte-for-byte. Without a block, returns the
 * rendered input unchanged.
 *
 * Trailing newline: if the block is the last thing in the file and its END
 * marker is {@link MANAGED_END_ADDED_NEWLINE}, the `\n` we added after the
 * preceding line is removed again. Hence for any file F without a block,
 * `withoutManagedBlock(withManagedEntries(F, e)) === F` byte-for-byte, with or
 * without a trailing newline (and "" for an empty file).
 *
 * @throws SubidError when the markers are inconsistent (see {@link findManagedBlock}).
 */
export function withoutManagedBlock(file: SubidFile | string, stack?: string): string {
    const f = asFile(file);
    const block = findManagedBlock(f, stack);
    if (!block) {
        return renderSubidFile(f);
    }
    const atEnd = block.endIndex === f.lines.length - 1;
    const lines = [...f.lines.slice(0, block.beginIndex), ...f.lines.slice(block.endIndex + 1)];
    const trailingNewline = atEnd ? !block.addedFinalNewline : f.trailingNewline;
    return renderSubidFile({ lines, trailingNewline });
}
