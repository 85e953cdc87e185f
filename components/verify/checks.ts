/**
 * Post-deploy verification, the deciding half: `verify.sh observe` (components/verify/verify.sh)
 * gathers raw observations on a host; the pure functions here turn them into checks, a host
 * result and a fleet summary. No Pulumi runtime, no I/O: the unit tests feed them observations
 * captured from real daemons (test/fixtures/verify/).
 */
import type { IdRange } from "../subids/ranges";

/** The runtimes a host can be verified for (one per `HostVerification`). */
export type VerifyRuntime = "docker-remap" | "docker-rootless" | "podman" | "podman-auto" | "kubelet-userns";
/** Every runtime (exhaustive: a new one fails to compile until it is listed). */
const RUNTIMES: Record<VerifyRuntime, true> = { "docker-remap": true, "docker-rootless": true, podman: true, "podman-auto": true, "kubelet-userns": true };

/** What a kubelet-userns host's result says: proven, failed, or ready but with nothing to prove it on yet. */
export const PREPARED_NOT_PROVEN = "prepared, not proven";
export const VERIFY_RUNTIMES = Object.keys(RUNTIMES) as readonly VerifyRuntime[];

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
     * Every line the subids step wrote on this host (tenants included, `--expect-lines`): the ones
     * that are not a line of the file as written (removed by hand, changed, re-owned), at most 20
     * then "(and N more lines)", and how many. Null or absent when not asked (older reports).
     */
    managed?: { expected: number; subuid: { missing: string[]; missingCount: number }; subgid: { missing: string[]; missingCount: number } } | null;
    /**
     * Rootless modes on systemd hosts: the user's linger flag and (docker-rootless) whether its
     * docker.service user unit is enabled; null where it does not apply. Absent in reports of
     * older scripts.
     */
    supervision?: { systemd: boolean; linger: boolean | null; unitEnabled: boolean | null };
    /** podman-auto only: two containers run at once, as the host saw them. */
    auto?: AutoObservation;
    /** kubelet-userns only: kubelet and its running pods, as the host shows them. */
    kubelet?: KubeletObservation;
    /** kubelet-userns only: the planned IDs per pod. */
    idsPerPod?: number;
    cleanup: { containersLeft: string[]; imageRemoved: boolean; tempDirRemoved: boolean; errors: string[] };
    timingsMs: Record<string, number>;
}

/** podman-auto: the planned size and the two containers verify.sh ran side by side. */
export interface AutoObservation {
    size: number;
    ran: boolean;
    error: string | null;
    containers: AutoContainer[];
}
export interface AutoContainer {
    name: string;
    /** /proc/PID/uid_map of its process, read on the host: "inside host count" rows. */
    uidMap: string[];
    gidMap: string[];
    hostUid: number | null;
    hostGid: number | null;
    fileWritten: boolean;
    /** Host owner of the file it wrote into the shared bind mount. */
    fileUid: number | null;
    fileGid: number | null;
}

