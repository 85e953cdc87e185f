import type { HostWork } from "../host/host-work";
import * as pulumi from "@pulumi/pulumi";
import { HostConnection } from "../host/connection";
import { runHostScript } from "../host/script";
import { Problems, runtimeUserProblem } from "../host/validate";
import { IdRange, containerRangeProblem } from "../subids/ranges";
import { ScriptReport, parseReport } from "../host/report";
import { defaultStackName } from "../subids/host-subids";


/** Arguments of {@link DockerUsernsRemap}. */
export interface DockerUsernsRemapArgs {
    /** The host. */
    connection: HostConnection;
    /** The remap user (created when missing). Default `dockremap`. */
    remapUser?: pulumi.Input<string>;
    /**
     * The remap user's subordinate range, already written to the host's /etc/subuid and
     * /etc/subgid (see `HostSubids`, which must come first: pass it in `dependsOn`). At least
     * 65536 IDs: container images assume UIDs 0-65535 exist.
     */
    range: pulumi.Input<IdRange>;
    /**
     * More daemon.json keys to merge (e.g. `{"no-new-privileges": true, "live-restore": true,
     * "icc": false}`). Every other key already in the host's daemon.json is kept. Default none.
     */
    daemonOptions?: pulumi.Input<Record<string, unknown>>;
    /** Install Docker when the host has none. Default true; false refuses such a host. */
    installDocker?: pulumi.Input<boolean>;
    /**
     * Refuse to switch while containers run: with remap on, Docker uses a new data root, so
     * they stop being visible. Default false (they are reported instead).
     */
    requireNoContainers?: pulumi.Input<boolean>;
    /**
     * URNs of runtime commands this one takes over on the same host (another mode's, when a
     * host's mode changes). The old one's `remove` then runs before this one's apply, not after
     * it. Default none.
     */
    takesOver?: pulumi.Input<string>[];
    /**
     * The `project/stack` that owns the host's Docker daemon settings once this applies
     * (`daemon.json.hardened-hosts.stack`): another stack's apply on the host is refused naming it,
     * and another stack's destroy leaves them alone. Default: this program's project/stack.
     */
    stack?: pulumi.Input<string>;
    /**
     * Take over a `userns-remap` to another user that was in daemon.json before (an operator's own
     * remap): dockerd then moves to another root and the containers under the old one stop being
     * visible (the report's `tookOver` and `invisibleContainers` say which). Default false: such a
     * host is refused, naming the user and those containers, before anything is written.
     */
    takeOverRemap?: pulumi.Input<boolean>;
    /**
     * Containers an apply would stop (running ones: dockerd restarts) or hide (every container
     * under the current root: remap gives dockerd another one). `"refuse"` (the default) refuses
     * such an apply before anything is written, naming them; `"stop"` is the explicit opt-in that
     * does it, and {@link DockerUsernsRemap.containers} records what it stopped and hid.
     */
    existingContainers?: pulumi.Input<ExistingContainers>;
}

/** What an apply may do to containers already on the host (see `existingContainers`). */
export type ExistingContainers = "refuse" | "stop";

/** What the last apply did to the workloads it found (all empty when it found none or changed nothing). */
export interface ContainerEffects {
    /** Containers that ran and were stopped by the apply's restart of dockerd. */
    stopped: string[];
    /** Containers under the previous root that the switch hid (`docker ps -a` no longer lists them). */
    hidden: string[];
    /** The operator's remap user this apply took over (`takeOverRemap`), or null. */
    remapTakenOverFrom: string | null;
}

/** The effects an apply's report records: a restart stopped what ran before it. */
export function containerEffects(report: DockerRemapReport): ContainerEffects {
    return {
        stopped: report.restarted ? report.runningBefore ?? [] : [],
        hidden: report.invisibleContainers ?? [],
        remapTakenOverFrom: report.tookOver ?? null,
    };
}

/** What `docker-remap.sh apply` reported (its JSON on stdout; see the script's header). */
export interface DockerRemapReport extends ScriptReport {
    config?: string;
    changed?: boolean;
    restarted?: boolean;
    installed?: boolean;
    /** python3 or jq: the tool that merged daemon.json. */
    jsonTool?: string;
    validatedBy?: string | null;
    backup?: string | null;
    user?: { name: string; uid: number; gid: number; created: boolean; subuid: { start: number; count: number }; subgid: { start: number; count: number } };
    runningBefore?: string[];
    invisibleContainers?: string[];
    /** The remap user of before that this apply took over (`takeOverRemap`), or null. */
    tookOver?: string | null;
    securityOptions?: string[];
    dockerRootDir?: string;
    seconds?: number;
}

