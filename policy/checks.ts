/**
 * The policy pack's checks, as plain functions over the data the engine sends (resource type,
 * name, URN, properties, parent): no gRPC, no Pulumi runtime, so tests call them directly.
 *
 * Every check returns {@link Finding}s whose message names the resource (`Type "name"`) and the
 * field (`allocation.alice`, `ingress[0].cidrBlocks[1]`, `metadataOptions.httpTokens`, ...).
 *
 * Range rules are the library's own (components/subids/ranges.ts): `containerRangeProblem` (at
 * least 65536 IDs, last ID at most 4294967294) and `overlaps`/`formatRange`; SSH prefixes use
 * `MIN_SSH_PREFIX` of components/machines/checks.ts, the rule `Ec2Machine` applies to `sshCidrs`.
 */

import * as net from "node:net";
import { UnknownValueError } from "@pulumi/policy";
import { MIN_SSH_PREFIX } from "../components/machines/checks";
import { IdRange, containerRangeProblem, formatRange, overlaps, rangeEnd } from "../components/subids/ranges";

/** One violation: what is wrong, and (stack policies) the URN of the resource it is reported on. */
export interface Finding {
    message: string;
    urn?: string;
}

/** What a check needs of a resource: the common part of the policy SDK's resource arguments. */
export interface ResourceView {
    type: string;
    name: string;
    urn: string;
    props: Record<string, any>;
    /** The parent's URN (resource policies: `opts.parent`). */
    parentUrn?: string;
}

/** A resource of the whole stack (stack policies), with its parent resolved. */
export interface StackResourceView {
    type: string;
    name: string;
    urn: string;
    props: Record<string, any>;
    parent?: StackResourceView;
}

/** Type tokens of the resources the policies read (see the components' constructors). */
export const TYPES = {
    hardenedHost: "hardened-hosts:index:HardenedHost",
    dockerUsernsRemap: "hardened-hosts:docker:DockerUsernsRemap",
    rootlessRuntime: "hardened-hosts:rootless:RootlessRuntime",
    podmanAuto: "hardened-hosts:podman:PodmanAuto",
    kubeletUserns: "hardened-hosts:kubernetes:KubeletUserns",
    hostSubids: "hardened-hosts:subids:HostSubids",
    subidLedger: "pulumi-nodejs:dynamic/subids:SubidLedger",
    remoteCommand: "command:remote:Command",
    /** What runs a host script since #29 (a stack made before has remote Commands instead). */
    hostWork: "pulumi-nodejs:dynamic/host:HostWork",
    securityGroup: "aws:ec2/securityGroup:SecurityGroup",
    defaultSecurityGroup: "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
    securityGroupRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
    securityGroupIngressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    instance: "aws:ec2/instance:Instance",
    launchTemplate: "aws:ec2/launchTemplate:LaunchTemplate",
} as const;

/**
 * The runtimes a HardenedHost may run: rootful Docker with userns-remap, a rootless one, or
 * rootful Podman with a user namespace of its own for every container (podman-auto), or a
 * Kubernetes node whose pods get user namespaces from the kubelet range (kubelet-userns).
 */
export const ALLOWED_RUNTIMES = ["userns-remap", "docker-rootless", "podman", "podman-auto", "kubelet-userns"] as const;

/**
 * No subordinate range may start below this: IDs 0-65535 are the host's own users and groups
 * (and the 16-bit ID space container images use inside their namespace).
 */
export const FIRST_SUBORDINATE_ID = 65536;

/** `Type "name"`, with the last part of the type token (`SubidLedger "fleet-subids"`). */
export function describe(r: { type: string; name: string }): string {
    const short = r.type.split(":").pop() || r.type;
    return `${short} ${JSON.stringify(r.name)}`;
}

