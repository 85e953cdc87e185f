import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HostConnection } from "../host/connection";
import { ScriptReport, parseReport } from "../host/report";
import { runHostScript } from "../host/script";
import { Problems } from "../host/validate";
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
    public readonly command: command.remote.Command;

    constructor(name: string, args: HostSubidsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hardened-hosts:subids:HostSubids", name, {}, opts);
        // A plain allocation is checked now, one from a ledger when it resolves (see Problems).
        const problems = new Problems(this);
        const allocation = problems.check("allocation", args.allocation, (a) =>
            allocationEntries(a).length === 0 ? "at least one owner is needed" : undefined);
        problems.throwIfAny();
        this.lines = allocation.apply((a) => allocationEntries(a).map((e) => `${e.owner}:${e.start}:${e.count}`));
        this.command = runHostScript(
            `${name}-write`,
            {
                connection: args.connection,
                script: "subids/subids-host.sh",
                create: this.lines.apply((l) => ["apply", ...l]),
                delete: ["remove"],
            },
            // The command itself waits for what the component waits for (see runHostScript).
            { parent: this, dependsOn: opts?.dependsOn },
        );
        this.report = this.command.stdout.apply((out) => parseReport<HostSubidsReport>(out, "subids-host.sh"));
        this.registerOutputs({ lines: this.lines, report: this.report });
    }
}
