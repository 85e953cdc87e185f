import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { HardenedFleet } from "../components/fleet/hardened-fleet";
import { existingMachineConnection } from "../components/machines/existing";
import { ConfigError, StackPlan, parseStackConfig } from "./config";

// The stack program: what it builds is decided by the typed config (see Pulumi.yaml and
// stacks/Pulumi.*.yaml). Config mistakes stop the preview with the key named.
const cfg = new pulumi.Config("hardened-hosts");
let plan: StackPlan;
try {
    // Structured values arrive as JSON, plain strings as themselves.
    plan = parseStackConfig((key) => {
        const raw = cfg.get(key);
        if (raw === undefined) return undefined;
        try {
            return JSON.parse(raw);
        } catch {
            return raw;
        }
    });
} catch (e) {
    if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
    throw e;
}

function build(p: StackPlan): Record<string, pulumi.Input<unknown>> {
    switch (p.kind) {
        case "probe": {
            // Until the local test hosts exist (issue 8), the default stack proves that the
            // offline toolchain works end to end on this machine.
            const probe = new command.local.Command("toolchain-probe", { create: "uname -srm" });
            return { kernel: probe.stdout };
        }
        case "existing": {
            const fleet = new HardenedFleet("fleet", {
                tenants: p.tenants,
                hosts: Object.fromEntries(p.hosts.map((h) => [h.name, {
                    connection: existingMachineConnection(h.name, {
                        kind: "existing",
                        address: h.address,
                        port: h.port,
                        user: h.user,
                        privateKey: cfg.requireSecret(h.privateKeyKey),
                        hostKey: h.hostKey,
                    }),
                    runtime: h.runtime,
                    tenants: h.tenants,
                    verify: { reportOnly: p.reportOnly },
                }])),
            });
            return {
                allocation: fleet.allocation,
                allocationTable: fleet.table,
                summary: fleet.summary,
                hosts: Object.fromEntries(Object.entries(fleet.hosts).map(([n, h]) => [n, h.verification])),
            };
        }
        default: {
            const other: never = p;
            throw new Error(`unknown plan ${JSON.stringify(other)}`);
        }
    }
}

const outputs = build(plan);
/** Per-kind outputs: `kernel` (probe); `allocation`, `allocationTable`, `summary`, `hosts` (fleets). */
export const kernel = outputs["kernel"];
export const allocation = outputs["allocation"];
export const allocationTable = outputs["allocationTable"];
export const summary = outputs["summary"];
export const hosts = outputs["hosts"];