/** The type of a resource from its URN (`urn:pulumi:stack::project::parent$type::name`). */
export function typeOfUrn(urn: string | undefined): string | undefined {
    if (!urn) return undefined;
    const parts = urn.split("::");
    if (parts.length < 4) return undefined;
    return parts[2]!.split("$").pop();
}

/**
 * Reads a value that may be unknown during a preview: the policy SDK throws `UnknownValueError`
 * on access to an unknown, which in a stack policy would abort the policy for every resource.
 */
export function known<T>(read: () => T): { ok: true; value: T } | { ok: false } {
    try {
        return { ok: true, value: read() };
    } catch (e) {
        if (e instanceof UnknownValueError) return { ok: false };
        throw e;
    }
}

// --- shell command lines ----------------------------------------------------------------------

/**
 * Splits a POSIX shell command line into words: single quotes, double quotes (with `\"`, `\\`,
 * `\$`, `` \` ``) and backslashes, as `shellJoin` (components/host/shell.ts) writes them.
 */
export function shellWords(line: string): string[] {
    const words: string[] = [];
    let word = "";
    let inWord = false;
    for (let i = 0; i < line.length; i++) {
        const c = line[i]!;
        if (c === "'") {
            const end = line.indexOf("'", i + 1);
            if (end < 0) throw new Error(`unterminated single quote in ${JSON.stringify(line)}`);
            word += line.slice(i + 1, end);
            i = end;
            inWord = true;
        } else if (c === '"') {
            i++;
            for (; i < line.length && line[i] !== '"'; i++) {
                if (line[i] === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) i++;
                word += line[i];
            }
            if (i >= line.length) throw new Error(`unterminated double quote in ${JSON.stringify(line)}`);
            inWord = true;
        } else if (c === "\\" && i + 1 < line.length) {
            word += line[++i];
            inWord = true;
        } else if (/\s/.test(c)) {
            if (inWord) words.push(word);
            word = "";
            inWord = false;
        } else {
            word += c;
            inWord = true;
        }
    }
    if (inWord) words.push(word);
    return words;
}

/**
 * The arguments of a host script run as `[sudo -n] bash -s -- ARGS` (see `scriptCommandLine` in
 * components/host/script.ts), or undefined when the command line is not of that form.
 */
export function hostScriptArgs(create: unknown): string[] | undefined {
    if (typeof create !== "string") return undefined;
    let words: string[];
    try {
        words = shellWords(create);
    } catch {
        return undefined;
    }
    const at = words.findIndex((w, i) => w === "bash" && words[i + 1] === "-s" && words[i + 2] === "--");
    return at < 0 ? undefined : words.slice(at + 3);
}

/** The value after `--flag` in script arguments. */
function flag(args: readonly string[], name: string): string | undefined {
    const at = args.indexOf(name);
    return at < 0 ? undefined : args[at + 1];
}

// --- subordinate ranges -----------------------------------------------------------------------

/** One subordinate range granted somewhere in the stack. */
export interface GrantedRange {
    owner: string;
    range: IdRange;
    /** Where it comes from, for messages: `SubidLedger "fleet-subids" allocation.alice`. */
    where: string;
    /** The resource carrying it. */
    urn: string;
}

/**
 * The `owner:start:count` lines of a HostSubids write command (`... bash -s -- apply L1 L2 ...`),
 * or undefined when the command is not one. Lines that do not parse are returned as `bad`.
 */
export function hostSubidsLines(create: unknown): { lines: { owner: string; range: IdRange; index: number }[]; bad: string[] } | undefined {
    const args = hostScriptArgs(create);
    if (!args || args[0] !== "apply") return undefined;
    const lines: { owner: string; range: IdRange; index: number }[] = [];
    const bad: string[] = [];
    // Options, each `--name value` (`--stack p/s`, `--system dockremap`, `--docker-config F`), may
    // come before or after the lines (HostSubids puts the lines first).
    const words: string[] = [];
    for (let i = 1; i < args.length; i++) {
        if (args[i]!.startsWith("--")) i++;
        else words.push(args[i]!);
    }
    words.forEach((line, index) => {
        const m = /^(.+):(\d+):(\d+)$/.exec(line);
        if (m) lines.push({ owner: m[1]!, range: { start: Number(m[2]), count: Number(m[3]) }, index });
        else bad.push(line);
    });
    return { lines, bad };
}

