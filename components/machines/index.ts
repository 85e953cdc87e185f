/**
 * Machines: every kind (EC2, bring-your-own) ends in one `HostConnection`, so the hardening
 * after it is one code path. EC2 (`Ec2Machine`, `machineConnection`) is the package's
 * `hardened-hosts/ec2` entry (components/ec2.ts): only it loads `@pulumi/aws`.
 */
export type { BastionSpec, ExistingConnection, ExistingMachineSpec } from "./existing";
export { existingMachineConnection } from "./existing";
export type { Cidr } from "./checks";
export { MIN_SSH_PREFIX, parseSshCidr, sshCidrsProblem } from "./checks";
