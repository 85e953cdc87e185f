/**
 * Checks a planned allocation against what is already on a host:
 * /etc/subuid and /etc/subgid lines outside our managed block ("foreign"
 * lines), and the ids of real accounts and groups (/etc/passwd, /etc/group).
 *
 * Foreign lines are read the way shadow reads them (`shadowEntryOf`), not the
 * way our strict parser does: a commented-out `#alice:100000:65536` or a hex
 * start is still an entry to newuidmap/useradd, so we treat it as taken.
 */

import type { Allocation, AvoidRange } from "./allocator";
import {
    SubidEntry,
    SubidFile,
    findManagedBlock,
    parseSubidFile,
    shadowEntryOf,
} from "./format";
import { IdRange, MAX_ID, compareStrings, formatRange, rangeEnd, validateRange } from "./ranges";

/** One account of /etc/passwd. */
export interface PasswdEntry {
    readonly name: string;
    /** Numeric user id. */
    readonly uid: number;
    /** Numeric id of the primary group. */
    readonly gid: number;
    /** 1-based line number in the parsed text. */
    readonly lineNo: number;
}

/** One group of /etc/group. */
export interface GroupEntry {
    readonly name: string;
    /** Numeric group id. */
    readonly gid: number;
    /** 1-based line number in the parsed text. */
    readonly lineNo: number;
}

const ID = /^(0|[1-9][0-9]{0,9})$/;

function parseId(raw: string | undefined): number | undefined {
    if (raw === undefined || !ID.test(raw)) return undefined;
    const n = Number(raw);
    return n <= MAX_ID ? n : undefined;
}