/** Owner → range maps, read defensively (values from the engine are untyped JSON). */
function rangeMap(value: unknown): [string, IdRange][] {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return [];
    return Object.entries(value as Record<string, unknown>)
        .filter(([, r]) => r !== null && typeof r === "object")
        .map(([owner, r]) => [owner, { start: (r as IdRange).start, count: (r as IdRange).count }]);
}

/**
 * Why a granted range breaks the project's bounds, or undefined: it must start at or above
 * {@link FIRST_SUBORDINATE_ID}, hold at least 65536 IDs and end at or before 4294967294
 * (`containerRangeProblem`; 4294967295 is `(uid_t)-1`, never a valid ID).
 */
export function rangeBoundsProblem(r: IdRange): string | undefined {
    const problem = containerRangeProblem(r);
    if (problem !== undefined) return problem;
    if (r.start < FIRST_SUBORDINATE_ID) {
        return `range ${formatRange(r)} starts below ${FIRST_SUBORDINATE_ID}: IDs 0-${FIRST_SUBORDINATE_ID - 1} belong to the host's own users and groups`;
    }
    return undefined;
}

/** The parent's type and name: the resolved parent (stack policies) or the parent's URN (resource policies). */
function parentOf(r: ResourceView | StackResourceView): { type: string; name: string } | undefined {
    if ("parent" in r && r.parent) return r.parent;
    const urn = (r as ResourceView).parentUrn;
    const type = typeOfUrn(urn);
    return type === undefined ? undefined : { type, name: urn!.split("::").slice(3).join("::") };
}

function parentType(r: ResourceView | StackResourceView): string | undefined {
    return parentOf(r)?.type;
}

/** True for what runs a host script: a HostWork, or a remote Command (stacks made before #29). */
export function isHostCommand(r: ResourceView | StackResourceView): boolean {
    return r.type === TYPES.hostWork || r.type === TYPES.remoteCommand;
}

/** True for the write command of a HostSubids (its HostWork, or remote Command before #29). */
export function isHostSubidsWrite(r: ResourceView | StackResourceView): boolean {
    return isHostCommand(r) && parentType(r) === TYPES.hostSubids;
}

/** `HostSubids "host-a-subids" (Command "host-a-subids-write" create)`: the component and the field. */
function hostSubidsLabel(r: ResourceView | StackResourceView): string {
    const parent = parentOf(r);
    return parent ? `${describe(parent)} (${describe(r)} create)` : `${describe(r)} create`;
}

/**
 * The ranges a resource grants: a SubidLedger's `allocation` (and its `retired` ranges), or the
 * `owner:start:count` lines of a HostSubids write command. Unknown values (preview) give none.
 */
export function grantedRanges(r: ResourceView | StackResourceView): GrantedRange[] {
    if (r.type === TYPES.subidLedger) {
        const out: GrantedRange[] = [];
        for (const field of ["allocation", "retired"] as const) {
            const v = known(() => rangeMap(r.props[field]));
            if (!v.ok) continue;
            for (const [owner, range] of v.value) {
                out.push({ owner, range, where: `${describe(r)} ${field}.${owner}`, urn: r.urn });
            }
        }
        return out;
    }
    if (isHostSubidsWrite(r)) {
        const create = known(() => r.props["create"]);
        const parsed = create.ok ? hostSubidsLines(create.value) : undefined;
        if (!parsed) return [];
        return parsed.lines.map((l) => ({
            owner: l.owner,
            range: l.range,
            where: `${hostSubidsLabel(r)} line ${JSON.stringify(`${l.owner}:${l.range.start}:${l.range.count}`)}`,
            urn: r.urn,
        }));
    }
    return [];
}

