import * as pulumi from "@pulumi/pulumi";
import { HostConnection, commandConnection, needsSudo } from "../host/connection";
import { scriptCommandLine } from "../host/script-files";
import type { PlainConnection } from "../host/ssh-exec";
import { Problems, nonRootUserProblem } from "../host/validate";
import { IdRange, containerRangeProblem } from "../subids/ranges";
import { HostResult, VERIFY_RUNTIMES, VerifyRuntime } from "./checks";
import { HostCheck, HostStepInput } from "./host-check";

/** Arguments of {@link HostVerification}. */
export interface HostVerificationArgs {
    /** The host. */
    connection: HostConnection;
    /**
     * What to verify: rootful Docker with userns-remap, rootless Docker, rootless Podman, or
     * rootful Podman with automatic user namespaces (podman-auto).
     */
    runtime: VerifyRuntime;
    /** The remap user (docker-remap), the runtime's owner (rootless modes) or the pool owner (podman-auto). */
    user: pulumi.Input<string>;
    /** The user's planned subordinate range (the same for /etc/subuid and /etc/subgid); podman-auto: the pool. */
    expectedRange: pulumi.Input<IdRange>;
    /** podman-auto (required there): the planned IDs per container. */
    autoSize?: pulumi.Input<number>;
    /**
     * Every `owner:start:count` line the subids step wrote on this host (tenants included, e.g.
     * `HostSubids.lines`): each must be in /etc/subuid and /etc/subgid as written; a line removed,
     * changed or given to another owner fails `subuid-managed-lines` / `subgid-managed-lines`,
     * drift a refresh sees and the next `up` repairs by re-running the subids step. Default none.
     */
    expectedLines?: pulumi.Input<string[]>;
    /**
     * Test image, already on the host (never pulled). Default: verify.sh imports the host's static
     * busybox as `hardened-hosts/verify:busybox` for the run and removes it afterwards.
     */
    image?: pulumi.Input<string>;
    /** The daemon address (docker modes). Default: the host's default / the user's rootless socket. */
    dockerHost?: pulumi.Input<string>;
    /** Export the result without failing the update when a check fails. Default false. */
    reportOnly?: pulumi.Input<boolean>;
    /**
     * Values whose change must re-run the checks: what the verified state depends on, e.g. the
     * runtime component's report, the ranges, the daemon options. The checks also re-run when any
     * argument above changes; a `pulumi up` with no change runs nothing.
     */
    rerunOn?: pulumi.Input<any[]>;
    /** The host's name in the result and in error messages. Default: `connection.host`. */
    hostName?: pulumi.Input<string>;
    /**
     * The host steps whose drift this verification repairs on the next `up` after a refresh saw
     * it (their exact command lines and scripts). Default none: drift is reported, not repaired.
     */
    steps?: HostStepInput[];
}


/** Shapes a Docker host address or an image reference may take on verify.sh's command line. */
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$/;
const DOCKER_HOST = /^(unix|tcp|ssh|fd):\/\/[A-Za-z0-9._/:@%+=,~-]+$/;

/** What is wrong with `autoSize` for this runtime, if anything ("" or nothing: not given). */
function autoSizeProblem(runtime: VerifyRuntime, size: unknown): string | undefined {
    if (runtime === "kubelet-userns") {
        return typeof size === "number" && Number.isInteger(size) && size >= 65536 && size % 65536 === 0
            ? undefined : `kubelet-userns needs idsPerPod (a multiple of 65536), not ${JSON.stringify(size)}`;
    }
    if (runtime !== "podman-auto") return size === "" || size === undefined || size === null ? undefined : `is for podman-auto and kubelet-userns, not ${runtime}`;
    return typeof size === "number" && Number.isInteger(size) && size >= 1 && size <= 65536
        ? undefined : `podman-auto needs the IDs per container (1-65536), not ${JSON.stringify(size)}`;
}

/**
 * Proves after deploy that a host's container runtime is hardened as planned: runs
 * `verify/verify.sh observe` on the host (containers from a throw-away busybox image; nothing is
 * left behind), turns its raw observations into checks (`checks.ts`), and exports them as
 * `result`. A failed check fails the update with every failed check's observed and expected
 * values, unless `reportOnly`.
 *
 * The checks run when the component is created, whenever an argument or a `rerunOn` value
 * changes, and on every `pulumi refresh` (read-only: `HostCheck`, see host-check.ts). Drift a
 * refresh saw shows in the next preview and is repaired by the next `up` (the drifted `steps`
 * are re-run, then the host is observed again). A host fixed by hand: `pulumi up --refresh`.
 */
export class HostVerification extends pulumi.ComponentResource {
    /** The host result: checks, ID maps, container root's host UID, runtime version, image. */
    public readonly result: pulumi.Output<HostResult>;
    /** Whether every check of severity "error" passed. */
    public readonly passed: pulumi.Output<boolean>;
    /** The dynamic resource that observes the host (and re-runs drifted steps); for `dependsOn`. */
    public readonly check: HostCheck;