/** kubelet-userns: what verify.sh saw of kubelet (nothing is started). */
export interface KubeletObservation {
    running: boolean;
    pid: number | null;
    version: string | null;
    /** kubelet's --config-dir, when it runs with one. */
    configDir: string | null;
    rootDir: string;
    /** `getsubids kubelet` and `getsubids -g kubelet` as printed (what kubelet reads). */
    getsubids: { present: boolean; uid: string | null; gid: string | null };
    dropIn: { path: string; present: boolean; idsPerPod: number | null; maxPods: number | null };
    /** Running pods (at most 20), each by its oldest process. */
    pods: KubeletPod[];
    podCount: number;
}
export interface KubeletPod {
    uid: string;
    /** The pod's hostname from its etc-hosts (its name); null on the host network. */
    name: string | null;
    pid: number;
    uidMap: string[];
    gidMap: string[];
    hostUid: number | null;
    /** kubelet recorded a user namespace for it (ROOT/pods/UID/userns). */
    recorded: boolean;
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
    /**
     * The daemon mode actually seen: userns-remap, rootless, userns-auto (rootful Podman whose
     * containers got namespaces of their own), rootful (none of these), or unreachable.
     */
    mode: "userns-remap" | "rootless" | "userns-auto" | "rootful" | "unreachable" | "kubelet-userns" | "no-kubelet";
    /**
     * Every check of severity "error" passed (kubelet-userns: and the property was proven on
     * two running pods; a node with no kubelet or fewer such pods is never `passed`).
     */
    passed: boolean;
    /** kubelet-userns only: "passed", "failed" or "prepared, not proven". */
    status?: "passed" | "failed" | typeof PREPARED_NOT_PROVEN;
    /** kubelet-userns only: the running pods as observed (name, maps, host UID of root). */
    pods?: { name: string; uid: string; hostUsers: boolean; uidMap: string[]; gidMap: string[]; processUid: number | null }[];
    checks: Check[];
    uidMap: string[];
    gidMap: string[];
    containerRootHostUid: number | null;
    expectedRange: IdRange;
    /** When the host was observed (the host's clock). */
    verifiedAt: string;
    runtimeVersion: string | null;
    image: { name: string; builtOnHost: boolean; from: string | null; error: string | null } | null;
    /** podman-auto: the planned size and each container's maps and owners, as observed. */
    auto?: { size: number; containers: { name: string; uidMap: string[]; gidMap: string[]; processUid: number | null; fileUid: number | null }[] };
}

