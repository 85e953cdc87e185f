/**
 * Post-deploy verification, the deciding half: `verify.sh observe` (components/verify/verify.sh)
 * gathers raw observations on a host; the pure functions here turn them into checks, a host
 * result and a fleet summary. No Pulumi runtime, no I/O: the unit tests feed them observations
 * captured from real daemons (test/fixtures/verify/).
 */
import type { IdRange } from "../subids/ranges";

/** The runtimes a host can be verified for (one per `HostVerification`). */
export type VerifyRuntime = "docker-remap" | "docker-rootless" | "podman";
export const VERIFY_RUNTIMES: readonly VerifyRuntime[] = ["docker-remap", "docker-rootless", "podman"];

/** What `verify.sh observe` prints (format 1). Fields are optional where a probe may not have run. */
export interface Observations {
    ok: true;
    action: "observe";
    format: 1;
    runtime: VerifyRuntime;
    expectedRange: IdRange;
    host: { hostname: string; kernel: string };
    /** When the host was observed (UTC, ISO 8601, from the host's clock). */
    observedAt: string;
    runAs: string | null;
    user: { name: string; exists: boolean; uid: number | null; gid: number | null; home: string | null };
    engine: {
        cli: "docker" | "podman";
        dockerHost: string | null;
        reachable: boolean;
        version: string | null;
        /** docker: `{ServerVersion, SecurityOptions, DockerRootDir, ...}`; podman: `{host: {security: {rootless}}, ...}`. */
        info: DockerInfo | PodmanInfo | null;
        error: string | null;
    };
    image: ImageObservation | null;
    probe: {
        ran: boolean;
        error: string | null;
        /** /proc/self/uid_map inside a container, one "inside host count" row per entry. */
        uidMap: string[];
        gidMap: string[];
        idInside: string | null;
        bindFile: { written: boolean; hostUid: number | null; hostGid: number | null; error: string | null };
        rootOwnedDir: { writable: boolean | null; message: string | null };
    };
    process: { ran: boolean; pid: number | null; foundBy: string | null; hostUid: number | null; hostGid: number | null; error: string | null };
    privileged: { tried: boolean; exitCode: number | null; message: string | null; notTriedBecause: string | null };
    /**
     * `running` names only the containers a check is about (--userns=host or --privileged, at
     * most 20); the counts are of all running containers. Reports of older scripts list every
     * running container and carry no counts.
     */
    containers: { listed: boolean; running: RunningContainer[]; count?: number; hostNamespace?: number; privileged?: number; error: string | null };
    subuid: SubidObservation;
    subgid: SubidObservation;
    /**
     * Rootless modes on systemd hosts: the user's linger flag and (docker-rootless) whether its
     * docker.service user unit is enabled; null where it does not apply. Absent in reports of
     * older scripts.
     */
    supervision?: { systemd: boolean; linger: boolean | null; unitEnabled: boolean | null };
    cleanup: { containersLeft: string[]; imageRemoved: boolean; tempDirRemoved: boolean; errors: string[] };
    timingsMs: Record<string, number>;
}

export interface DockerInfo {
    ServerVersion?: string;
    SecurityOptions?: string[] | null;
    DockerRootDir?: string;
    [key: string]: unknown;
}
export interface PodmanInfo {
    host?: { security?: { rootless?: boolean; [key: string]: unknown }; [key: string]: unknown };
    store?: { graphRoot?: string; graphDriverName?: string };
    version?: { Version?: string };
}
export interface ImageObservation {
    name: string;
    builtOnHost: boolean;
    from: string | null;
    busyboxVersion: string | null;
    busyboxSha256: string | null;
    reused: boolean;
    removedAfter: boolean;
    error: string | null;
}
export interface RunningContainer {
    id: string;
    name: string;
    usernsMode: string;
    privileged: boolean;
}
export interface SubidObservation {
    file: string;
    exists: boolean;
    /**
     * The user's lines (owner = name or UID; in subgid also its group's GID), as written in the
     * file: at most 20, then one "(and N more lines)" item.
     */
    userLines: string[];
    /** Other owners' lines that share an ID with a user line or with the expected range (as above). */
    overlapping: string[];
    /** How many lines each list stands for (absent in reports of older scripts). */
    userLineCount?: number;
    overlappingCount?: number;
}

/** One verified property. A failed check of severity "warning" does not fail the host. */
export interface Check {
    name: string;
    passed: boolean;
    expected: string;
    observed: string;
    detail: string;
    severity: "error" | "warning";
}

