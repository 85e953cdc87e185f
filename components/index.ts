/**
 * hardened-hosts: Pulumi components that turn plain Linux machines into hardened container hosts.
 *
 * - `subids/`: subordinate ID ranges (/etc/subuid, /etc/subgid): file format, allocator, ledger,
 *   the host-side writer.
 * - `docker/`: rootful Docker with userns-remap.
 * - `rootless/`: rootless Docker and rootless Podman for a named user.
 * - `podman/`: rootful Podman with an automatic user namespace per container (podman-auto).
 * - `verify/`: post-deploy verification and its checks.
 * - `fleet/`: HardenedHost (one machine) and HardenedFleet (many, one allocation).
 * - `host/`: the SSH connection, quoting, and how host scripts are run.
 * - `machines/`: EC2 instances and bring-your-own hosts, each ending in one HostConnection.
 */
export * from "./subids";
export * from "./verify";
export * from "./host/connection";
export { runHostScript, scriptCommandLine } from "./host/script";
export { shellJoin, shellQuote } from "./host/shell";
export { DockerUsernsRemap } from "./docker/remap";
export type { DockerUsernsRemapArgs, DockerRemapReport } from "./docker/remap";
export { RootlessRuntime } from "./rootless/runtime";
export type { RootlessMode, RootlessRuntimeArgs, RootlessReport } from "./rootless/runtime";
export { PodmanAuto, DEFAULT_AUTO_SIZE, DEFAULT_AUTO_SLOTS, DEFAULT_POOL_OWNER } from "./podman/podman-auto";
export type { PodmanAutoArgs, PodmanAutoReport } from "./podman/podman-auto";
export { HardenedHost, RUNTIME_MODES, runtimeOwner, runtimeRangeSize } from "./fleet/hardened-host";
export type { HardenedHostArgs, PodmanAutoRuntime, RuntimeSpec, RootlessRuntimeSpec, UsernsRemapRuntime } from "./fleet/hardened-host";
export { HardenedFleet } from "./fleet/hardened-fleet";
export type { FleetHostSpec, HardenedFleetArgs } from "./fleet/hardened-fleet";
export * from "./machines";
