/**
 * hardened-hosts: Pulumi components that turn plain Linux machines into hardened container hosts.
 *
 * - `subids/`: subordinate ID ranges (/etc/subuid, /etc/subgid): file format, allocator, ledger,
 *   the host-side writer.
 * - `docker/`: rootful Docker with userns-remap.
 * - `rootless/`: rootless Docker and rootless Podman for a named user.
 * - `podman/`: rootful Podman with an automatic user namespace per container (podman-auto).
 * - `kubernetes/`: a Kubernetes node's pods in the kubelet range (kubelet-userns).
 * - `verify/`: post-deploy verification and its checks.
 * - `fleet/`: HardenedHost (one machine) and HardenedFleet (many, one allocation).
 * - `host/`: the SSH connection, quoting, and how host scripts are run.
 * - `machines/`: bring-your-own hosts (here) and EC2 instances (`hardened-hosts/ec2`, ./ec2.ts),
 *   each ending in one HostConnection.
 */
export * from "./subids";
export * from "./verify";
export * from "./host/connection";
export { runHostScript, scriptCommandLine } from "./host/script";
export { HostWork, HOST_WORK_TYPE } from "./host/host-work";
export type { HostWorkArgs } from "./host/host-work";
export { shellJoin, shellQuote } from "./host/shell";
export { DockerUsernsRemap, containerEffects } from "./docker/remap";
export type { ContainerEffects, DockerUsernsRemapArgs, DockerRemapReport, ExistingContainers } from "./docker/remap";
export { RootlessRuntime } from "./rootless/runtime";
export type { RootlessMode, RootlessRuntimeArgs, RootlessReport } from "./rootless/runtime";
export { PodmanAuto, DEFAULT_AUTO_SIZE, DEFAULT_AUTO_SLOTS, DEFAULT_POOL_OWNER } from "./podman/podman-auto";
export type { PodmanAutoArgs, PodmanAutoReport } from "./podman/podman-auto";
export { HardenedHost, RUNTIME_MODES, runtimeOwner, runtimeRangeSize } from "./fleet/hardened-host";
export type { HardenedHostArgs, KubeletUsernsRuntime, PodmanAutoRuntime, RuntimeSpec, RootlessRuntimeSpec, UsernsRemapRuntime } from "./fleet/hardened-host";
export { KubeletUserns, DEFAULT_IDS_PER_POD, DEFAULT_MAX_PODS, KUBELET_OWNER, idsPerPodProblem, maxPodsProblem, kubeletRangeProblem } from "./kubernetes/kubelet-userns";
export type { KubeletUsernsArgs, KubeletUsernsReport } from "./kubernetes/kubelet-userns";
export { HardenedFleet } from "./fleet/hardened-fleet";
export type { FleetHostSpec, HardenedFleetArgs } from "./fleet/hardened-fleet";
export { ledgerFromStack, sharedLedgerProblem } from "./fleet/shard";
export type { SharedLedger } from "./fleet/shard";
export * from "./machines";
export * from "./platform";
// EC2 is the `hardened-hosts/ec2` entry (./ec2.ts): @pulumi/aws is loaded only by programs that use it.

// Input checks, for programs that validate their own configuration with the components' rules
// and words before any resource exists (this repository's stacks/config.ts does). Each returns
// the problem as text, or undefined.
export {
    addressProblem, distroProblem, ec2PublicKeyProblem, hostKeyProblem, instanceTypeProblem, loginUserProblem, passwordProblem,
    portProblem, privateKeyProblem, rootVolumeProblem, subnetIdProblem, tagProblem, vpcIdProblem,
} from "./machines/checks";
export { autoPoolProblem, autoSizeProblem, autoSlotsProblem } from "./podman/podman-auto";
export { Problems, componentError, nonRootUserProblem } from "./host/validate";
export type { ComponentError, Problem } from "./host/validate";
// The EC2 images as plain data (no AWS SDK): a program can check a distro name without hardened-hosts/ec2.
export { DISTRO_IMAGES, MANAGED_TAG } from "./machines/distros";
export type { DistroImage, Ec2Distro } from "./machines/distros";
