/**
 * Machines: every kind (EC2, bring-your-own) ends in one `HostConnection`, so the hardening
 * after it is one code path.
 */
export type { Ec2MachineSpec, Machine, MachineSpec } from "./types";
export { machineConnection } from "./types";
export type { DistroImage, Ec2Distro, Ec2MachineArgs } from "./ec2";
export { DISTRO_IMAGES, Ec2Machine, MANAGED_TAG, SSH_READY_COMMAND, SSH_READY_DIAL, amiQuery } from "./ec2";
export type { BastionSpec, ExistingConnection, ExistingMachineSpec } from "./existing";
export { existingMachineConnection } from "./existing";
export type { Cidr } from "./checks";
export { MIN_SSH_PREFIX, parseSshCidr, sshCidrsProblem } from "./checks";
