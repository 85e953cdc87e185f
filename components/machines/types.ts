import * as pulumi from "@pulumi/pulumi";
import { HostConnection } from "../host/connection";
import { Ec2Machine, Ec2MachineArgs } from "./ec2";
import { componentError } from "../host/validate";
import { ExistingMachineSpec, existingMachineConnection } from "./existing";

export type { ExistingMachineSpec } from "./existing";

/** A machine created on EC2 (see {@link Ec2MachineArgs}). */
export interface Ec2MachineSpec extends Ec2MachineArgs {
    kind: "ec2";
}

/** Every kind of machine the stacks can harden. */
export type MachineSpec = Ec2MachineSpec | ExistingMachineSpec;

/** What every machine kind ends in: one connection, and what host work must wait for. */
export interface Machine {
    kind: MachineSpec["kind"];
    /** The SSH connection, field by field (`HardenedHost` / `FleetHostSpec` take it as is). */
    connection: HostConnection;
    /** Resources host work must wait for (an EC2 machine's `ready`); empty for existing hosts. */
    dependsOn: pulumi.Resource[];
    /** The component that created the machine, when one did. */
    resource?: Ec2Machine;
}

/**
 * Turns a machine spec into its connection: an {@link Ec2Machine} named `name` for `ec2`, checks
 * only (no resource, no cloud call) for `existing`. Invalid plain arguments throw a
 * `pulumi.ResourceError` naming the field.
 *
 * @param opts options of the created component (`parent` is also where an existing host's errors
 *     and warnings are reported).
 */
export function machineConnection(name: string, spec: MachineSpec, opts?: pulumi.ComponentResourceOptions): Machine {
    switch (spec.kind) {
        case "ec2": {
            const machine = new Ec2Machine(name, spec, opts);
            return { kind: "ec2", connection: machine.hostConnection, dependsOn: [machine.ready], resource: machine };
        }
        case "existing":
            return { kind: "existing", connection: existingMachineConnection(name, spec, opts?.parent), dependsOn: [] };
        default: {
            const other: never = spec;
            throw componentError(
                `machine ${JSON.stringify(name)}: kind: ${JSON.stringify((other as { kind: unknown }).kind)} is not one of "ec2", "existing"`,
                opts?.parent,
            );
        }
    }
}