/** Resource check: every range a SubidLedger or HostSubids command grants is within bounds. */
export function checkRangeBounds(r: ResourceView): Finding[] {
    const findings: Finding[] = [];
    if (isHostSubidsWrite(r)) {
        const create = known(() => r.props["create"]);
        if (create.ok) {
            for (const line of hostSubidsLines(create.value)?.bad ?? []) {
                findings.push({ message: `${hostSubidsLabel(r)}: ${JSON.stringify(line)} is not an owner:start:count line` });
            }
        }
    }
    for (const g of grantedRanges(r)) {
        const problem = rangeBoundsProblem(g.range);
        if (problem !== undefined) findings.push({ message: `${g.where}: ${problem}` });
    }
    return findings;
}

/**
 * Stack check: no two ranges granted in the stack overlap (within one ledger, between ledgers,
 * between the lines of HostSubids commands), except the same grant seen twice (same owner, same
 * range: a ledger's allocation and the HostSubids lines written from it).
 */
export function checkRangeOverlaps(resources: readonly StackResourceView[]): Finding[] {
    const all = resources.flatMap(grantedRanges).filter((g) => Number.isFinite(g.range.start) && Number.isFinite(g.range.count));
    all.sort((a, b) => a.range.start - b.range.start || rangeEnd(a.range) - rangeEnd(b.range));
    const findings: Finding[] = [];
    const reported = new Set<string>();
    // Sweep by start: only ranges still open at a range's start can overlap it.
    let open: GrantedRange[] = [];
    for (const g of all) {
        open = open.filter((o) => rangeEnd(o.range) > g.range.start);
        for (const o of open) {
            if (!overlaps(o.range, g.range)) continue;
            const sameGrant = o.owner === g.owner && o.range.start === g.range.start && o.range.count === g.range.count;
            if (sameGrant) continue;
            const key = `${o.where}\n${g.where}`;
            if (reported.has(key)) continue;
            reported.add(key);
            const label = (x: GrantedRange) => `${x.where} ${formatRange(x.range)}`;
            findings.push({
                message: `${label(g)} overlaps ${label(o)}: subordinate ranges must never overlap`,
                urn: g.urn,
            });
        }
        open.push(g);
    }
    return findings;
}

// --- HardenedHost runtimes --------------------------------------------------------------------

/** The runtime a runtime component's command sets up, or why it cannot be told. */
export function runtimeOfComponent(component: StackResourceView, children: readonly StackResourceView[]): { mode?: string; problem?: string } {
    const commands = children.filter(isHostCommand);
    if (commands.length === 0) return { problem: `${describe(component)}: has no command that configures the runtime` };
    for (const cmd of commands) {
        const create = known(() => cmd.props["create"]);
        if (!create.ok) return {}; // preview: not known yet; judged when it is
        const args = hostScriptArgs(create.value);
        if (!args || args[0] !== "apply") continue;
        if (component.type === TYPES.dockerUsernsRemap) {
            const user = flag(args, "--user");
            if (!user) return { problem: `${describe(cmd)} create: "apply" without --user (the userns-remap user)` };
            if (user === "root" || user === "0") {
                return { problem: `${describe(cmd)} create: --user ${JSON.stringify(user)}: userns-remap must map container root to an unprivileged user` };
            }
            return { mode: "userns-remap" };
        }
        if (component.type === TYPES.podmanAuto) {
            // The pool itself is a HostSubids line, checked with every other range.
            const owner = flag(args, "--owner");
            if (!owner || owner === "root" || owner === "0") {
                return { problem: `${describe(cmd)} create: "apply" without an unprivileged --owner (the pool owner)` };
            }
            if (!flag(args, "--pool")) return { problem: `${describe(cmd)} create: "apply" without --pool` };
            return { mode: "podman-auto" };
        }
        if (component.type === TYPES.kubeletUserns) {
            // The range itself is a HostSubids line, checked with every other range; here, that it
            // is one kubelet accepts (start and count multiples of idsPerPod, room for maxPods).
            const m = /^(\d+):(\d+)$/.exec(flag(args, "--range") ?? "");
            const ids = Number(flag(args, "--ids-per-pod")), pods = Number(flag(args, "--max-pods"));
            if (!m || !Number.isInteger(ids) || ids < 65536 || ids % 65536 !== 0 || !Number.isInteger(pods) || pods < 1) {
                return { problem: `${describe(cmd)} create: "apply" without --range START:COUNT, --ids-per-pod (a multiple of 65536) and --max-pods` };
            }
            const start = Number(m[1]), count = Number(m[2]);
            if (start % ids !== 0 || start < ids || count % ids !== 0 || count < ids * pods) {
                return { problem: `${describe(cmd)} create: --range ${m[0]} is not one kubelet accepts with idsPerPod ${ids} and maxPods ${pods} (start and count multiples of ${ids}, count at least ${ids * pods})` };
            }
            return { mode: "kubelet-userns" };
        }
        const mode = flag(args, "--mode");
        if (mode === undefined) return { problem: `${describe(cmd)} create: "apply" without --mode` };
        return { mode };
    }
    return { problem: `${describe(component)}: no command runs "apply"` };
}

