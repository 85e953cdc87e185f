/**
 * What rootless.sh is told rather than left to decide: everything about a rootless runtime that
 * needs no fact of the host. Pure functions (no resources, no I/O), rendered into the script's
 * arguments, so a preview shows the decisions in the command line and unit tests cover them
 * (test/rootless/plan.test.ts). The script observes the host (its distribution, cgroup version,
 * systemd, /dev/net/tun, what is installed) and picks from what it was given.
 */

/** The rootless runtimes this component sets up. */
export type RootlessMode = "docker-rootless" | "podman";
/** Every mode, in the order errors list them. */
export const ROOTLESS_MODES: readonly RootlessMode[] = ["docker-rootless", "podman"];

/** The cgroup layouts rootless.sh tells apart (`cgroup_version`). */
export type CgroupVersion = "v1" | "hybrid" | "v2";
/** Podman's storage drivers, as rootless.sh probes them. */
export type StorageDriver = "overlay" | "fuse-overlayfs" | "vfs";
/** OCI runtimes rootless Podman may be given. */
export type OciRuntime = "crun" | "runc";

/**
 * A host fact that decides whether a tool is needed at all (rootless.sh observes it):
 * `systemd` (systemd is PID 1), `tun-closed` (/dev/net/tun is not open to every user), or
 * `oci-runtime` (the tool is the OCI runtime chosen for the host's cgroup version).
 */
export type ToolCondition = "systemd" | "tun-closed" | "oci-runtime";

/** A tool rootless.sh checks for, and the Debian/Ubuntu (apt) packages that provide it. */
export interface ToolPackage {
    /** A command on PATH, or one of the files rootless.sh finds its own way (dockerd-rootless.sh, pam_systemd.so, busybox). */
    tool: string;
    /** Installed in turn while the tool is still missing: the first, then (if it did not bring the tool) the next. */
    packages: string[];
    /** Needed only where this host fact holds; always when absent. */
    when?: ToolCondition;
}

/**
 * The tools a mode needs and their apt packages. Installing is supported through apt only: a
 * host of another family with a tool missing fails with EXIT_UNSUPPORTED naming its distribution
 * (the dnf branch was never run; it went rather than stay untested).
 */
export function rootlessTools(mode: RootlessMode): ToolPackage[] {
    const ids: ToolPackage[] = [
        { tool: "newuidmap", packages: ["uidmap"] },
        { tool: "newgidmap", packages: ["uidmap"] },
        { tool: "slirp4netns", packages: ["slirp4netns"] },
    ];
    const runtime: ToolPackage[] = mode === "docker-rootless"
        ? [
            { tool: "rootlesskit", packages: ["rootlesskit"] },
            { tool: "dockerd", packages: ["docker.io"] },
            // Debian from trixie on ships the CLI as docker-cli, which docker.io only recommends.
            { tool: "docker", packages: ["docker.io", "docker-cli"] },
            { tool: "dockerd-rootless.sh", packages: ["docker.io"] },
            // rootlesskit sets up slirp4netns' tap device with `ip`: without iproute2 (minimal
            // images) the daemon fails at once, and keeps restarting.
            { tool: "ip", packages: ["iproute2"] },
        ]
        : [
            { tool: "podman", packages: ["podman"] },
            { tool: "fuse-overlayfs", packages: ["fuse-overlayfs"] },
            { tool: "crun", packages: ["crun"], when: "oci-runtime" },
            { tool: "runc", packages: ["runc"], when: "oci-runtime" },
        ];
    return [
        ...ids,
        ...runtime,
        // Under systemd the user's manager runs the daemon; it cannot start without the PAM module
        // that sets XDG_RUNTIME_DIR (absent on minimal images).
        { tool: "pam_systemd.so", packages: ["libpam-systemd"], when: "systemd" },
        // The ACL tool only where /dev/net/tun is not open to everyone already.
        { tool: "setfacl", packages: ["acl"], when: "tun-closed" },
        // Verification builds its test image from a static busybox (find_static_busybox).
        { tool: "busybox", packages: ["busybox-static"] },
    ];
}

/**
 * The OCI runtime rootless Podman gets per cgroup version, in preference order: rootless.sh uses
 * the first one installed, and installs the last when none is. crun refuses hybrid (and v1)
 * cgroups, so those get runc; on v2 crun is preferred when present.
 */
export const OCI_RUNTIMES: Readonly<Record<CgroupVersion, readonly OciRuntime[]>> = {
    v1: ["runc"],
    hybrid: ["runc"],
    v2: ["crun", "runc"],
};

/**
 * Podman's storage drivers in the order rootless.sh tries them: native overlay where the kernel
 * mounts it in a user namespace (>= 5.13, probed), fuse-overlayfs where the user can open
 * /dev/fuse, else vfs (always works, every layer a full copy). A storage already initialised
 * with another driver is kept whatever this says (podman refuses a switch).
 */
export const STORAGE_ORDER: readonly StorageDriver[] = ["overlay", "fuse-overlayfs", "vfs"];

/** `tool[@when]=package[:next]`, comma-separated: the value of `--packages`. */
export function renderTools(tools: readonly ToolPackage[]): string {
    return tools.map((t) => `${t.tool}${t.when ? `@${t.when}` : ""}=${t.packages.join(":")}`).join(",");
}

/** `v1=runc,hybrid=runc,v2=crun:runc`: the value of `--oci-runtime`. */
export function renderOciRuntimes(table: Readonly<Record<CgroupVersion, readonly OciRuntime[]>>): string {
    return (["v1", "hybrid", "v2"] as const).map((v) => `${v}=${table[v].join(":")}`).join(",");
}

/** The decision arguments of `rootless.sh apply` for a mode (after the user's own arguments). */
export function rootlessDecisionArgs(mode: RootlessMode): string[] {
    const args = ["--packages", renderTools(rootlessTools(mode))];
    if (mode === "podman") {
        args.push("--oci-runtime", renderOciRuntimes(OCI_RUNTIMES), "--storage-order", STORAGE_ORDER.join(","));
    }
    return args;
}
