import type { HostWork } from "../host/host-work";
import * as pulumi from "@pulumi/pulumi";
import { HostConnection } from "../host/connection";
import { ScriptReport, parseReport } from "../host/report";
import { runHostScript } from "../host/script";
import { Problems, USER_NAME } from "../host/validate";
import { Allocation, allocationEntries } from "./allocator";

/** Arguments of {@link HostSubids}. */
export interface HostSubidsArgs {
    /** The host. */
    connection: HostConnection;
    /**
     * Every range this host must grant, owner → `{start, count}` (usually a `SubidLedger`'s
     * `allocation`, fleet-wide and host-local owners together: a host has one managed block).
     */
    allocation: pulumi.Input<Allocation>;
    /**
     * Owners that may be system accounts on the host (a UID below login.defs' UID_MIN): the
     * userns-remap user (`dockremap`, created as a system account) or a Podman pool's owner. Any
     * other owner that is an existing system account there is refused before anything is written.
     * Default none.
     */
    systemOwners?: pulumi.Input<string[]>;
    /**
     * The daemon.json the runtime step merges into next (userns-remap hosts, e.g.
     * `/etc/docker/daemon.json`): checked before this step writes anything (a regular file holding
     * one JSON object, no UTF-8 byte order mark, room in its folder), so a host the runtime step
     * would refuse keeps its /etc/subuid and /etc/subgid as found. Default none.
     */
    dockerConfig?: pulumi.Input<string>;
    /**
     * With `dockerConfig`: the runtime step's own opt-ins (`DockerUsernsRemap`), so that the switch
     * it would refuse (an operator's remap not taken over, containers it would stop or hide) is
     * refused here first, before this step writes. Defaults as there: false, "refuse".
     */
    takeOverRemap?: pulumi.Input<boolean>;
    existingContainers?: pulumi.Input<"refuse" | "stop">;
    /**
     * A record of accounts the runtime step created (`docker-remap.sh`'s
     * `/etc/docker/daemon.json.hardened-hosts.user`): `pulumi destroy` deletes them after our lines
     * are gone, when nothing else uses them (no process runs as the user, it has no other range,
     * daemon.json no longer remaps to it). Default none (accounts are left alone).
     */
    deleteAccountsRecordedIn?: pulumi.Input<string>;
    /**
     * Whose block this is, `project/stack`: the markers name it, so stacks share a host's files
     * side by side (another stack's block is foreign: an overlap with it, or the same range, is
     * refused naming that stack, and this stack's destroy never touches it). A block written
     * before stacks were named is read as this stack's own. Default: this program's
     * `pulumi.getProject()/pulumi.getStack()`.
     */
    stack?: pulumi.Input<string>;
}

/** The `project/stack` a component's host files are marked with, unless given. */
export function defaultStackName(): string {
    return `${pulumi.getProject()}/${pulumi.getStack()}`;
}

/** What `subids-host.sh` reported on stdout. */
export interface HostSubidsReport extends ScriptReport {
    /** Entries already on the host outside our block, identical to the plan (`file:owner:start:count`). */
    present?: string[];
    /** Files the run wrote. */
    changed?: string[];
    /** Conflicts (a failed check or apply): the first 20, then "(and N more conflicts)". */
    conflicts?: string[];
    /** Lines recognised again after useradd had moved the markers. */
    repaired?: string[];
    /** remove: accounts deleted (`user NAME`, `group NAME`) and kept (with the reason). */
    deletedAccounts?: string[];
    keptAccounts?: string[];
}

/**
 * Writes the planned ranges into a host's /etc/subuid and /etc/subgid (our managed block only),
 * after checking them against the host's own entries and accounts; `pulumi destroy` removes
 * exactly our lines. The preview shows the `owner:start:count` lines in the command.
 *
 * Foreign lines are read as shadow-utils reads them (numbers in hex, octal, with a sign or
 * leading blanks, the first three fields of a line; NIS lines and lines of 1024 bytes or more
 * are no entries), so an overlap in any notation the host's tools accept is refused. A line
 * owned by a planned user's UID (in subgid also its group's GID) is that user's, as getsubids,
 * newuidmap and dockerd read it. Accounts are read as glibc reads /etc/passwd and /etc/group,
 * plus what the host's name services list (`getent`). A symlinked /etc/subuid or /etc/subgid
 * stays a link: its target is written atomically and given its bytes back on destroy. The
 * report names at most 20 conflicts and counts the rest.
 */
export class HostSubids extends pulumi.ComponentResource {
    /** The `owner:start:count` lines written to both files, sorted by start. */
    public readonly lines: pulumi.Output<string[]>;
    /** The host script's report. */
    public readonly report: pulumi.Output<HostSubidsReport>;
    /** The command that writes the files (for `dependsOn`). */
    public readonly command: HostWork;

    constructor(name: string, args: HostSubidsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hardened-hosts:subids:HostSubids", name, {}, opts);
        // A plain allocation is checked now, one from a ledger when it resolves (see Problems).
        const problems = new Problems(this);
        const allocation = problems.check("allocation", args.allocation, (a) =>
            allocationEntries(a).length === 0 ? "at least one owner is needed" : undefined);
        const systemOwners = problems.check("systemOwners", args.systemOwners ?? [], (owners) =>
            owners.filter((o) => !USER_NAME.test(o) || o === "root").map((o) => `${JSON.stringify(o)} is not a non-root login name`)[0]);
        const stack = problems.check("stack", args.stack ?? defaultStackName(), (s) =>
            /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/.test(s) ? undefined : `${JSON.stringify(s)} is not PROJECT/STACK (letters, digits, . _ -)`);
        const dockerConfig = problems.check("dockerConfig", args.dockerConfig ?? "", (c) =>
            c === "" || c.startsWith("/") ? undefined : `${JSON.stringify(c)} is not an absolute path`);
        problems.throwIfAny();
        this.lines = allocation.apply((a) => allocationEntries(a).map((e) => `${e.owner}:${e.start}:${e.count}`));
        this.command = runHostScript(
            `${name}-write`,
            {
                connection: args.connection,
                script: "subids/subids-host.sh",
                // The lines first: a preview shortens long values, and they are what it must show.
                create: pulumi.all([this.lines, systemOwners, dockerConfig, stack, args.takeOverRemap ?? false, args.existingContainers ?? "refuse"]).apply(([l, sys, cfg, st, takeOver, ctr]) => [
                    "apply",
                    ...l,
                    "--stack", st,
                    ...[...sys].sort().flatMap((o) => ["--system", o]),
                    ...(cfg ? ["--docker-config", cfg] : []),
                    // Only the opt-ins: the defaults are the script's, and the line stays as it was.
                    ...(cfg && takeOver ? ["--take-over-remap", "yes"] : []),
                    ...(cfg && ctr === "stop" ? ["--containers", "stop"] : []),
                ]),
                delete: pulumi.all([args.deleteAccountsRecordedIn ?? "", stack]).apply(([r, st]) =>
                    ["remove", "--stack", st, ...(r ? ["--delete-accounts", r] : [])]),
            },
            // The command itself waits for what the component waits for (see runHostScript).
            { parent: this, dependsOn: opts?.dependsOn },
        );
        this.report = this.command.stdout.apply((out) => parseReport<HostSubidsReport>(out, "subids-host.sh"));
        // The report is the step's stdout, in its HostWork's state: not stored twice (issue #29).
        this.registerOutputs({ lines: this.lines });
    }
}
