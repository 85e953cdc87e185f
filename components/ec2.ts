/**
 * `hardened-hosts/ec2`: machines made on EC2, each ending in the same `HostConnection` as a
 * bring-your-own host. The only entry that loads `@pulumi/aws` (an optional peer dependency of
 * the package: a program that never imports this entry does not need it installed).
 */
export type { DistroImage, Ec2Distro, Ec2MachineArgs } from "./machines/ec2";
export { DISTRO_IMAGES, Ec2Machine, MANAGED_TAG, SSH_READY_COMMAND, SSH_READY_DIAL, amiQuery } from "./machines/ec2";
export type { Ec2MachineSpec, Machine, MachineSpec } from "./machines/types";
export { machineConnection } from "./machines/types";