/** What the checks are measured against: the plan, not the host's own report. */
export interface Expectations {
    host: string;
    runtime: VerifyRuntime;
    user: string;
    expectedRange: IdRange;
    /** podman-auto: the planned IDs per container; kubelet-userns: idsPerPod. */
    autoSize?: number;
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
    if (o.runtime === "kubelet-userns") return o.kubelet?.running ? "kubelet-userns" : "no-kubelet";
    if (engineDown(o)) return "unreachable";
    if (o.engine.cli === "podman") {
        if (podmanRootless(o)) return "rootless";
        const own = o.auto?.ran === true && o.auto.containers.length > 0 &&
            o.auto.containers.every((c) => c.uidMap.length > 0 && !c.uidMap.some((r) => r.trim().split(/\s+/)[1] === "0"));
        return own ? "userns-auto" : "rootful";
    }
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
 * CIS 5.30, for every runtime: the running containers that share the host's user namespace
 * (named up to the report's limit, the rest counted), and whether there are none.
 */
function hostNamespaceContainers(o: Observations): { passed: boolean; observed: string } {
    const named = o.containers.running.filter((c) => c.usernsMode === "host");
    const count = o.containers.hostNamespace ?? named.length;
    const unnamed = count - named.length;
    return {
        passed: o.containers.listed && count === 0,
        observed: !o.containers.listed ? `not listed: ${o.containers.error ?? "?"}` : count === 0
            ? `none of ${o.containers.count ?? o.containers.running.length} running`
            : named.map((c) => `${c.name.replace(/^\//, "")} (${c.id}${c.privileged ? ", privileged" : ""})`).join("; ") +
                (unnamed > 0 ? `; and ${unnamed} more` : ""),
    };
}

/**
 * The checks for one runtime on one host, in a fixed order. Expected values come from `exp` (the
 * plan) and, for the rootless modes, from the user's UID/GID as the host reports it.
 */
export function evaluateChecks(o: Observations, exp: Expectations): Check[] {
    if (exp.runtime === "podman-auto") return evaluateAutoChecks(o, exp);
    if (exp.runtime === "kubelet-userns") return evaluateKubeletChecks(o, exp);
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
    const hostNs = hostNamespaceContainers(o);
    add(
        "no-userns-host-containers",
        hostNs.passed,
        "no running container with --userns=host",
        hostNs.observed,
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

    subidChecks(o, exp, add);
    return checks;
}

type AddCheck = (name: string, passed: boolean, expected: string, observed: string, detail: string, severity?: Check["severity"]) => void;

/** Subordinate ranges: exactly the planned line, overlapping nothing; every managed line in place. */
function subidChecks(o: Observations, exp: Expectations, add: AddCheck): void {
    const { start, count } = exp.expectedRange;
    const planned = `${exp.user}:${start}:${count}`;
    for (const [kind, s] of [["subuid", o.subuid], ["subgid", o.subgid]] as const) {
        const m = o.managed?.[kind];
        if (o.managed && m) {
            // Tenants' lines too: a line removed, changed or given to another owner is drift,
            // repaired by re-running the subids step (host-check.ts stepFor).
            add(
                `${kind}-managed-lines`,
                m.missingCount === 0,
                `all ${o.managed.expected} line(s) the subids step wrote`,
                m.missingCount === 0 ? `all ${o.managed.expected} present` : `missing or changed: ${listText(m.missing)}`,
                `/etc/${kind}: the managed block's lines, every tenant's included, as planned`,
            );
        }
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
}

/** One "inside host count" row as numbers, when the map is exactly one row. */
function singleRow(rows: readonly string[]): [number, number, number] | undefined {
    const m = mapRows(rows);
    if (m.length !== 1 || m[0]!.length !== 3 || m[0]!.some((x) => Number.isNaN(x))) return undefined;
    return m[0] as [number, number, number];
}

/**
 * podman-auto: rootful Podman, and two containers it started side by side (without --userns:
 * containers.conf decides) each in a namespace of its own, `autoSize` IDs of the pool, disjoint,
 * never host root; their files in a shared bind mount owned by different host UIDs.
 */
export function evaluateAutoChecks(o: Observations, exp: Expectations): Check[] {
    const pool = exp.expectedRange;
    const size = exp.autoSize;
    const checks: Check[] = [];
    const add: AddCheck = (name, passed, expected, observed, detail, severity = "error") =>
        checks.push({ name, passed, expected, observed, detail, severity });
    const down = engineDown(o);
    const rootless = podmanRootless(o);
    add(
        "daemon-mode",
        !down && rootless === false,
        "podman info: host.security.rootless = false (rootful Podman, run as root)",
        down ?? `host.security.rootless = ${rootless === undefined ? "missing" : String(rootless)}`,
        "containers get automatic user namespaces from root's Podman",
    );
    const auto = o.auto;
    const ran = auto?.ran === true && auto.containers.length === 2;
    const notRun = `not observed: ${auto?.error ?? o.probe.error ?? "the two containers did not run"}`;
    const cs = ran ? auto!.containers : [];
    const poolText = `${pool.start}-${pool.start + pool.count - 1}`;
    const sizeText = size === undefined ? "?" : String(size);
    const inPool = (r: [number, number, number] | undefined) => r !== undefined && r[1] >= pool.start && r[1] + r[2] <= pool.start + pool.count;
    const rows = (kind: "uidMap" | "gidMap") => cs.map((c) => singleRow(c[kind]));
    const mapsText = (kind: "uidMap" | "gidMap") => cs.map((c) => `${c.name}: ${c[kind].length > 0 ? c[kind].join("; ") : "empty"}`).join(", ");

    for (const [name, kind, label] of [["uid-map", "uidMap", "uid"], ["gid-map", "gidMap", "gid"]] as const) {
        const rs = rows(kind);
        add(
            name,
            ran && rs.every((r) => r !== undefined && r[0] === 0 && r[2] === size && inPool(r)),
            `each container: one row "0 <host ${label} in ${poolText}> ${sizeText}"`,
            ran ? mapsText(kind) : notRun,
            `/proc/PID/${label}_map of two containers started without --userns: each gets its own ${sizeText} IDs of the pool (userns = "auto", size from storage.conf)`,
        );
    }
    const disjoint = (kind: "uidMap" | "gidMap") => {
        const [a, b] = rows(kind);
        return a !== undefined && b !== undefined && (a[1] + a[2] <= b[1] || b[1] + b[2] <= a[1]);
    };
    add(
        "auto-maps-disjoint",
        ran && disjoint("uidMap") && disjoint("gidMap"),
        "the two containers share no host uid and no host gid",
        ran ? `uid ${mapsText("uidMap")}; gid ${mapsText("gidMap")}` : notRun,
        "a container that escapes its namespace reaches none of the other's files",
    );
    add(
        "auto-maps-in-pool",
        ran && [...rows("uidMap"), ...rows("gidMap")].every(inPool),
        `every map inside the pool ${poolText}`,
        ran ? `uid ${mapsText("uidMap")}; gid ${mapsText("gidMap")}` : notRun,
        "automatic namespaces come from the pool owner's range only, which the ledger keeps apart from every other owner",
    );
    const mapsRoot = (c: AutoContainer) => [...c.uidMap, ...c.gidMap].some((r) => {
        const [, host, n] = r.trim().split(/\s+/).map((x) => (/^\d+$/.test(x) ? Number(x) : NaN));
        // Host IDs start at 0, so a row maps host root exactly when it starts there.
        return !Number.isFinite(host) || !Number.isFinite(n) || host === 0;
    });
    add(
        "auto-no-host-root",
        ran && cs.every((c) => c.uidMap.length > 0 && c.gidMap.length > 0 && !mapsRoot(c)),
        "neither container maps host uid 0 or gid 0",
        ran ? cs.map((c) => `${c.name}: ${mapsRoot(c) ? "maps host root" : "does not map host root"}`).join(", ") : notRun,
        "container root is an unprivileged host UID",
    );
    const startOf = (c: AutoContainer, kind: "uidMap" | "gidMap") => singleRow(c[kind])?.[1];
    add(
        "container-root-host-uid",
        ran && cs.every((c) => c.hostUid !== null && c.hostUid !== 0 && c.hostUid === startOf(c, "uidMap")),
        "each container's root process runs as the first host uid of its own map, never 0",
        ran ? cs.map((c) => `${c.name}: uid ${id(c.hostUid)}`).join(", ") : notRun,
        "the host UID of each container's root process (/proc/PID/status)",
    );
    const [fa, fb] = cs;
    add(
        "bind-mount-owners-differ",
        ran && cs.every((c) => c.fileWritten && c.fileUid === startOf(c, "uidMap") && c.fileGid === startOf(c, "gidMap") && c.fileUid !== 0) &&
            fa!.fileUid !== fb!.fileUid,
        "each file owned by its container's first host uid:gid, the two owners different",
        ran ? cs.map((c) => `${c.name}: ${c.fileWritten ? `${id(c.fileUid)}:${id(c.fileGid)}` : "not written"}`).join(", ") : notRun,
        "host owners of the files the two containers' root wrote into one shared bind mount",
    );
    const rod = o.probe.rootOwnedDir;
    add(
        "root-owned-dir-not-writable",
        o.probe.ran && rod.writable === false,
        "write refused",
        !o.probe.ran ? notRun : rod.writable === true ? "writable: container root wrote into a root-owned 0755 host directory" : (rod.message ?? "unknown"),
        "container root must not have host root's rights on bind-mounted host files",
    );
    const hostNs = hostNamespaceContainers(o);
    add(
        "no-userns-host-containers",
        hostNs.passed,
        "no running container in the host's user namespace (--userns=host)",
        hostNs.observed,
        "CIS 5.30: a rootful --userns=host (or PODMAN_USERNS=host) container runs as real host root, outside the pool",
    );
    subidChecks(o, exp, add);
    return checks;
}

/** A pod whose map is the identity map `0 0 4294967295`: it shares the host's user namespace. */
function hostUsersPod(p: KubeletPod): boolean {
    return p.uidMap.length === 1 && p.uidMap[0]!.trim().split(/\s+/).join(" ") === "0 0 4294967295";
}

/** Whether a kubelet-userns observation proves the property (kubelet runs, two hostUsers:false pods). */
export function kubeletProven(o: Observations): boolean {
    const k = o.kubelet;
    return k !== undefined && k.running && k.pods.filter((p) => !hostUsersPod(p)).length >= 2;
}

/**
 * kubelet-userns: the `kubelet` line (and getsubids' reading of it) exactly as planned, the
 * drop-in in place, and, when kubelet runs, its pods with `hostUsers: false` each in one
 * idsPerPod-sized slot of the range, disjoint, never mapping host root; pods sharing the host's
 * user namespace are reported (a warning: hostUsers: true is the pod author's choice). Where no
 * kubelet runs, or fewer than two such pods, `userns-proven` says so: the host is "prepared, not
 * proven", never "passed".
 */
export function evaluateKubeletChecks(o: Observations, exp: Expectations): Check[] {
    const { start, count } = exp.expectedRange;
    const ids = exp.autoSize;
    const k = o.kubelet;
    const checks: Check[] = [];
    const add: AddCheck = (name, passed, expected, observed, detail, severity = "error") =>
        checks.push({ name, passed, expected, observed, detail, severity });
    const rangeText = `${start}-${start + count - 1}`;
    add(
        "user-account",
        o.user.exists && o.user.uid !== null && o.user.uid !== 0,
        `${exp.user} exists with a UID other than 0`,
        o.user.exists ? `uid ${id(o.user.uid)}, gid ${id(o.user.gid)}` : `${exp.user} does not exist`,
        "kubelet reads its range only for a user named exactly kubelet; without it, pods get IDs anywhere from 65536 up",
    );
    const want = `0: ${exp.user} ${start} ${count}`;
    add(
        "getsubids",
        k !== undefined && k.getsubids.present && k.getsubids.uid === want && k.getsubids.gid === want,
        `getsubids ${exp.user} and getsubids -g ${exp.user}: exactly "${want}"`,
        k === undefined ? "not observed" : !k.getsubids.present ? "no getsubids on the host" : `uid: ${k.getsubids.uid ?? "nothing"}; gid: ${k.getsubids.gid ?? "nothing"}`,
        "what kubelet reads at start: one line, the same for subuid and subgid, or it refuses to start (or, without getsubids, silently uses its default range)",
    );
    add(
        "kubelet-config",
        k !== undefined && k.dropIn.present && k.dropIn.idsPerPod === (ids ?? null),
        `${k?.dropIn.path ?? "the drop-in"} with userNamespaces.idsPerPod ${ids ?? "?"}`,
        k === undefined ? "not observed" : !k.dropIn.present ? `${k.dropIn.path} is missing` : `idsPerPod ${k.dropIn.idsPerPod ?? "not set"}, maxPods ${k.dropIn.maxPods ?? "not set"}`,
        "kubelet's idsPerPod must match the range's sizing (a drop-in elsewhere, or a kubelet older than 1.33 with the feature gate instead, reads as a warning)",
        "warning",
    );
    const running = k?.running === true;
    const pods = running ? k!.pods : [];
    const nsPods = pods.filter((p) => !hostUsersPod(p));
    const proven = kubeletProven(o);
    add(
        "userns-proven",
        proven,
        "kubelet runs with at least two hostUsers: false pods to observe",
        !running ? `${PREPARED_NOT_PROVEN}: no kubelet runs on this host` : `${PREPARED_NOT_PROVEN}: kubelet ${k!.version ?? ""} (pid ${id(k!.pid)}) runs ${nsPods.length} pod(s) with their own user namespace`.replace("  ", " "),
        "the property is shown on running pods only; a node being prepared has none yet",
        "warning",
    );
    const label = (p: KubeletPod) => p.name ?? `pod ${p.uid.slice(0, 8)}`;
    const mapsText = (ps: KubeletPod[], kind: "uidMap" | "gidMap") => ps.length === 0 ? "no such pod runs" : ps.map((p) => `${label(p)}: ${p[kind].join("; ") || "empty"}`).join(", ");
    if (running && nsPods.length > 0) {
        const size = ids ?? 0;
        const inRange = (r: [number, number, number] | undefined) => r !== undefined && r[0] === 0 && r[2] === size && r[1] % size === 0 && r[1] >= start && r[1] + r[2] <= start + count;
        for (const [name, kind, lbl] of [["pod-uid-maps", "uidMap", "uid"], ["pod-gid-maps", "gidMap", "gid"]] as const) {
            add(
                name,
                nsPods.every((p) => inRange(singleRow(p[kind]))),
                `each hostUsers: false pod: one row "0 <host ${lbl}, a multiple of ${size}, in ${rangeText}> ${size}"`,
                mapsText(nsPods, kind),
                `/proc/PID/${lbl}_map of each pod's oldest process: a slot of idsPerPod IDs of the kubelet range, not kubelet's default 65536..2^32`,
            );
        }
        const rows = nsPods.map((p) => [singleRow(p.uidMap), singleRow(p.gidMap)] as const);
        let disjoint = true;
        for (let i = 0; i < rows.length; i++) {
            for (let j = i + 1; j < rows.length; j++) {
                for (const x of [0, 1] as const) {
                    const a = rows[i]![x], b = rows[j]![x];
                    if (a === undefined || b === undefined || !(a[1] + a[2] <= b[1] || b[1] + b[2] <= a[1])) disjoint = false;
                }
            }
        }
        add(
            "pod-maps-disjoint",
            disjoint,
            "no two pods share a host uid or gid",
            mapsText(nsPods, "uidMap"),
            "a pod that escapes its namespace reaches none of another pod's files",
        );
        const mapsRoot = (p: KubeletPod) => [...p.uidMap, ...p.gidMap].some((r) => {
            const [, host] = r.trim().split(/\s+/).map((x) => (/^\d+$/.test(x) ? Number(x) : NaN));
            return !Number.isFinite(host) || host === 0;
        });
        add(
            "pod-no-host-root",
            nsPods.every((p) => p.uidMap.length > 0 && p.gidMap.length > 0 && !mapsRoot(p) && p.hostUid !== 0),
            "no hostUsers: false pod maps host uid 0 or gid 0, nor runs as host root",
            nsPods.map((p) => `${label(p)}: ${mapsRoot(p) ? "maps host root" : `root is host uid ${id(p.hostUid)}`}`).join(", "),
            "pod root is an unprivileged host UID",
        );
    }
    const shared = pods.filter(hostUsersPod);
    add(
        "host-users-pods",
        shared.length === 0,
        "no running pod in the host's user namespace (hostUsers: true or unset)",
        !running ? "no kubelet runs" : shared.length === 0 ? `none of ${k!.podCount} running` : shared.map((p) => `${label(p)} (${p.uid})`).join("; "),
        "such a pod's root is host root: reported, not refused (its manifest chose it)",
        "warning",
    );
    subidChecks(o, exp, add);
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
    if (exp.runtime === "podman-auto" && o.auto?.size !== exp.autoSize) {
        throw new VerifyError(`the observations are for podman-auto with ${o.auto?.size ?? "no"} IDs per container, not ${exp.autoSize ?? "?"}`);
    }
    if (exp.runtime === "kubelet-userns" && (o.kubelet === undefined || o.idsPerPod !== exp.autoSize)) {
        throw new VerifyError(`the observations are for kubelet-userns with ${o.idsPerPod ?? "no"} IDs per pod, not ${exp.autoSize ?? "?"}`);
    }
    const checks = evaluateChecks(o, exp);
    const clean = failedChecks({ checks }).length === 0;
    const kube = exp.runtime === "kubelet-userns" ? o.kubelet! : undefined;
    const status = kube === undefined ? undefined : !clean ? "failed" as const : kubeletProven(o) ? "passed" as const : PREPARED_NOT_PROVEN;
    const nsPod = kube?.running ? kube.pods.find((p) => !hostUsersPod(p)) : undefined;
    return {
        host: exp.host,
        runtime: exp.runtime,
        mode: observedMode(o),
        passed: status === undefined ? clean : status === "passed",
        ...(status !== undefined ? {
            status,
            pods: (kube!.running ? kube!.pods : []).map((p) => ({ name: p.name ?? p.uid, uid: p.uid, hostUsers: hostUsersPod(p), uidMap: p.uidMap, gidMap: p.gidMap, processUid: p.hostUid })),
        } : {}),
        checks,
        uidMap: nsPod ? nsPod.uidMap : o.probe.uidMap,
        gidMap: nsPod ? nsPod.gidMap : o.probe.gidMap,
        containerRootHostUid: nsPod ? nsPod.hostUid : o.process.hostUid,
        expectedRange: { start: exp.expectedRange.start, count: exp.expectedRange.count },
        verifiedAt: o.observedAt,
        runtimeVersion: o.engine.version,
        image: o.image ? { name: o.image.name, builtOnHost: o.image.builtOnHost, from: o.image.from, error: o.image.error } : null,
        ...(o.auto ? {
            auto: {
                size: o.auto.size,
                containers: o.auto.containers.map((c) => ({ name: c.name, uidMap: c.uidMap, gidMap: c.gidMap, processUid: c.hostUid, fileUid: c.fileUid })),
            },
        } : {}),
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
    /**
     * podman-auto: the pool's slots of `size` IDs and each of the two containers as observed,
     * e.g. "a: uid 0 2147483648 65536, gid 0 2147483648 65536, root uid 2147483648, file 2147483648".
     */
    auto?: { size: number; containers: string[] };
    /** kubelet-userns: "passed", "failed" or "prepared, not proven". */
    status?: HostResult["status"];
    /** kubelet-userns: each running pod, e.g. "userns-a: uid 0 2147549184 65536, gid ..., root uid 2147549184". */
    pods?: string[];
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
        ...(r.auto ? {
            auto: {
                size: r.auto.size,
                containers: r.auto.containers.map((c) =>
                    `${c.name}: uid ${c.uidMap.join("; ") || "?"}, gid ${c.gidMap.join("; ") || "?"}, root uid ${id(c.processUid)}, file ${id(c.fileUid)}`),
            },
        } : {}),
        ...(r.status !== undefined ? {
            status: r.status,
            pods: (r.pods ?? []).map((p) => `${p.name}: ${p.hostUsers ? "host user namespace (hostUsers: true), " : ""}uid ${p.uidMap.join("; ") || "?"}, gid ${p.gidMap.join("; ") || "?"}, root uid ${id(p.processUid)}`),
        } : {}),
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
    /** kubelet-userns hosts that are "prepared, not proven" (neither passed nor failed); absent when none. */
    hostsPrepared?: number;
}

export function fleetSummary(results: readonly HostResult[]): FleetSummary {
    const hosts = new Map<string, boolean>();
    const failing: FleetFinding[] = [];
    const warnings: FleetFinding[] = [];
    const prepared = new Set<string>();
    for (const r of results) {
        if (r.status === PREPARED_NOT_PROVEN) {
            prepared.add(r.host);
        } else {
            hosts.set(r.host, (hosts.get(r.host) ?? true) && r.passed);
        }
        for (const c of r.checks) {
            if (c.passed) continue;
            const f = { host: r.host, runtime: r.runtime, check: c.name, observed: c.observed, expected: c.expected };
            (c.severity === "error" ? failing : warnings).push(f);
        }
    }
    for (const h of hosts.keys()) prepared.delete(h);
    const passed = [...hosts.values()].filter((p) => p).length;
    return { hostsPassed: passed, hostsFailed: hosts.size - passed, failing, warnings, ...(prepared.size > 0 ? { hostsPrepared: prepared.size } : {}) };
}
