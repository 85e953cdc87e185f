/**
 * Entry point of the `pulumi-resource-hardened-hosts` plugin (the launcher next to this file runs
 * it): serves the component provider over gRPC to the engine.
 */
import { provider } from "@pulumi/pulumi";
import { FleetProvider } from "./provider";

provider.main(new FleetProvider(), process.argv.slice(2)).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
});
