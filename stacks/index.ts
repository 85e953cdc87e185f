import * as path from "node:path";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
// The library only through its public entries, as a user's program has it (package.json
// "exports"; here Node resolves the package's own name to this checkout's dist/).
import { FleetHostSpec, HardenedFleet, SubidLedger, describeDecision, existingMachineConnection, hostSummary, ledgerFromStack } from "hardened-hosts";
import type { Ec2Machine } from "hardened-hosts/ec2";
import { FleetHostConfig, FleetRanges, StackPlan, parseStackConfig } from "./config";
import { readLabPrivateKey } from "./lab-inventory";

// The stack program: what it builds is decided by the typed config (see Pulumi.yaml and
// stacks/Pulumi.*.yaml). Config mistakes stop the preview with the key named.
const NS = "hardened-hosts";
const cfg = new pulumi.Config(NS);

/**
 * The project root, the directory of Pulumi.yaml (its `main`, stacks/main.js, loads this file):
 * relative paths in config (the lab inventory) start here, whatever directory `pulumi` was run from.
 */
const projectRoot = path.resolve(__dirname, "..");

function build(p: StackPlan): Record<string, pulumi.Input<unknown>> {
    // Every fleet kind ends in one HardenedFleet: after the connection, one code path.
    const fleet = <H extends FleetHostConfig>(
        plan: { hosts: H[]; reportOnly: boolean } & FleetRanges,
        machine: (h: H) => Pick<FleetHostSpec, "connection" | "dependsOn">,
    ) => {
        const f = new HardenedFleet("fleet", {
            // A shard's ranges come from its ledger stack's outputs (#29); others keep their own ledger.
            ...(plan.ledgerStack === undefined ? { tenants: plan.tenants } : { ledger: ledgerFromStack(plan.ledgerStack) }),
            hosts: Object.fromEntries(plan.hosts.map((h) => [h.name, {
                ...machine(h),
                runtime: h.runtime,
                tenants: h.tenants,
                verify: { reportOnly: plan.reportOnly },
            }])),
        });
        return {
            allocation: f.allocation,
            allocationTable: f.table,
            summary: f.summary,
            // One line per check, and not the time it was taken (that changes on every refresh):
            // a preview prints a touched host's whole entry. Times: observedAt.
            hosts: Object.fromEntries(Object.entries(f.hosts).map(([n, h]) => [n, h.verification?.apply(hostSummary)])),
            observedAt: Object.fromEntries(Object.entries(f.hosts).map(([n, h]) => [n, h.verification?.apply((r) => r.verifiedAt)])),
            // #30: each host's distribution decided for its mode (supported and how, or refused and why).
            support: Object.fromEntries(Object.entries(f.hosts).map(([n, h]) => [n, h.support.apply(describeDecision)])),
            // #28: containers an opted-in apply stopped or hid, and remaps taken over, by host.
            containers: f.containers,
        };
    };

    // Existing and lab hosts: one SSH connection each (a non-root login user runs host scripts
    // through `sudo -n`).
    const sshHost = (h: { name: string; address: string; port: number; user: string; hostKey?: string },
        privateKey: pulumi.Input<string>) => existingMachineConnection(h.name, {
        kind: "existing", address: h.address, port: h.port, user: h.user, privateKey, hostKey: h.hostKey,
    });

    switch (p.kind) {
        case "probe": {
            // A stack that sets nothing: proves the offline toolchain works, touching no host.
            const probe = new command.local.Command("toolchain-probe", { create: "uname -srm" });
            return { kernel: probe.stdout };
        }
        case "ledger": {
            // The allocation of a fleet split over shard stacks (#29): published as outputs, read
            // by each shard through a StackReference (hardened-hosts:ledgerStack). Its name and
            // scope are the ones a fleet's own ledger has ("fleet-subids", "fleet").
            const owners = { ...p.runtimeOwners, ...p.tenants };
            const ledger = new SubidLedger("fleet-subids", {
                scope: "fleet",
                requests: Object.keys(owners).sort().map((owner) => (owners[owner]!.size === undefined ? { owner } : { owner, size: owners[owner]!.size! })),
            });
            return { allocation: ledger.allocation, allocationTable: ledger.table, tenants: Object.keys(p.tenants).sort() };
        }
        case "existing":
            return fleet(p, (h) => ({ connection: sshHost(h, cfg.requireSecret(h.privateKeyKey)) }));
        case "aws": {
            // One EC2 instance per host, named after it; the region is the AWS provider's config.
            // Loaded here, not at the top: @pulumi/aws takes ~1 s to load, which every other
            // kind's preview would pay for nothing (#16).
            const { Ec2Machine } = require("hardened-hosts/ec2") as typeof import("hardened-hosts/ec2");
            const privateKey = cfg.requireSecret(p.aws.privateKeyKey);
            const machines: Record<string, Ec2Machine> = {};
            const { privateKeyKey: _key, ...machineArgs } = p.aws;
            const outputs = fleet(p, (h) => {
                const m = new Ec2Machine(h.name, { ...machineArgs, privateKey });
                machines[h.name] = m;
                return { connection: m.hostConnection, dependsOn: [m.ready] };
            });
            return {
                ...outputs,
                machines: Object.fromEntries(Object.entries(machines).map(([n, m]) => [n, {
                    instanceId: m.instanceId,
                    publicIp: m.publicIp,
                    privateIp: m.privateIp,
                    amiId: m.amiId,
                    loginUser: m.loginUser,
                }])),
            };
        }
        case "lab":
            // Reached like existing hosts; the key is read from the lab's key file, secret from the start.
            return fleet(p, (h) => ({ connection: sshHost(h, pulumi.secret(readLabPrivateKey(h, `${NS}:labInventory`))) }));
        default: {
            const other: never = p;
            throw new Error(`unknown plan ${JSON.stringify(other)}`);
        }
    }
}