    constructor(name: string, args: HostVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("hardened-hosts:verify:HostVerification", name, {}, opts);
        // Every problem of the arguments at once, before anything is registered.
        const problems = new Problems(this);
        const runtime = problems.check<VerifyRuntime>("runtime", args.runtime, (r) => {
            switch (r) {
                case "docker-remap":
                case "docker-rootless":
                case "podman":
                case "podman-auto":
                case "kubelet-userns":
                    return undefined;
                default: {
                    const other: never = r;
                    return `${JSON.stringify(other)} is not one of ${VERIFY_RUNTIMES.map((m) => JSON.stringify(m)).join(", ")}`;
                }
            }
        });
        const user = problems.check("user", args.user, nonRootUserProblem);
        const checkedRange = problems.check("expectedRange", args.expectedRange, (r) =>
            r === null || typeof r !== "object" ? "must be {start, count}" : containerRangeProblem(r));
        // Empty (or an Output resolving to nothing) means the default.
        const checkedImage = problems.check("image", args.image ?? "", (i) =>
            i === undefined || i === null || i === "" || (typeof i === "string" && IMAGE.test(i)) ? undefined : `${JSON.stringify(i)} is not an image reference (${IMAGE.source})`);
        const checkedDockerHost = problems.check("dockerHost", args.dockerHost ?? "", (h) => {
            if (h === "" || h === undefined || h === null) return undefined;
            if (typeof h !== "string" || !DOCKER_HOST.test(h)) return `${JSON.stringify(h)} is not a daemon address (${DOCKER_HOST.source})`;
            if (args.runtime === "podman" || args.runtime === "podman-auto" || args.runtime === "kubelet-userns") return `is for the docker runtimes, not ${args.runtime}`;
            return undefined;
        });
        const checkedReportOnly = problems.check("reportOnly", args.reportOnly ?? false, (b) =>
            b === undefined || b === null || typeof b === "boolean" ? undefined : `must be true or false, not ${JSON.stringify(b)}`);
        // Required for podman-auto, refused for the others; checked with the runtime (now when both
        // are plain values, else when they resolve).
        const autoInputs: [pulumi.Input<VerifyRuntime>, pulumi.Input<number | "">] = [args.runtime, args.autoSize ?? ""];
        const checkedAuto = problems.check<[VerifyRuntime, number | ""]>("autoSize",
            autoInputs.some((x) => pulumi.Output.isInstance(x) || x instanceof Promise)
                ? pulumi.all(autoInputs) as pulumi.Output<[VerifyRuntime, number | ""]>
                : autoInputs as [VerifyRuntime, number | ""],
            ([rt, z]) => autoSizeProblem(rt, z));
        problems.throwIfAny();
        const range = checkedRange.apply((r) => ({ start: r.start, count: r.count }));
        const image = checkedImage.apply((i) => i ?? "");
        const dockerHost = checkedDockerHost.apply((h) => h ?? "");
        const reportOnly = checkedReportOnly.apply((b) => b ?? false);
        const autoSize = checkedAuto.apply(([rt, z]) => (rt === "podman-auto" || rt === "kubelet-userns" ? (z as number) : undefined));
        const hostName = pulumi.output(args.hostName ?? args.connection.host);

        const expectedLines = pulumi.output(args.expectedLines ?? []);
        const observeArgs = pulumi.all([runtime, user, range, image, dockerHost, autoSize, expectedLines]).apply(([rt, u, r, img, dh, z, lines]) => [
            "observe",
            "--runtime", rt,
            "--user", u,
            "--expect-range", `${r.start}:${r.count}`,
            ...(img ? ["--image", img] : []),
            ...(dh ? ["--docker-host", dh] : []),
            ...(z !== undefined ? ["--auto-size", String(z)] : []),
            ...(lines.length > 0 ? ["--expect-lines", lines.join(" ")] : []),
        ]);
        const rerunOn = pulumi.output(args.rerunOn ?? []).apply((xs) => xs.map((x) => (typeof x === "string" ? x : JSON.stringify(x))));
        this.check = new HostCheck(
            `${name}-check`,
            {
                connection: commandConnection(args.connection) as pulumi.Input<PlainConnection>,
                host: hostName,
                runtime,
                user,
                expectedRange: range,
                autoSize,
                reportOnly,
                observe: pulumi.all([observeArgs, needsSudo(args.connection)]).apply(([a, sudo]) => scriptCommandLine(a, sudo)),
                rerunOn,
                steps: args.steps ?? [],
                verifyScript: "verify/verify.sh",
            },
            // The check waits for what the component waits for (the SDK does not pass dependsOn on).
            { parent: this, dependsOn: opts?.dependsOn },
        );
        this.result = this.check.result;
        this.passed = this.result.apply((r) => r.passed);
        // The result is in the check's state; stored again here it was 7 KB a host (issue #29).
        this.registerOutputs({ passed: this.passed });
    }
}
