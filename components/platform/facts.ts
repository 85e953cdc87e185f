/**
 * The host facts that decide support, as `platform.sh observe` prints them (format 1). Plain
 * data: recorded fact sets (recorded.ts) and observed ones have the same shape, so the decision
 * (support.ts) is one pure function over either.
 */
import { parseReport } from "../host/report";

/** A binary on the host: where it is, what it resolves to, its version when it says one. */
export interface BinaryFact {
    path: string;
    realPath: string;
    version: string | null;
}

/** A profile file of /etc/apparmor.d attaching to a path. */
export interface ProfileFact {
    file: string;
    /** The attachment as written (a path, or an AppArmor glob of it). */
    attachment: string;
    /** The file allows `userns,`. */
    userns: boolean;
    /** One of ours (platform.sh fix wrote it). */
    ours: boolean;
}

/** A sysctl file that sets `user.max_user_namespaces`. */
export interface SysctlSetter {
    file: string;
    value: string;
    /** Ours (platform.sh fix wrote it). */
    ours: boolean;
}

/** What `platform.sh observe` reports. */
export interface HostFacts {
    format: 1;
    osRelease: { id: string; idLike: string; versionId: string; prettyName?: string };
    /** `apt`, `dnf` or `yum`; null when none of them is installed. */
    packageManager: "apt" | "dnf" | "yum" | null;
    kernel: string;
    apparmor: {
        enabled: boolean;
        /** `kernel.apparmor_restrict_unprivileged_userns`; null where the kernel has no such sysctl. */
        restrictUnprivilegedUserns: number | null;
        /** apparmor_parser's path, or null. */
        parser: string | null;
        /** Ubuntu's host-wide `unprivileged_userns` profile is present (never touched). */
        unprivilegedUsernsProfile: boolean;
        /** Per path (the binaries in use, resolved, and the package paths): the profiles attaching to it. */
        profiles: Record<string, ProfileFact[]>;
    };
    selinux: { mode: "enforcing" | "permissive" | "disabled" | null };
    userns: {
        maxUserNamespaces: number | null;
        /** Every sysctl file setting it, in the order systemd-sysctl reads them (the last wins). */
        setBy: SysctlSetter[];
        /** Debian's old `kernel.unprivileged_userns_clone`; null where the kernel has none. */
        unprivilegedUsernsClone: number | null;
        /** An unprivileged user namespace with its uid_map written (as nobody). */
        probe: { ran: boolean; works: boolean | null; error: string | null };
    };
    binaries: Partial<Record<"dockerd" | "podman" | "rootlesskit" | "newuidmap" | "newgidmap" | "getsubids" | "slirp4netns" | "dockerd-rootless.sh", BinaryFact | null>>;
    /** The shadow package's version (uidmap on Debian and Ubuntu, shadow-utils on the RPM family). */
    shadow: { package: string | null };
    loginDefs: Partial<Record<"SUB_UID_MIN" | "SUB_UID_MAX" | "SUB_GID_MIN" | "SUB_GID_MAX" | "UID_MIN" | "UID_MAX", number | null>>;
    /** What platform.sh fix made and has not taken back. */
    fixes?: { apparmorProfiles: string[]; maxUserNamespaces: number | null };
}

/** The facts in `platform.sh observe`'s stdout; throws with the script's own error. */
export function parseFacts(stdout: string): HostFacts {
    const r = parseReport<HostFacts & { ok: true; action: string }>(stdout, "platform.sh observe");
    if (r.ok !== true || r.action !== "observe") throw new Error(`platform.sh observe: ${(r as { error?: string }).error ?? "no observation in its output"}`);
    const facts = r as HostFacts & { ok: true; action: string };
    if (facts.format !== 1) throw new Error(`platform.sh observe: format ${JSON.stringify(facts.format)}, expected 1`);
    return facts;
}