// Structured values arrive as JSON, plain strings as themselves. A bad value throws a
// ConfigError, the RunError the program ends with.
const plan = parseStackConfig((key) => {
    const raw = cfg.get(key);
    if (raw === undefined) return undefined;
    try {
        return JSON.parse(raw);
    } catch {
        return raw;
    }
}, NS, { projectRoot });
const outputs: Record<string, pulumi.Input<unknown>> = build(plan);

/** The stack outputs; each kind sets only its own. */
interface StackOutputs {
    /** probe: the kernel the toolchain check ran on. */
    kernel?: pulumi.Input<unknown>;
    /** Fleets (existing, aws, lab): owner -> {start, count}, the fleet-wide allocation. */
    allocation?: pulumi.Input<unknown>;
    /** ledger: the tenants of the allocation (a shard's host that names none gets them all). */
    tenants?: pulumi.Input<unknown>;
    /** Fleets: the allocation as a table, for reading. */
    allocationTable?: pulumi.Input<unknown>;
    /** Fleets: hosts passed and failed, and the failing checks. */
    summary?: pulumi.Input<unknown>;
    /** Fleets: each host's verification result (per check: passed, expected, observed). */
    hosts?: pulumi.Input<unknown>;
    /** Fleets: when each host was last observed (up, or refresh), by the host's clock. */
    observedAt?: pulumi.Input<unknown>;
    /** Fleets: per host, whether its distribution supports its mode and how, or why not (#30). */
    support?: pulumi.Input<unknown>;
    /**
     * Fleets: per host whose runtime apply stopped or hid containers or took over a remap (only
     * with `existingContainers: stop` or `takeOverRemap: true`), what it did; `{}` otherwise.
     */
    containers?: pulumi.Input<unknown>;
    /** aws: instance ID, addresses, image and login user per host. */
    machines?: pulumi.Input<unknown>;
}

// Only the outputs this kind has are exported: an undefined export prints a warning in every
// preview, noise a reviewer would have to read past.
export = Object.fromEntries(Object.entries(outputs).filter(([, v]) => v !== undefined)) as StackOutputs;
