import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HostConnection } from "../host/connection";
import { runHostScript } from "../host/script";
import { componentError, nonRootUserProblem, validated, validatedField } from "../host/validate";
import { IdRange, containerRangeProblem } from "../subids/ranges";


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
}

/** What `docker-remap.sh apply` reported (its JSON on stdout). */
export type DockerRemapReport = Record<string, unknown>;

/**
 * Rootful Docker whose container root is an unprivileged host UID: creates the remap user,
 * merges `"userns-remap"` (and `daemonOptions`) into /etc/docker/daemon.json keeping every
 * other key, validates, restarts Docker and rolls back if it does not come up.
 * `pulumi destroy` restores the previous daemon.json and restarts Docker.
 */
export class DockerUsernsRemap extends pulumi.ComponentResource {
    /** The remap user. */
    public readonly remapUser: pulumi.Output<string>;
    /** The host script's report of the last apply. */
    public readonly report: pulumi.Output<DockerRemapReport>;
    /** The command that configures Docker (for `dependsOn`). */
    public readonly command: command.remote.Command;

    constructor(name: string, args: DockerUsernsRemapArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hardened-hosts:docker:DockerUsernsRemap", name, {}, opts);
        const fail = (field: string, why: string) => componentError(`${field}: ${why}`, this);

        const user = validatedField(this, "remapUser", args.remapUser ?? "dockremap", nonRootUserProblem);
        const range = validatedField(this, "range", args.range, containerRangeProblem);
        const options = validated(args.daemonOptions ?? {}, (o) => {
            if (o === null || typeof o !== "object" || Array.isArray(o)) throw fail("daemonOptions", "must be an object of daemon.json keys");
            if ("userns-remap" in o) throw fail("daemonOptions", `"userns-remap" is set by this component from remapUser`);
            // Top-level keys sorted, so the command (and the preview) only changes when values do.
            return JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
        });

        this.remapUser = user;
        this.command = runHostScript(
            `${name}-daemon`,
            {
                connection: args.connection,
                script: "docker/docker-remap.sh",
                create: pulumi
                    .all([user, options, args.installDocker ?? true, args.requireNoContainers ?? false])
                    .apply(([u, o, install, noContainers]) => [
                        "apply",
                        "--user", u,
                        "--options", o,
                        "--install", install ? "yes" : "no",
                        "--require-no-containers", noContainers ? "yes" : "no",
                    ]),
                delete: user.apply((u) => ["remove", "--user", u]),
                // dockerd reads /etc/subuid only when it starts: a new range needs a restart,
                // which replace (remove, then apply) gives.
                triggers: [range.apply((r) => `${r.start}:${r.count}`)],
            },
            // The command itself waits for what the component waits for (see runHostScript).
            { parent: this, dependsOn: opts?.dependsOn },
        );
        this.report = this.command.stdout.apply((out) => JSON.parse(out.trim().split("\n").pop() ?? "{}") as DockerRemapReport);
        this.registerOutputs({ remapUser: this.remapUser, report: this.report });
    }
}
