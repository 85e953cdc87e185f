import * as fs from "node:fs";
import * as path from "node:path";

/** One row of the host scripts' exit-code table. */
export interface ExitCode {
    code: number;
    /** EXIT_<name> in the scripts. */
    name: string;
    meaning: string;
}

/**
 * Parses the table in components/host/prelude.sh: lines `readonly EXIT_<NAME>=<code> # <meaning>`.
 * The prelude is the one place the codes are written; the scripts use the names, the TypeScript
 * side words a failed step with the meaning.
 */
export function parseExitCodes(prelude: string): ExitCode[] {
    const rows: ExitCode[] = [];
    for (const m of prelude.matchAll(/^readonly EXIT_([A-Z_]+)=(\d+) # (.+)$/gm)) {
        rows.push({ name: m[1]!, code: Number(m[2]), meaning: m[3]! });
    }
    return rows;
}

/** The table, read when this module loads (a plain object: it travels in serialized closures). */
export const EXIT_CODES: Readonly<Record<number, ExitCode>> = Object.fromEntries(
    parseExitCodes(fs.readFileSync(path.join(__dirname, "prelude.sh"), "utf8")).map((r) => [r.code, r]),
);

/** "exit 3, precondition: <meaning>" for a script's exit status; null: the session ended without one. */
export function describeExit(code: number | null, table: Readonly<Record<number, ExitCode>> = EXIT_CODES): string {
    if (code === null) return "no exit status: the session ended before the script did";
    const row = table[code];
    return row ? `exit ${code}, ${row.name.toLowerCase().replace(/_/g, " ")}: ${row.meaning}` : `exit ${code}`;
}