/** The verification of one runtime on one host: what `HostVerification` exports. */
export interface HostResult {
    host: string;
    runtime: VerifyRuntime;
    /** The daemon mode actually seen: userns-remap, rootless, rootful (neither), or unreachable. */
    mode: "userns-remap" | "rootless" | "rootful" | "unreachable";
    /** Every check of severity "error" passed. */
    passed: boolean;
    checks: Check[];
    uidMap: string[];
    gidMap: string[];
    containerRootHostUid: number | null;
    expectedRange: IdRange;
    /** When the host was observed (the host's clock). */
    verifiedAt: string;
    runtimeVersion: string | null;
    image: { name: string; builtOnHost: boolean; from: string | null; error: string | null } | null;
}

/** What the checks are measured against: the plan, not the host's own report. */
export interface Expectations {
    host: string;
    runtime: VerifyRuntime;
    user: string;
    expectedRange: IdRange;
}

/** Raised for stdout that is not a successful `verify.sh observe` report. */
export class VerifyError extends Error {
    constructor(message: string) {
        super(message);
        this.message = message;
        this.name = "VerifyError";
    }
}

/** Parses verify.sh's stdout: its last non-empty line is the JSON object. */
export function parseObservations(stdout: string): Observations {
    const line = stdout.trim().split("\n").filter((l) => l.trim() !== "").pop();
    if (line === undefined) throw new VerifyError("verify.sh printed nothing on stdout");
    let v: any;
    try {
        v = JSON.parse(line);
    } catch (e) {
        throw new VerifyError(`verify.sh's last stdout line is not JSON (${(e as Error).message}): ${line.slice(0, 200)}`);
    }
    if (v === null || typeof v !== "object") throw new VerifyError("verify.sh's report is not a JSON object");
    if (v.ok !== true) throw new VerifyError(`verify.sh failed: ${typeof v.error === "string" ? v.error : JSON.stringify(v)}`);
    if (v.action !== "observe" || v.format !== 1) {
        throw new VerifyError(`unknown report (action ${JSON.stringify(v.action)}, format ${JSON.stringify(v.format)}): expected observe, format 1`);
    }
    return v as Observations;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** "0 100000 65536" rows as numbers; anything unparsable becomes NaN (never equal). */
function mapRows(rows: readonly string[]): number[][] {
    return rows.map((r) => r.trim().split(/\s+/).map((x) => (/^\d+$/.test(x) ? Number(x) : NaN)));
}
function sameRows(a: number[][], b: number[][]): boolean {
    return a.length === b.length && a.every((r, i) => r.length === b[i].length && r.every((x, j) => x === b[i][j]));
}
const rowsText = (rows: readonly (readonly number[])[]): string => rows.map((r) => r.join(" ")).join("; ");
const listText = (xs: readonly string[]): string => (xs.length === 0 ? "none" : xs.join("; "));
const id = (n: number | null | undefined): string => (n === null || n === undefined ? "?" : String(n));

function securityOptions(o: Observations): string[] | undefined {
    const info = o.engine.info as DockerInfo | null;
    const s = info?.SecurityOptions;
    return Array.isArray(s) ? s : info ? [] : undefined;
}
function podmanRootless(o: Observations): boolean | undefined {
    const r = (o.engine.info as PodmanInfo | null)?.host?.security?.rootless;
    return typeof r === "boolean" ? r : undefined;
}
/** Why the daemon could not be asked, or undefined when it answered. */
function engineDown(o: Observations): string | undefined {
    if (o.engine.reachable && o.engine.info) return undefined;
    return `runtime not reachable: ${o.engine.error ?? "no info"}`;
}

/** The daemon mode actually seen. */
export function observedMode(o: Observations): HostResult["mode"] {
    if (engineDown(o)) return "unreachable";
    if (o.engine.cli === "podman") return podmanRootless(o) ? "rootless" : "rootful";
    const opts = securityOptions(o) ?? [];
    if (opts.includes("name=rootless")) return "rootless";
    if (opts.includes("name=userns")) return "userns-remap";
    return "rootful";
}

/** start:count of a subuid line "owner:start:count", or undefined. */
function lineRange(line: string): IdRange | undefined {
    const f = line.split(":");
    if (f.length !== 3 || !/^\d+$/.test(f[1]) || !/^\d+$/.test(f[2])) return undefined;
    return { start: Number(f[1]), count: Number(f[2]) };
}

// ---------------------------------------------------------------------------------------------
// Checks

/**
 * The checks for one runtime on one host, in a fixed order. Expected values come from `exp` (the
 * plan) and, for the rootless modes, from the user's UID/GID as the host reports it.
 */
export function evaluateChecks(o: Observations, exp: Expectations): Check[] {
    const { start, count } = exp.expectedRange;
    const remap = exp.runtime === "docker-remap";
    const checks: Check[] = [];
    const add = (name: string, passed: boolean, expected: string, observed: string, detail: string, severity: Check["severity"] = "error") =>
        checks.push({ name, passed, expected, observed, detail, severity });
    const down = engineDown(o);
    const user = o.user;
    const uid = user.exists ? user.uid : null;
    const gid = user.exists ? user.gid : null;

    // The account the runtime belongs to (the remap user, or the rootless owner).
    add(
        "user-account",
        user.exists && uid !== null && uid !== 0,
        `${exp.user} exists with a UID other than 0`,
        user.exists ? `uid ${id(uid)}, gid ${id(gid)}` : `${exp.user} does not exist`,
        remap ? "dockerd maps container root to the remap user's subordinate range" : "the runtime runs as this unprivileged user",
    );

    // Daemon mode.
    switch (exp.runtime) {
        case "docker-remap":
        case "docker-rootless": {
            const want = remap ? "name=userns" : "name=rootless";
            const opts = securityOptions(o);
            add(
                "daemon-mode",
                !down && (opts ?? []).includes(want),
                `${want} in docker info's SecurityOptions`,
                down ?? `SecurityOptions: ${listText(opts ?? [])}`,
                remap ? "CIS 2.8: user namespace support (userns-remap) is enabled" : "dockerd runs rootless, as the user",
            );
            break;
        }
        case "podman": {
            const rootless = podmanRootless(o);
            add(
                "daemon-mode",
                !down && rootless === true,
                "podman info: host.security.rootless = true",
                down ?? `host.security.rootless = ${rootless === undefined ? "missing" : String(rootless)}`,
                "podman runs rootless, as the user",
            );
            break;
        }
        default: {
            const other: never = exp.runtime;
            throw new VerifyError(`unknown runtime ${JSON.stringify(other)}`);
        }
    }

    if (remap) {
        const root = (o.engine.info as DockerInfo | null)?.DockerRootDir;
        const suffix = `/${start}.${start}`;
        add(
            "data-root",
            !down && typeof root === "string" && root.endsWith(suffix),
            `DockerRootDir ending in ${suffix}`,
            down ?? `DockerRootDir ${root ?? "missing"}`,
            "dockerd keeps a remapped daemon's images and containers under <data-root>/<subuid start>.<subgid start>",
        );
    }

    // ID maps inside a container.
    const notRun = (what: { error: string | null }) => `not observed: ${what.error ?? "the probe did not run"}`;
    const wantMap = (primary: number | null): number[][] =>
        remap ? [[0, start, count]] : [[0, primary ?? NaN, 1], [1, start, count]];
    for (const [name, rows, primary, label] of [
        ["uid-map", o.probe.uidMap, uid, "uid"],
        ["gid-map", o.probe.gidMap, gid, "gid"],
    ] as const) {
        const want = wantMap(primary);
        const got = mapRows(rows);
        add(
            name,
            o.probe.ran && sameRows(got, want),
            rowsText(want).replace("NaN", `<${exp.user}'s ${label}>`),
            o.probe.ran ? (rows.length > 0 ? rows.join("; ") : "empty") : notRun(o.probe),
            remap
                ? `/proc/self/${label}_map inside a container: container ${label} 0-${count - 1} are host ${label}s ${start}-${start + count - 1}`
                : `/proc/self/${label}_map inside a container: container root is the user, container ${label}s 1-${count} are the user's subordinate range`,
        );
    }

    // Container root as seen from the host.
    const rootUid = remap ? start : uid;
    const rootGid = remap ? start : gid;
    const hostUid = o.process.hostUid;
    add(
        "container-root-host-uid",
        o.process.ran && hostUid !== null && hostUid === rootUid && hostUid !== 0,
        `${id(rootUid)} (${remap ? "subordinate start" : `${exp.user}'s uid`}), never 0`,
        // No PID here: it changes on every run, and the observed text is in previews and outputs.
        o.process.ran && hostUid !== null ? `uid ${hostUid}` : notRun(o.process),
        "the host UID of a container's root process (/proc/PID/status)",
    );
    const bind = o.probe.bindFile;
    add(
        "bind-mount-owner",
        o.probe.ran && bind.written && bind.hostUid === rootUid && bind.hostGid === rootGid && bind.hostUid !== 0,
        `${id(rootUid)}:${id(rootGid)}`,
        !o.probe.ran ? notRun(o.probe) : bind.written ? `${id(bind.hostUid)}:${id(bind.hostGid)}` : `not written: ${bind.error ?? "?"}`,
        "host owner of a file container root wrote into a bind-mounted directory",
    );
    const rod = o.probe.rootOwnedDir;
    add(
        "root-owned-dir-not-writable",
        o.probe.ran && rod.writable === false,
        "write refused",
        !o.probe.ran ? notRun(o.probe) : rod.writable === true ? "writable: container root wrote into a root-owned 0755 host directory" : (rod.message ?? "unknown"),
        "container root must not have host root's rights on bind-mounted host files",
    );

    if (remap) {
        const p = o.privileged;
        const userns = /privileged mode is incompatible with user namespaces/i.test(p.message ?? "");
        add(
            "privileged-refused",
            p.tried && p.exitCode !== null && p.exitCode !== 0 && userns,
            "docker run --privileged refused: privileged mode is incompatible with user namespaces",
            !p.tried
                ? `not tried: ${p.notTriedBecause ?? "?"}`
                : p.exitCode === 0
                    ? "exit 0: a --privileged container ran"
                    : userns
                        ? `exit ${id(p.exitCode)}: ${p.message ?? ""}`
                        : `exit ${id(p.exitCode)}, but not refused for user namespaces: ${p.message ?? ""}`,
            "CIS 5.4 / 2.8: under userns-remap dockerd refuses --privileged unless the container also opts out with --userns=host (see no-userns-host-containers)",
        );
    }

    // CIS 5.30: containers sharing the host's user namespace.
    const hostNs = o.containers.running.filter((c) => c.usernsMode === "host");
    const hostNsCount = o.containers.hostNamespace ?? hostNs.length;
    const unnamed = hostNsCount - hostNs.length;
    add(
        "no-userns-host-containers",
        o.containers.listed && hostNsCount === 0,
        "no running container with --userns=host",
        !o.containers.listed ? `not listed: ${o.containers.error ?? "?"}` : hostNsCount === 0
            ? `none of ${o.containers.count ?? o.containers.running.length} running`
            : hostNs.map((c) => `${c.name.replace(/^\//, "")} (${c.id}${c.privileged ? ", privileged" : ""})`).join("; ") +
                (unnamed > 0 ? `; and ${unnamed} more` : ""),
        remap
            ? "CIS 5.30: a --userns=host container runs as real host root, outside userns-remap"
            : "CIS 5.30: --userns=host shares the user's rootless namespace (still unprivileged on the host): warning only",
        remap ? "error" : "warning",
    );

    // What keeps a rootless runtime up after logout and reboot (systemd hosts only).
    const sup = o.supervision;
    if (!remap && sup?.systemd && sup.linger !== null) {
        add(
            "linger",
            sup.linger === true,
            `lingering on for ${exp.user}`,
            sup.linger ? "on" : `off (no /var/lib/systemd/linger/${exp.user})`,
            "without lingering systemd stops the user's manager, and the runtime with it, when the last session ends, and does not start it at boot",
        );
    }
    if (exp.runtime === "docker-rootless" && sup?.systemd && sup.unitEnabled !== null) {
        add(
            "daemon-enabled",
            sup.unitEnabled === true,
            "docker.service enabled in the user's systemd",
            sup.unitEnabled ? "enabled" : "not enabled (no default.target.wants/docker.service)",
            "the user's manager starts rootless dockerd at boot only when its unit is enabled",
        );
    }

    // Subordinate ranges: exactly the planned line, overlapping nothing.
    const planned = `${exp.user}:${start}:${count}`;
    for (const [kind, s] of [["subuid", o.subuid], ["subgid", o.subgid]] as const) {
        const ranges = s.userLines.map(lineRange);
        const exact = s.exists && ranges.length === 1 && (s.userLineCount ?? 1) === 1 && ranges[0]?.start === start && ranges[0]?.count === count;
        add(
            `${kind}-range`,
            exact,
            `exactly one line for ${exp.user}: ${planned}`,
            !s.exists ? `${s.file} does not exist` : listText(s.userLines),
            `${s.file}: the user's ranges must be exactly the planned one (the runtime uses the first it finds)`,
        );
        add(
            `${kind}-no-overlap`,
            s.exists && s.overlapping.length === 0 && (s.overlappingCount ?? 0) === 0,
            "no other owner's line overlaps it",
            !s.exists ? `${s.file} does not exist` : listText(s.overlapping),
            `${s.file}: lines of other owners sharing IDs with ${exp.user}'s range would let their containers reach each other's files`,
        );
    }
    return checks;
}

/** Checks that fail the host (severity "error"). */
export function failedChecks(r: { checks: readonly Check[] }): Check[] {
    return r.checks.filter((c) => !c.passed && c.severity === "error");
}

/** The host result `HostVerification` exports, from verify.sh's observations and the plan. */
export function hostResult(o: Observations, exp: Expectations): HostResult {
    if (o.runtime !== exp.runtime || o.user.name !== exp.user || o.expectedRange.start !== exp.expectedRange.start || o.expectedRange.count !== exp.expectedRange.count) {
        throw new VerifyError(
            `the observations are for ${o.runtime} ${o.user.name} ${o.expectedRange.start}:${o.expectedRange.count}, ` +
                `not ${exp.runtime} ${exp.user} ${exp.expectedRange.start}:${exp.expectedRange.count}`,
        );
    }
    const checks = evaluateChecks(o, exp);
    return {
        host: exp.host,
        runtime: exp.runtime,
        mode: observedMode(o),
        passed: failedChecks({ checks }).length === 0,
        checks,
        uidMap: o.probe.uidMap,
        gidMap: o.probe.gidMap,
        containerRootHostUid: o.process.hostUid,
        expectedRange: { start: exp.expectedRange.start, count: exp.expectedRange.count },
        verifiedAt: o.observedAt,
        runtimeVersion: o.engine.version,
        image: o.image ? { name: o.image.name, builtOnHost: o.image.builtOnHost, from: o.image.from, error: o.image.error } : null,
    };
}

/**
 * A host result for stack outputs: the same facts, one line per check (`pass: observed ...;
 * expected ...` or `FAIL: ...`), ID maps as single lines, no timestamps. A preview that touches
 * one host prints its whole entry (and its neighbours') as context: this keeps that short.
 */
export interface HostSummary {
    passed: boolean;
    runtime: VerifyRuntime;
    mode: HostResult["mode"];
    expectedRange: string;
    uidMap: string;
    gidMap: string;
    containerRootHostUid: number | null;
    runtimeVersion: string | null;
    checks: Record<string, string>;
}

export function hostSummary(r: HostResult): HostSummary {
    const line = (c: Check) =>
        `${c.passed ? "pass" : c.severity === "error" ? "FAIL" : "warn"}: observed ${c.observed}; expected ${c.expected}`;
    return {
        passed: r.passed,
        runtime: r.runtime,
        mode: r.mode,
        expectedRange: `${r.expectedRange.start}:${r.expectedRange.count}`,
        uidMap: r.uidMap.join("; "),
        gidMap: r.gidMap.join("; "),
        containerRootHostUid: r.containerRootHostUid,
        runtimeVersion: r.runtimeVersion,
        checks: Object.fromEntries(r.checks.map((c) => [c.name, line(c)])),
    };
}

/** The error text for a failed host: every failed check with what was observed and expected. */
export function failureMessage(r: HostResult): string {
    const failed = failedChecks(r);
    const lines = failed.map((c) => `  - ${c.name}: observed ${c.observed}; expected ${c.expected}`);
    return `${r.host} (${r.runtime}): ${failed.length} of ${r.checks.length} checks failed (observed ${r.verifiedAt}):\n${lines.join("\n")}`;
}

/** One failed check of a fleet. */
export interface FleetFinding {
    host: string;
    runtime: VerifyRuntime;
    check: string;
    observed: string;
    expected: string;
}

/** The fleet at a glance: a host passes when every runtime verified on it passes. */
export interface FleetSummary {
    hostsPassed: number;
    hostsFailed: number;
    failing: FleetFinding[];
    /** Failed checks of severity "warning" (they do not fail a host). */
    warnings: FleetFinding[];
}

export function fleetSummary(results: readonly HostResult[]): FleetSummary {
    const hosts = new Map<string, boolean>();
    const failing: FleetFinding[] = [];
    const warnings: FleetFinding[] = [];
    for (const r of results) {
        hosts.set(r.host, (hosts.get(r.host) ?? true) && r.passed);
        for (const c of r.checks) {
            if (c.passed) continue;
            const f = { host: r.host, runtime: r.runtime, check: c.name, observed: c.observed, expected: c.expected };
            (c.severity === "error" ? failing : warnings).push(f);
        }
    }
    const passed = [...hosts.values()].filter((p) => p).length;
    return { hostsPassed: passed, hostsFailed: hosts.size - passed, failing, warnings };
}
