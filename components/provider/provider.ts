/**
 * The hardened-hosts component provider: serves `hardened-hosts:index:HardenedFleet` to programs
 * in any Pulumi language (YAML, Python, Go, ...). Its schema is prebuilt (schema.ts, generated
 * from fleet-args.ts by scripts/provider-schema.js), so neither TypeScript nor the SDK's analyzer
 * is loaded at runtime; `construct` checks the arguments (every problem in one error, before
 * anything is registered) and builds the library's own HardenedFleet, the same component a
 * TypeScript program makes.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type * as provider from "@pulumi/pulumi/provider";
import type { HostResult } from "../verify/checks";
import { SCHEMA } from "./schema";

// The library is loaded on the first construct, not at start: the YAML language host starts the
// plugin once more only to ask for the schema, and that start need not load (or, in a checkout,
// transpile) the components.
type Library = typeof import("../fleet/hardened-fleet") & typeof import("../host/validate") & typeof import("./fleet-args");
let library: Library | undefined;
function load(): Library {
    library ??= {
        ...(require("../fleet/hardened-fleet") as typeof import("../fleet/hardened-fleet")),
        ...(require("../host/validate") as typeof import("../host/validate")),
        ...(require("./fleet-args") as typeof import("./fleet-args")),
    };
    return library;
}

/** The package name of the provider (the plugin is `pulumi-resource-hardened-hosts`). */
export const PACKAGE = "hardened-hosts";
export const FLEET_TYPE = `${PACKAGE}:index:HardenedFleet`;

/** The package's version: the package.json two levels up (components/provider/ or dist/components/provider/ → its package). */
export function packageVersion(dir = __dirname): string {
    for (const up of ["../..", "../../.."]) {
        const file = path.join(dir, up, "package.json");
        if (fs.existsSync(file)) {
            const pkg = JSON.parse(fs.readFileSync(file, "utf8")) as { name?: string; version?: string };
            if (pkg.name === PACKAGE && pkg.version) return pkg.version;
        }
    }
    throw new Error(`no ${PACKAGE} package.json above ${dir}`);
}

/**
 * Turns the one error of {@link Problems} into the SDK's InputPropertiesError, which the engine
 * shows as a list of property paths and reasons (the provider server forwards it as such).
 */
function inputError(e: unknown): unknown {
    const errors = (e as { errors?: { propertyPath: string; reason: string }[] }).errors;
    if (!Array.isArray(errors) || errors.length === 0) return e;
    // The engine lists each problem under the message ("property <path> has a problem: ..."):
    // the message itself only counts them.
    const n = errors.length === 1 ? "1 problem" : `${errors.length} problems`;
    return new pulumi.InputPropertiesError({ message: `${n} in the arguments (nothing was registered, no host was contacted)`, errors });
}

export class FleetProvider implements provider.Provider {
    readonly schema: string;

    constructor(readonly version: string = packageVersion()) {
        this.schema = JSON.stringify({ ...SCHEMA, version });
    }

    async construct(name: string, type: string, inputs: pulumi.Inputs, options: pulumi.ComponentResourceOptions): Promise<provider.ConstructResult> {
        if (type !== FLEET_TYPE) throw new Error(`unknown resource type ${type}: this provider serves ${FLEET_TYPE}`);
        const { HardenedFleet, Problems, allocationResult, containerEffectsResult, fleetArgsFromInputs, verificationResult } = load();
        const problems = new Problems(undefined);
        const args = fleetArgsFromInputs(inputs as Record<string, unknown>, problems);
        try {
            problems.throwIfAny();
        } catch (e) {
            throw inputError(e);
        }
        const fleet = new HardenedFleet(name, args, options);
        const verified = Object.keys(fleet.hosts).sort()
            .map((h) => [h, fleet.hosts[h]!.verification] as const)
            .filter((e): e is readonly [string, pulumi.Output<HostResult>] => e[1] !== undefined);
        const verification = pulumi.all(Object.fromEntries(verified)).apply((r) =>
            Object.fromEntries(Object.entries(r).map(([h, result]) => [h, verificationResult(result)])));
        return {
            urn: fleet.urn,
            state: {
                allocation: fleet.allocation.apply(allocationResult),
                table: fleet.table,
                summary: fleet.summary,
                verification,
                containers: fleet.containers.apply(containerEffectsResult),
            },
        };
    }
}