/**
 * Rootful Docker whose container root is an unprivileged host UID: creates the remap user,
 * merges `"userns-remap"` (and `daemonOptions`) into /etc/docker/daemon.json keeping every
 * other key, validates, restarts Docker and rolls back if it does not come up.
 * `pulumi destroy` restores the previous daemon.json and restarts Docker.
 *
 * A daemon.json that is a symlink (into a config-management directory, say) stays a link: the
 * link's target is written atomically (temp file beside it, then rename) and given its original
 * bytes back on destroy; backups and markers stay in /etc/docker. A dangling link is refused
 * before anything is written, naming the link. With `installDocker` (the default) a host without
 * a static busybox also gets one (busybox-static): verification builds its test image from it.
 */
export class DockerUsernsRemap extends pulumi.ComponentResource {
    /** The remap user. */
    public readonly remapUser: pulumi.Output<string>;
    /** The host script's report of the last apply. */
    public readonly report: pulumi.Output<DockerRemapReport>;
    /** What the last apply did to containers it found (stopped, hidden, a remap taken over). */
    public readonly containers: pulumi.Output<ContainerEffects>;
    /** The command that configures Docker (for `dependsOn`). */
    public readonly command: HostWork;

    constructor(name: string, args: DockerUsernsRemapArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hardened-hosts:docker:DockerUsernsRemap", name, {}, opts);
        // Every problem of the arguments at once, before anything is registered.
        const problems = new Problems(this);
        const user = problems.check("remapUser", args.remapUser ?? "dockremap", runtimeUserProblem);
        const range = problems.check("range", args.range, containerRangeProblem);
        const checkedOptions = problems.check("daemonOptions", args.daemonOptions ?? {}, (o) => {
            if (o === null || typeof o !== "object" || Array.isArray(o)) return "must be an object of daemon.json keys";
            if ("userns-remap" in o) return `"userns-remap" is set by this component from remapUser`;
            return undefined;
        });
        const stack = problems.check("stack", args.stack ?? defaultStackName(), (s) =>
            /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/.test(s) ? undefined : `${JSON.stringify(s)} is not PROJECT/STACK (letters, digits, . _ -)`);
        const containers = problems.check("existingContainers", args.existingContainers ?? "refuse", (c) =>
            c === "refuse" || c === "stop" ? undefined : `${JSON.stringify(c)} is not "refuse" (the default) or "stop"`);
        problems.throwIfAny();
        // Top-level keys sorted, so the command (and the preview) only changes when values do.
        const options = checkedOptions.apply((o) =>
            JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))));

        this.remapUser = user;
        this.command = runHostScript(
            `${name}-daemon`,
            {
                connection: args.connection,
                script: "docker/docker-remap.sh",
                create: pulumi
                    .all([user, options, args.installDocker ?? true, args.requireNoContainers ?? false, range, stack, args.takeOverRemap ?? false, containers])
                    .apply(([u, o, install, noContainers, r, st, takeOver, ctr]) => [
                        "apply",
                        "--user", u,
                        "--options", o,
                        "--install", install ? "yes" : "no",
                        "--require-no-containers", noContainers ? "yes" : "no",
                        // An update, never a replace: a replace would run the old remove (back to
                        // the original daemon.json) after the new apply. apply restarts dockerd
                        // when it runs remapped to another range (it reads /etc/subuid at start).
                        "--range", `${r.start}:${r.count}`,
                        "--stack", st,
                        ...(takeOver ? ["--take-over-remap", "yes"] : []),
                        // refuse is the script's default: the command line (and the preview) only
                        // grows for the opt-in.
                        ...(ctr === "stop" ? ["--containers", ctr] : []),
                    ]),
                delete: pulumi.all([user, stack]).apply(([u, st]) => ["remove", "--user", u, "--stack", st]),
                // Constant: only a change of mode (another command taking over) replaces.
                triggers: ["userns-remap"],
            },
            // The command itself waits for what the component waits for (see runHostScript).
            // Replaced only when it takes over another mode's command: that one's remove first.
            { parent: this, dependsOn: opts?.dependsOn, aliases: args.takesOver, deleteBeforeReplace: true },
        );
        this.report = this.command.stdout.apply((out) => parseReport<DockerRemapReport>(out, "docker-remap.sh"));
        this.containers = this.report.apply(containerEffects);
        // The report is the step's stdout, in its HostWork's state: not stored twice (issue #29).
        this.registerOutputs({ remapUser: this.remapUser, containers: this.containers });
    }
}
