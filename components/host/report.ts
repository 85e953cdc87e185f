/**
 * What every host script prints last on stdout: one JSON object, its report. Failures carry
 * `exitCode` (the table in components/host/prelude.sh, see exit-codes.ts) and `error`.
 */
export interface ScriptReport {
    ok: boolean;
    action?: string | null;
    exitCode?: number;
    error?: string;
}

/**
 * The one parser of the scripts' reports: the last non-empty stdout line as JSON. It never
 * throws (it runs inside `apply`, where a throw costs the engine its whole timeout): output that
 * is not a report becomes `{ ok: false, error }` saying so, with the start of what was printed.
 */
export function parseReport<T extends ScriptReport>(stdout: string | undefined, script: string): T | (ScriptReport & { ok: false; error: string }) {
    const last = (stdout ?? "").trim().split("\n").pop() ?? "";
    try {
        const v: unknown = JSON.parse(last);
        if (v !== null && typeof v === "object" && !Array.isArray(v) && typeof (v as ScriptReport).ok === "boolean") return v as T;
    } catch {
        // not JSON: reported below
    }
    const seen = last.length > 200 ? `${last.slice(0, 200)}...` : last;
    return { ok: false, error: `${script} printed no report (its last stdout line: ${JSON.stringify(seen)})` };
}
