/**
 * The component as the schema describes it: the SDK's analyzer (run by scripts/provider-schema.js,
 * never at runtime) reads this declaration's constructor `args` type and its output properties.
 * Nothing here runs: the provider constructs the library's own HardenedFleet (same type token)
 * from these arguments (fleet-args.ts maps them).
 */
import * as pulumi from "@pulumi/pulumi";
import { AllocatedRange, ContainerEffectsResult, FleetArgs, FleetSummaryResult, HostVerificationResult } from "./fleet-args";

/**
 * Many hosts, one subordinate-ID allocation: every tenant and runtime owner has the same range on
 * every host. Each host gets its /etc/subuid and /etc/subgid lines, its container runtime
 * hardened (rootful Docker with userns-remap, rootless Docker or Podman, rootful Podman with a
 * user namespace per container) and is verified after deploy. Every wrong argument is reported
 * in one error before any host is contacted.
 */
export declare class HardenedFleet extends pulumi.ComponentResource {
    /** The fleet's allocation, owner -> range: the same on every host. */
    readonly allocation: pulumi.Output<Record<string, AllocatedRange>>;
    /** The allocation as a text table. */
    readonly table: pulumi.Output<string>;
    /** Hosts passed and failed, and the failed checks. */
    readonly summary: pulumi.Output<FleetSummaryResult>;
    /** Each verified host's result, by host name: passed, and every check with what was observed. */
    readonly verification: pulumi.Output<Record<string, HostVerificationResult>>;
    /** Hosts whose runtime apply stopped or hid containers, or took over a remap (opt-ins only), by host name. */
    readonly containers: pulumi.Output<Record<string, ContainerEffectsResult>>;
    constructor(name: string, args: FleetArgs, opts?: pulumi.ComponentResourceOptions);
}