/**
 * Stack check: every HardenedHost has a runtime below it, and each runtime is userns-remap,
 * docker-rootless, podman or podman-auto (read from the command that sets it up).
 */
export function checkHardenedHostRuntimes(resources: readonly StackResourceView[]): Finding[] {
    const findings: Finding[] = [];
    const childrenOf = new Map<StackResourceView, StackResourceView[]>();
    for (const r of resources) {
        if (!r.parent) continue;
        const list = childrenOf.get(r.parent) ?? [];
        list.push(r);
        childrenOf.set(r.parent, list);
    }
    const allowed = ALLOWED_RUNTIMES.map((m) => JSON.stringify(m)).join(", ");
    for (const host of resources.filter((r) => r.type === TYPES.hardenedHost)) {
        const runtimes = (childrenOf.get(host) ?? []).filter((c) => c.type === TYPES.dockerUsernsRemap || c.type === TYPES.rootlessRuntime || c.type === TYPES.podmanAuto || c.type === TYPES.kubeletUserns);
        if (runtimes.length === 0) {
            findings.push({
                message: `${describe(host)}: runtime: none below it; a HardenedHost needs a DockerUsernsRemap, RootlessRuntime, PodmanAuto or KubeletUserns (one of ${allowed})`,
                urn: host.urn,
            });
            continue;
        }
        for (const rt of runtimes) {
            const { mode, problem } = runtimeOfComponent(rt, childrenOf.get(rt) ?? []);
            if (problem !== undefined) {
                findings.push({ message: `${describe(host)}: runtime: ${problem}`, urn: rt.urn });
            } else if (mode !== undefined && !(ALLOWED_RUNTIMES as readonly string[]).includes(mode)) {
                findings.push({
                    message: `${describe(host)}: runtime: ${describe(rt)} sets up ${JSON.stringify(mode)}, not one of ${allowed}`,
                    urn: rt.urn,
                });
            }
        }
    }
    return findings;
}

// --- SSH from the Internet --------------------------------------------------------------------

/** Why a CIDR block opens a port to (a large part of) the Internet, or undefined. */
export function worldOpenProblem(cidr: unknown): string | undefined {
    if (typeof cidr !== "string") return undefined;
    const m = /^\s*([0-9A-Fa-f.:]+)\/(\d{1,3})\s*$/.exec(cidr);
    if (!m) return undefined;
    const family = net.isIP(m[1]!);
    if (family !== 4 && family !== 6) return undefined;
    const prefix = Number(m[2]);
    if (prefix === 0) return `${JSON.stringify(cidr)} opens SSH (22/tcp) to the whole Internet`;
    if (prefix < MIN_SSH_PREFIX[family]) {
        return `${JSON.stringify(cidr)} opens SSH (22/tcp) to a large part of the Internet (prefixes shorter than /${MIN_SSH_PREFIX[family]} are refused, as Ec2Machine's sshCidrs)`;
    }
    return undefined;
}