/** Lines of an /etc/passwd-style text without `\r`, skipping blanks, `#` comments and NIS `+`/`-` lines. */
function* dataLines(text: string): Generator<{ fields: string[]; lineNo: number }> {
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
        const line = (lines[i] as string).replace(/\r$/, "");
        if (/^\s*(#|$)/.test(line) || line.startsWith("+") || line.startsWith("-")) continue;
        yield { fields: line.split(":"), lineNo: i + 1 };
    }
}

/**
 * Parses /etc/passwd text (`name:password:uid:gid:gecos:home:shell`).
 * Blank lines, `#` comments, NIS `+`/`-` lines and lines without a decimal
 * uid and gid in fields 3 and 4 are skipped (the system ignores them too).
 */
export function parsePasswd(text: string): PasswdEntry[] {
    const out: PasswdEntry[] = [];
    for (const { fields, lineNo } of dataLines(text)) {
        const uid = parseId(fields[2]);
        const gid = parseId(fields[3]);
        const name = fields[0] as string;
        if (fields.length >= 4 && name !== "" && uid !== undefined && gid !== undefined) {
            out.push({ name, uid, gid, lineNo });
        }
    }
    return out;
}

/**
 * Parses /etc/group text (`name:password:gid:members`); malformed lines are
 * skipped as in {@link parsePasswd}.
 */
export function parseGroup(text: string): GroupEntry[] {
    const out: GroupEntry[] = [];
    for (const { fields, lineNo } of dataLines(text)) {
        const gid = parseId(fields[2]);
        const name = fields[0] as string;
        if (fields.length >= 3 && name !== "" && gid !== undefined) {
            out.push({ name, gid, lineNo });
        }
    }
    return out;
}

/** What we know about a host; file contents as text or already parsed. */
export interface HostState {
    /** /etc/subuid (text, or parsed); "" when the file does not exist. */
    readonly subuid: SubidFile | string;
    /** /etc/subgid (text, or parsed); "" when the file does not exist. */
    readonly subgid: SubidFile | string;
    /** /etc/passwd (text, or parsed). Uids and primary gids are checked. */
    readonly passwd: string | readonly PasswdEntry[];
    /** /etc/group (text, or parsed). Optional; when given, its gids are checked too. */
    readonly group?: string | readonly GroupEntry[];
}

/** Which host file a finding comes from. */
export type HostSource = "/etc/subuid" | "/etc/subgid" | "/etc/passwd" | "/etc/group";

/** A planned range that collides with something on the host. */
export interface HostConflict {
    /** Planned owner. */
    readonly owner: string;
    /** Planned range of that owner. */
    readonly planned: IdRange;
    readonly source: HostSource;
    /** The colliding host range: a foreign subid range, or `{start: id, count: 1}` for an account/group id. */
    readonly existing: IdRange;
    /** Owner of the foreign entry, or the account/group name. */
    readonly existingOwner: string;
    /** 1-based line in `source`. */
    readonly lineNo: number;
    /** e.g. `owner "tenant-b": planned range … overlaps existing subuid entry "alice" … (line 3)`. */
    readonly message: string;
}

/** A planned grant that already exists verbatim outside our block (e.g. docker's `dockremap`). */
export interface AlreadyPresent {
    readonly owner: string;
    readonly range: IdRange;
    readonly source: "/etc/subuid" | "/etc/subgid";
    readonly lineNo: number;
    readonly message: string;
}

/** Result of {@link checkHostAgainstPlan}. */
export interface HostCheck {
    /** Sorted by owner, source, line. Empty when the plan can be written safely. */
    readonly conflicts: readonly HostConflict[];
    /** Planned grants already on the host; the writer may skip writing them again. Sorted like conflicts. */
    readonly alreadyPresent: readonly AlreadyPresent[];
}

interface Foreign extends SubidEntry {
    readonly source: "/etc/subuid" | "/etc/subgid";
    readonly lineNo: number;
    /** Text for messages, includes the range. */
    readonly description: string;
}

/**
 * Lines of one subid file outside our managed block that shadow reads as
 * entries, sorted by start.
 *
 * @throws SubidError when the managed block markers are inconsistent.
 */
function foreignEntries(file: SubidFile | string, source: "/etc/subuid" | "/etc/subgid"): Foreign[] {
    const f = typeof file === "string" ? parseSubidFile(file) : file;
    const block = findManagedBlock(f);
    const kind = source === "/etc/subuid" ? "subuid" : "subgid";
    const out: Foreign[] = [];
    f.lines.forEach((line, i) => {
        if (block && i >= block.beginIndex && i <= block.endIndex) return;
        if (line.kind === "blank") return;
        const e = line.kind === "entry" ? line : shadowEntryOf(line.text);
        if (e === undefined) return;
        const range = formatRange(e);
        const description =
            line.kind === "entry"
                ? `existing ${kind} entry ${JSON.stringify(e.owner)} ${range} (line ${line.lineNo})`
                : `existing ${kind} line ${line.lineNo} ${JSON.stringify(line.text)}, which shadow reads as ` +
                  `owner ${JSON.stringify(e.owner)} ${range}`;
        out.push({ owner: e.owner, start: e.start, count: e.count, source, lineNo: line.lineNo, description });
    });
    return out.sort((a, b) => a.start - b.start || a.lineNo - b.lineNo);
}

interface HostId {
    readonly id: number;
    readonly name: string;
    readonly source: "/etc/passwd" | "/etc/group";
    readonly lineNo: number;
    readonly description: string;
}

/** Account uids, primary gids and group gids, sorted by id. */
function hostIds(host: HostState): HostId[] {
    const passwd = typeof host.passwd === "string" ? parsePasswd(host.passwd) : host.passwd;
    const group = host.group === undefined ? [] : typeof host.group === "string" ? parseGroup(host.group) : host.group;
    const out: HostId[] = [];
    for (const p of passwd) {
        const where = `(/etc/passwd line ${p.lineNo})`;
        out.push({ id: p.uid, name: p.name, source: "/etc/passwd", lineNo: p.lineNo, description: `uid ${p.uid} of account ${JSON.stringify(p.name)} ${where}` });
        if (p.gid !== p.uid) {
            out.push({ id: p.gid, name: p.name, source: "/etc/passwd", lineNo: p.lineNo, description: `gid ${p.gid}, primary group of account ${JSON.stringify(p.name)} ${where}` });
        }
    }
    for (const g of group) {
        out.push({ id: g.gid, name: g.name, source: "/etc/group", lineNo: g.lineNo, description: `gid ${g.gid} of group ${JSON.stringify(g.name)} (/etc/group line ${g.lineNo})` });
    }
    // (uid_t)-1 is never a real id and cannot be expressed as a valid range.
    return out.filter((h) => h.id < MAX_ID).sort((a, b) => a.id - b.id || compareStrings(a.source, b.source) || a.lineNo - b.lineNo);
}

/**
 * Turns what is on the host into `avoid` input for `allocate`: every foreign
 * subuid/subgid range (with its `owner`, so an owner's own identical grant
 * does not conflict with itself) and every account uid, primary gid and group
 * gid (as 1-id ranges). Ids are avoided in both files' sense because an
 * allocated range is used for subuid and subgid alike.
 *
 * @throws SubidError when a file's managed block markers are inconsistent.
 */
export function avoidRangesFromHost(host: HostState): AvoidRange[] {
    const out: AvoidRange[] = [];
    for (const f of [...foreignEntries(host.subuid, "/etc/subuid"), ...foreignEntries(host.subgid, "/etc/subgid")]) {
        out.push({ range: { start: f.start, count: f.count }, reason: f.description, owner: f.owner });
    }
    for (const h of hostIds(host)) {
        out.push({ range: { start: h.id, count: 1 }, reason: h.description });
    }
    return out;
}

/**
 * Compares a planned allocation with the host and lists:
 *  - conflicts: a planned range overlapping a foreign subuid/subgid range
 *    (including the same owner with a different range), or containing a real
 *    account's uid / primary gid, or a group's gid (when `group` is given);
 *  - alreadyPresent: a foreign line granting exactly the planned range to the
 *    same owner (e.g. docker already wrote an identical `dockremap` line),
 *    which is not a conflict; the writer can avoid duplicating it.
 *
 * Cost: O((n + m) log(n + m) + k) for n planned owners, m host lines and k findings.
 *
 * @throws SubidError for an invalid planned range or inconsistent markers.
 */
export function checkHostAgainstPlan(host: HostState, allocation: Allocation): HostCheck {
    const planned = Object.keys(allocation)
        .map((owner) => {
            const r = allocation[owner] as IdRange;
            validateRange(r, `allocation.${owner}`, `owner ${JSON.stringify(owner)}: `);
            return { owner, start: r.start, count: r.count };
        })
        .sort((a, b) => a.start - b.start || compareStrings(a.owner, b.owner));
    const conflicts: HostConflict[] = [];
    const alreadyPresent: AlreadyPresent[] = [];
    const head = (p: SubidEntry): string => `owner ${JSON.stringify(p.owner)}: planned range ${formatRange(p)}`;

    for (const source of ["/etc/subuid", "/etc/subgid"] as const) {
        const foreign = foreignEntries(source === "/etc/subuid" ? host.subuid : host.subgid, source);
        // Sweep: `active` holds foreign ranges that started before the current
        // planned range ends and may still reach later planned ranges.
        let next = 0;
        let active: Foreign[] = [];
        for (const p of planned) {
            const end = rangeEnd(p);
            while (next < foreign.length && (foreign[next] as Foreign).start < end) {
                active.push(foreign[next] as Foreign);
                next++;
            }
            active = active.filter((f) => rangeEnd(f) > p.start);
            for (const f of active) {
                if (f.owner === p.owner && f.start === p.start && f.count === p.count) {
                    alreadyPresent.push({
                        owner: p.owner,
                        range: { start: p.start, count: p.count },
                        source,
                        lineNo: f.lineNo,
                        message: `owner ${JSON.stringify(p.owner)}: range ${formatRange(p)} is already present in ${source} outside the managed block (line ${f.lineNo})`,
                    });
                } else {
                    conflicts.push({
                        owner: p.owner,
                        planned: { start: p.start, count: p.count },
                        source,
                        existing: { start: f.start, count: f.count },
                        existingOwner: f.owner,
                        lineNo: f.lineNo,
                        message: `${head(p)} overlaps ${f.description}`,
                    });
                }
            }
        }
    }

    const ids = hostIds(host);
    for (const p of planned) {
        let lo = 0;
        let hi = ids.length;
        while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            if ((ids[mid] as HostId).id < p.start) lo = mid + 1;
            else hi = mid;
        }
        for (let i = lo; i < ids.length && (ids[i] as HostId).id < rangeEnd(p); i++) {
            const h = ids[i] as HostId;
            conflicts.push({
                owner: p.owner,
                planned: { start: p.start, count: p.count },
                source: h.source,
                existing: { start: h.id, count: 1 },
                existingOwner: h.name,
                lineNo: h.lineNo,
                message: `${head(p)} contains ${h.description}`,
            });
        }
    }

    const order = (a: { owner: string; source: string; lineNo: number }, b: { owner: string; source: string; lineNo: number }): number =>
        compareStrings(a.owner, b.owner) || compareStrings(a.source, b.source) || a.lineNo - b.lineNo;
    return { conflicts: conflicts.sort(order), alreadyPresent: alreadyPresent.sort(order) };
}
