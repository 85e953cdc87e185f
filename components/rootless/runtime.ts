import type { HostWork } from "../host/host-work";
import * as pulumi from "@pulumi/pulumi";
import { HostConnection } from "../host/connection";
import { runHostScript } from "../host/script";
import { Problems, runtimeUserProblem } from "../host/validate";
import { IdRange, containerRangeProblem } from "../subids/ranges";
import { ScriptReport, parseReport } from "../host/report";
import { ROOTLESS_MODES, RootlessMode, rootlessDecisionArgs } from "./plan";

export { RootlessMode } from "./plan";

/** Arguments of {@link RootlessRuntime}. */
export interface RootlessRuntimeArgs {
    /** The host. */
    connection: HostConnection;
    /** `docker-rootless` (rootlesskit + slirp4netns + dockerd as the user) or `podman`. */
    mode: pulumi.Input<RootlessMode>;
    /** The non-root user that owns the runtime. */
    user: pulumi.Input<string>;
    /** The user's subordinate range, written by `HostSubids` first (pass it in `dependsOn`). */
    range: pulumi.Input<IdRange>;
    /** Create the user when missing (without an automatic subuid range). Default true. */
    createUser?: pulumi.Input<boolean>;
    /**
     * Install missing packages (uidmap, slirp4netns, rootlesskit, docker.io or podman; the list is
     * `rootlessTools` in plan.ts) with apt. Default true. A host of another family with a tool
     * missing fails, naming its distribution.
     */
    installPackages?: pulumi.Input<boolean>;
    /** Set the user's login shell to nologin (restored on destroy). Default false. */
    restrictShell?: pulumi.Input<boolean>;
    /** Delete the user on destroy, when this component created it. Default false. */
    deleteUserOnDestroy?: pulumi.Input<boolean>;
    /**
     * URNs of runtime commands this one takes over on the same host (another mode's, when a
     * host's mode changes). The old one's `remove` then runs before this one's apply. Default none.
     */
    takesOver?: pulumi.Input<string>[];
}

/** What `rootless.sh apply` reported (its JSON on stdout). */
export interface RootlessReport extends ScriptReport {
    changed?: boolean;
    changes?: string[];
    mode?: "docker-rootless" | "podman";
    user?: string;
    uid?: number;
    createdUser?: boolean;
    ranges?: { subuid: unknown; subgid: unknown };
    xdgRuntimeDir?: string;
    /** docker-rootless: the daemon's socket URI. */
    dockerHost?: string;
    /** Reports of rootless.sh before its keys were camelCase. */
    docker_host?: string;
    podmanSocket?: { path: string; active: boolean; [key: string]: unknown };
    runtime?: string;
    storageDriver?: string;
    version?: string;
    rootless?: boolean;
    securityOptions?: string[];
    linger?: { enabled: boolean; how: string; byUs?: boolean; [key: string]: unknown };
    warnings?: string[];
}

/**
 * A container runtime owned by a named non-root user: no part of it runs as host root.
 * Lingering is enabled where systemd runs; elsewhere the report says what is not supervised.
 * `pulumi destroy` stops it and removes what was set up, leaving the user's own files alone.
 *
 * The user's containers.conf and storage.conf may be symlinks: they stay links, their targets are
 * written (as the user) and given their bytes back on destroy. With `installPackages` a host
 * without a static busybox also gets one (busybox-static): verification builds its test image from it.
 */
export class RootlessRuntime extends pulumi.ComponentResource {
    /** The host script's report of the last apply. */
    public readonly report: pulumi.Output<RootlessReport>;
    /** `DOCKER_HOST` the user must use (docker-rootless only). */
    public readonly dockerHost: pulumi.Output<string | undefined>;
    /** The command that sets the runtime up (for `dependsOn`). */
    public readonly command: HostWork;

    constructor(name: string, args: RootlessRuntimeArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hardened-hosts:rootless:RootlessRuntime", name, {}, opts);
        // Every problem of the arguments at once, before anything is registered.
        const problems = new Problems(this);
        const mode = problems.check("mode", args.mode, (m) =>
            (ROOTLESS_MODES as readonly string[]).includes(m) ? undefined : `${JSON.stringify(m)} is not one of ${ROOTLESS_MODES.map((x) => JSON.stringify(x)).join(", ")}`);
        const user = problems.check("user", args.user, runtimeUserProblem);
        const checkedRange = problems.check("range", args.range, containerRangeProblem);
        problems.throwIfAny();
        const range = checkedRange.apply((r) => `${r.start}:${r.count}`);
        const yes = (b: boolean) => (b ? "yes" : "no");

        this.command = runHostScript(
            `${name}-runtime`,
            {
                connection: args.connection,
                script: "rootless/rootless.sh",
                create: pulumi
                    .all([mode, user, range, args.createUser ?? true, args.installPackages ?? true, args.restrictShell ?? false])
                    .apply(([m, u, r, create, install, restrict]) => [
                        "apply", "--mode", m, "--user", u,
                        "--create-user", yes(create), "--install", yes(install),
                        "--restrict-shell", yes(restrict), "--expect-range", r,
                        // Package names, OCI runtimes and storage drivers: decided in plan.ts.
                        ...rootlessDecisionArgs(m),
                    ]),
                delete: pulumi
                    .all([mode, user, args.deleteUserOnDestroy ?? false])
                    .apply(([m, u, del]) => ["remove", "--mode", m, "--user", u, "--delete-user", yes(del)]),
                // A different user or runtime is a different installation: replace, not update,
                // and the old one goes first (its remove must not run after the new apply).
                triggers: [mode, user],
            },
            // The command itself waits for what the component waits for (see runHostScript).
            { parent: this, dependsOn: opts?.dependsOn, aliases: args.takesOver, deleteBeforeReplace: true },
        );
        this.report = this.command.stdout.apply((out) => parseReport<RootlessReport>(out, "rootless.sh"));
        this.dockerHost = this.report.apply((r: RootlessReport) => r.dockerHost ?? r.docker_host);
        // The report is the step's stdout, in its HostWork's state: not stored twice (issue #29).
        this.registerOutputs({ dockerHost: this.dockerHost });
    }
}