/** True when a rule's protocol and ports let 22/tcp through (`-1`/`all` is every protocol and port). */
export function coversSsh(protocol: unknown, fromPort: unknown, toPort: unknown): boolean {
    const p = typeof protocol === "number" ? String(protocol) : typeof protocol === "string" ? protocol.trim().toLowerCase() : "";
    if (p === "-1" || p === "all") return true;
    if (p !== "tcp" && p !== "6") return false;
    const from = typeof fromPort === "number" ? fromPort : 0;
    const to = typeof toPort === "number" ? toPort : 65535;
    return from <= 22 && 22 <= to;
}

function list(v: unknown): unknown[] {
    return Array.isArray(v) ? v : [];
}

/**
 * Resource check: no security group ingress (inline `ingress` of SecurityGroup and
 * DefaultSecurityGroup, SecurityGroupRule of type ingress, vpc SecurityGroupIngressRule) lets
 * SSH in from 0.0.0.0/0, ::/0 or another block shorter than /8 (IPv4) or /16 (IPv6).
 */
export function checkSshIngress(r: ResourceView): Finding[] {
    const findings: Finding[] = [];
    const report = (field: string, cidr: unknown) => {
        const problem = worldOpenProblem(cidr);
        if (problem !== undefined) findings.push({ message: `${describe(r)} ${field}: ${problem}` });
    };
    const p = r.props;
    switch (r.type) {
        case TYPES.securityGroup:
        case TYPES.defaultSecurityGroup:
            list(p["ingress"]).forEach((rule: any, i) => {
                if (rule === null || typeof rule !== "object" || !coversSsh(rule.protocol, rule.fromPort, rule.toPort)) return;
                list(rule.cidrBlocks).forEach((c, j) => report(`ingress[${i}].cidrBlocks[${j}]`, c));
                list(rule.ipv6CidrBlocks).forEach((c, j) => report(`ingress[${i}].ipv6CidrBlocks[${j}]`, c));
            });
            break;
        case TYPES.securityGroupRule:
            if (p["type"] !== "ingress" || !coversSsh(p["protocol"], p["fromPort"], p["toPort"])) break;
            list(p["cidrBlocks"]).forEach((c, j) => report(`cidrBlocks[${j}]`, c));
            list(p["ipv6CidrBlocks"]).forEach((c, j) => report(`ipv6CidrBlocks[${j}]`, c));
            break;
        case TYPES.securityGroupIngressRule:
            if (!coversSsh(p["ipProtocol"], p["fromPort"], p["toPort"])) break;
            report("cidrIpv4", p["cidrIpv4"]);
            report("cidrIpv6", p["cidrIpv6"]);
            break;
        default:
            break;
    }
    return findings;
}

// --- IMDSv2 -----------------------------------------------------------------------------------

/** Resource check: EC2 instances and launch templates require IMDSv2 session tokens. */
export function checkImdsV2(r: ResourceView): Finding[] {
    if (r.type !== TYPES.instance && r.type !== TYPES.launchTemplate) return [];
    const options = r.props["metadataOptions"];
    const tokens = options !== null && typeof options === "object" ? options.httpTokens : undefined;
    if (tokens === "required") return [];
    const got = tokens === undefined ? "is not set (IMDSv1 stays allowed)" : `is ${JSON.stringify(tokens)}`;
    return [{ message: `${describe(r)} metadataOptions.httpTokens ${got}; it must be "required" (IMDSv2 only)` }];
}
