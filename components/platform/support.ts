/**
 * Which distribution can run which runtime mode, and how: the support decision, as pure
 * functions over host facts (facts.ts; `platform.sh observe` on a host, recorded.ts for images
 * and tests). No resources, no I/O: a refusal is decided the same way at preview (the `aws`
 * kind: the image's recorded facts) and on the host (`HostSupport`, the first step of a
 * `HardenedHost`, before anything is written).
 *
 * What the decision is not: proof. `supported` means "nothing we know of stands in the way, and
 * this is how the steps will do it"; verification alone says `passed`. `evidence` tells apart the
 * combinations run on real hosts here (Debian 12 and 13, every mode: the end-to-end tests) from
 * those decided from recorded facts only.
 */
import type { HostFacts } from "./facts";
import { rootlessTools } from "../rootless/plan";

/** The runtime modes of a `HardenedHost`. */
export type SupportMode = "userns-remap" | "docker-rootless" | "podman" | "podman-auto" | "kubelet-userns";
/** Every mode, in the order tables list them. */
export const SUPPORT_MODES: readonly SupportMode[] = ["userns-remap", "docker-rootless", "podman", "podman-auto", "kubelet-userns"];

/**
 * Releases where kubelet-userns ran on real hosts here (test/e2e/lab-kubelet.test.ts: bookworm
 * lab hosts); the other modes' are {@link PROVEN}.
 */
export const PROVEN_KUBELET: Readonly<Partial<Record<Family, readonly string[]>>> = { debian: ["12"] };

/**
 * Distribution families: the same packages, package manager and traps. `rhel` is RHEL and its
 * rebuilds (Rocky, Alma, CentOS Stream: ID_LIKE says rhel).
 */
export type Family = "debian" | "ubuntu" | "rhel" | "fedora" | "amzn";

/** The oldest release of each family the decision knows facts for (older ones are refused). */
export const MIN_VERSION: Readonly<Record<Family, number>> = { debian: 12, ubuntu: 22.04, rhel: 9, fedora: 40, amzn: 2023 };

/** Releases run for real on hosts here, every mode (test/e2e/lab-*.test.ts). */
export const PROVEN: Readonly<Partial<Record<Family, readonly string[]>>> = { debian: ["12", "13"] };

/**
 * The value `user.max_user_namespaces` gets in our own sysctl.d file when it is 0 and no policy
 * file of the host set it: the value Docker's rootless documentation gives for hosts that ship 0.
 */
export const MAX_USER_NAMESPACES = 28633;

/** A narrow fix the host gets before anything else (platform.sh fix), and loses on destroy. */
export type Fix =
    | { kind: "apparmor-userns"; path: string; why: string }
    | { kind: "max-user-namespaces"; value: number; why: string };

/** How the packages a mode needs get onto a host of a family. */
export interface PackagePlan {
    /** The package manager's package names (what is installed when missing, or what to install by hand). */
    packages: string[];
    /** `script`: the mode's host script installs what is missing; `by-hand`: it cannot, they must be there. */
    installedBy: "script" | "by-hand";
    /** The binaries that must be on the host when `installedBy` is `by-hand` (facts' `binaries` keys). */
    requires: (keyof HostFacts["binaries"])[];
    /** Where the packages come from, when not the distribution's own repositories. */
    source?: string;
    /** Set when nothing installs this mode on this family: why. */
    unavailable?: string;
}

/** The apt packages of a rootless mode: plan.ts's tools, each package once. */
function aptRootless(mode: "docker-rootless" | "podman"): string[] {
    return [...new Set(rootlessTools(mode).flatMap((t) => t.packages))];
}

/**
 * The package set of each family x mode. apt: what the scripts install today (plan.ts for the
 * rootless modes, docker-remap.sh and podman-auto.sh for the rootful ones). dnf: the RPM names;
 * rootless.sh installs with apt only (its dnf branch was never run and went), so on the dnf
 * families the rootless modes need their packages installed by hand first.
 */
export function packagePlan(family: Family, mode: SupportMode): PackagePlan {
    const rootlessDockerBins: PackagePlan["requires"] = ["dockerd", "rootlesskit", "dockerd-rootless.sh", "slirp4netns", "newuidmap", "newgidmap"];
    const rootlessPodmanBins: PackagePlan["requires"] = ["podman", "slirp4netns", "newuidmap", "newgidmap"];
    // kubelet-userns installs no runtime (the node image brings kubelet, the CRI and OCI
    // runtimes; kubelet-userns.sh checks their versions): only getsubids, kubelet's reader of its
    // range, which kubelet-userns.sh installs with apt (uidmap) and the dnf families need first.
    if (mode === "kubelet-userns") {
        return family === "debian" || family === "ubuntu"
            ? { packages: ["uidmap"], installedBy: "script", requires: ["getsubids"] }
            : { packages: ["shadow-utils-subid"], installedBy: "by-hand", requires: ["getsubids"] };
    }
    switch (family) {
        case "debian":
        case "ubuntu":
            switch (mode) {
                case "userns-remap": return { packages: family === "debian" ? ["docker.io", "docker-cli"] : ["docker.io"], installedBy: "script", requires: ["dockerd"] };
                case "docker-rootless": return { packages: aptRootless(mode), installedBy: "script", requires: rootlessDockerBins };
                case "podman": return { packages: aptRootless(mode), installedBy: "script", requires: rootlessPodmanBins };
                case "podman-auto": return { packages: ["podman", "uidmap", "busybox-static"], installedBy: "script", requires: ["podman", "newuidmap"] };
            }
            break;
        case "rhel":
            switch (mode) {
                case "userns-remap": return {
                    packages: ["docker-ce", "docker-ce-cli", "containerd.io"], installedBy: "by-hand", requires: ["dockerd"],
                    source: "Docker's repository (https://download.docker.com/linux/rhel/docker-ce.repo): RHEL's own `docker` is podman-docker",
                };
                case "docker-rootless": return {
                    packages: ["docker-ce", "docker-ce-rootless-extras", "slirp4netns", "shadow-utils", "iproute"], installedBy: "by-hand", requires: rootlessDockerBins,
                    source: "Docker's repository (https://download.docker.com/linux/rhel/docker-ce.repo) for docker-ce and docker-ce-rootless-extras",
                };
                case "podman": return { packages: ["podman", "shadow-utils", "slirp4netns", "fuse-overlayfs", "crun"], installedBy: "by-hand", requires: rootlessPodmanBins };
                case "podman-auto": return { packages: ["podman", "shadow-utils"], installedBy: "script", requires: ["podman", "newuidmap"] };
            }
            break;
        case "fedora":
            switch (mode) {
                // docker-remap.sh takes docker-ce when Docker's repository is there, else Fedora's moby-engine.
                case "userns-remap": return { packages: ["moby-engine"], installedBy: "script", requires: ["dockerd"] };
                case "docker-rootless": return { packages: ["moby-engine", "rootlesskit", "slirp4netns", "shadow-utils", "iproute"], installedBy: "by-hand", requires: rootlessDockerBins };
                case "podman": return { packages: ["podman", "shadow-utils", "slirp4netns", "fuse-overlayfs", "crun"], installedBy: "by-hand", requires: rootlessPodmanBins };
                case "podman-auto": return { packages: ["podman", "shadow-utils"], installedBy: "script", requires: ["podman", "newuidmap"] };
            }
            break;
        case "amzn":
            switch (mode) {
                case "userns-remap": return { packages: ["docker"], installedBy: "script", requires: ["dockerd"] };
                case "docker-rootless": return {
                    packages: [], installedBy: "by-hand", requires: rootlessDockerBins,
                    unavailable: "Amazon Linux 2023's docker package (AWS's own build) ships no rootless extras (dockerd-rootless.sh, rootlesskit)",
                };
                case "podman": return {
                    packages: ["podman", "shadow-utils", "slirp4netns"], installedBy: "by-hand", requires: rootlessPodmanBins,
                    unavailable: "Podman is not in Amazon Linux 2023's repositories (only in the Supplementary Packages for Amazon Linux, SPAL)",
                };
                case "podman-auto": return {
                    packages: ["podman", "shadow-utils"], installedBy: "by-hand", requires: ["podman", "newuidmap"],
                    unavailable: "Podman is not in Amazon Linux 2023's repositories (only in the Supplementary Packages for Amazon Linux, SPAL)",
                };
            }
            break;
    }
    throw new Error(`no package plan for ${JSON.stringify(family)} x ${JSON.stringify(mode)}`);
}

/** The decision for one host (or image) and one mode. */
export interface SupportDecision {
    mode: SupportMode;
    /** `<ID> <VERSION_ID>` from os-release. */
    distro: string;
    family: Family | null;
    status: "supported" | "refused";
    /** `proven`: this release and mode ran on real hosts here; `recorded-facts`: decided from facts only. */
    evidence: "proven" | "recorded-facts";
    packageManager: "apt" | "dnf" | null;
    /** The packages (see {@link PackagePlan}); empty when refused for another reason than packages. */
    packages: string[];
    installedBy: PackagePlan["installedBy"] | null;
    /** Fixes applied before the other steps (and taken back on destroy). */
    fixes: Fix[];
    /** What else is worth knowing about this host for this mode. */
    notes: string[];
    /** Refused: why. */
    reason?: string;
    /** Refused: what the user can do. */
    remedy?: string;
}

/** The family of an os-release. */
export function familyOf(os: HostFacts["osRelease"]): Family | null {
    const id = os.id.toLowerCase();
    const like = os.idLike.toLowerCase().split(/\s+/).filter(Boolean);
    if (id === "debian" || id === "ubuntu" || id === "fedora" || id === "amzn") return id;
    if (id === "rhel" || like.includes("rhel")) return "rhel";
    if (like.includes("ubuntu")) return "ubuntu";
    if (like.includes("debian")) return "debian";
    if (like.includes("fedora")) return "fedora";
    return null;
}

const ROOTLESS_BINARY: Readonly<Record<"docker-rootless" | "podman", "rootlesskit" | "podman">> = { "docker-rootless": "rootlesskit", podman: "podman" };

/** The support decision of one host's facts for one mode (pure). */
export function decideSupport(facts: HostFacts, mode: SupportMode): SupportDecision {
    const os = facts.osRelease;
    const family = familyOf(os);
    const distro = `${os.id || "unknown"}${os.versionId ? ` ${os.versionId}` : ""}`;
    const pm = facts.packageManager === "apt" ? "apt" : facts.packageManager === "dnf" || facts.packageManager === "yum" ? "dnf" : null;
    const base: SupportDecision = {
        mode, distro, family, status: "supported", evidence: "recorded-facts", packageManager: pm,
        packages: [], installedBy: null, fixes: [], notes: [],
    };
    const refuse = (reason: string, remedy: string): SupportDecision => ({ ...base, status: "refused", reason, remedy, fixes: [] });

    if (family === null) {
        return refuse(`${os.prettyName || distro} (ID=${JSON.stringify(os.id)}, ID_LIKE=${JSON.stringify(os.idLike)}) is not a distribution this library knows (Debian, Ubuntu, RHEL and its rebuilds, Fedora, Amazon Linux 2023)`,
            "use a host of one of those distributions");
    }
    const version = Number.parseFloat(os.versionId);
    if (!Number.isFinite(version) || version < MIN_VERSION[family]) {
        return refuse(`${distro}: the decision knows ${family} from ${MIN_VERSION[family]} on, not ${os.versionId || "an unversioned release"}`,
            `use ${family} ${MIN_VERSION[family]} or newer`);
    }
    base.evidence = ((mode === "kubelet-userns" ? PROVEN_KUBELET : PROVEN)[family] ?? []).includes(os.versionId) ? "proven" : "recorded-facts";
    const expectedPm = family === "debian" || family === "ubuntu" ? "apt" : "dnf";
    if (pm !== expectedPm) {
        return refuse(`${distro} has ${facts.packageManager ?? "no known package manager"}, not ${expectedPm}`, `install ${expectedPm} or use a standard image of ${family}`);
    }

    // Packages.
    const plan = packagePlan(family, mode);
    base.packages = plan.packages;
    base.installedBy = plan.installedBy;
    const missing = plan.requires.filter((b) => !facts.binaries[b]);
    // kubelet-userns on apt: uidmap brings getsubids from shadow 4.11 on (Ubuntu 22.04's 4.8.1 has none).
    const shadowVersion = /^(?:\d+:)?(\d+)\.(\d+)/.exec(facts.shadow?.package ?? "");
    if (mode === "kubelet-userns" && missing.length > 0 && plan.installedBy === "script" && shadowVersion &&
        (Number(shadowVersion[1]) < 4 || (Number(shadowVersion[1]) === 4 && Number(shadowVersion[2]) < 11))) {
        return refuse(`${distro}: shadow ${facts.shadow.package} has no getsubids (from 4.11 on), and kubelet reads its range with it`,
            "use a release whose uidmap has getsubids (Debian 12, Ubuntu 24.04 or newer)");
    }
    if (mode === "kubelet-userns" && missing.length > 0 && plan.installedBy === "by-hand") {
        return refuse(`${distro}: no getsubids (kubelet reads its range with it; shadow 4.11 or newer)`,
            `install ${plan.packages.join(" ")} with ${pm} (a release whose shadow has getsubids) and run again`);
    }
    if (plan.installedBy === "by-hand" && missing.length > 0) {
        const how = plan.packages.length > 0 ? `dnf install -y ${plan.packages.join(" ")}${plan.source ? ` (from ${plan.source})` : ""}` : "";
        if (plan.unavailable) {
            return refuse(`${plan.unavailable}; missing here: ${missing.join(", ")}`,
                `install ${missing.join(", ")} by hand${how ? ` (${how})` : ""} and run again, or choose another mode`);
        }
        const why = mode === "docker-rootless" || mode === "podman"
            ? `rootless.sh installs packages with apt only, and ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} missing`
            : `nothing installs ${mode} on ${family} from its own repositories, and ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} missing`;
        return refuse(`${distro}: ${why}`, `${how} and run again${mode === "userns-remap" && family === "rhel" ? ", or choose podman-auto (Podman is RHEL's own engine)" : ""}`);
    }
    if (plan.installedBy === "by-hand") base.notes.push(`the packages are already installed (${plan.requires.join(", ")} found); nothing will be installed`);
    if (plan.installedBy === "script" && family !== "debian") base.notes.push(`installing with ${pm} on ${family} has not run on a real host here`);

    // User namespaces: a limit of 0 stops every user namespace, root's too.
    const userns = facts.userns;
    const policy0 = userns.setBy.filter((s) => !s.ours && Number(s.value) === 0);
    if (policy0.length > 0) {
        return refuse(`user.max_user_namespaces is set to 0 by ${policy0.map((s) => s.file).join(", ")} (a policy of this host, e.g. the RHEL 9 STIG): no user namespace can be created, not even by root`,
            `change it in ${policy0.map((s) => s.file).join(", ")} if the policy allows, or use a host without that policy; hardened-hosts does not override a policy file`);
    }
    if (userns.maxUserNamespaces === 0 || (facts.fixes?.maxUserNamespaces ?? null) !== null) {
        base.fixes.push({
            kind: "max-user-namespaces", value: MAX_USER_NAMESPACES,
            why: "user.max_user_namespaces is 0 and no sysctl file of the host sets it: raised in its own file /etc/sysctl.d/90-hardened-hosts-userns.conf",
        });
    }

    const rootless = mode === "docker-rootless" || mode === "podman";
    if (rootless && userns.unprivilegedUsernsClone === 0) {
        return refuse(`kernel.unprivileged_userns_clone is 0: unprivileged users cannot create user namespaces`,
            "set kernel.unprivileged_userns_clone = 1 in a sysctl.d file of your own, or choose userns-remap or podman-auto (rootful)");
    }

    // AppArmor (Ubuntu 23.10+): a rootless runtime's binary needs a profile allowing userns.
    const aa = facts.apparmor;
    if (rootless && aa.restrictUnprivilegedUserns === 1) {
        const bin = ROOTLESS_BINARY[mode];
        const inUse = facts.binaries[bin];
        const path = inUse?.realPath ?? `/usr/bin/${bin}`;
        const foreign = (aa.profiles[path] ?? []).filter((p) => !p.ours);
        const covering = foreign.filter((p) => p.userns);
        if (covering.length > 0) {
            base.notes.push(`kernel.apparmor_restrict_unprivileged_userns is 1; ${covering[0]!.file} lets ${path} create user namespaces${inUse ? "" : " (the path the package installs)"}`);
        } else if (foreign.length > 0) {
            // A second profile attaching to the same path would conflict with the host's own.
            const f = foreign[0]!;
            const name = f.file.split("/").pop()!;
            return refuse(`kernel.apparmor_restrict_unprivileged_userns is 1 and ${f.file} attaches to ${path} without allowing userns: a profile of ours for the same path would conflict with it`,
                `add "userns," to /etc/apparmor.d/local/${name} (the profile's site-local include) and reload it (apparmor_parser -r ${f.file}), then run again; or choose userns-remap or podman-auto (rootful)`);
        } else if (aa.enabled && aa.parser) {
            base.fixes.push({
                kind: "apparmor-userns", path,
                why: `kernel.apparmor_restrict_unprivileged_userns is 1 and no profile with userns covers ${path}: a profile for that exact path (the host-wide unprivileged_userns profile is left alone)`,
            });
        } else {
            return refuse(`kernel.apparmor_restrict_unprivileged_userns is 1, no profile with userns covers ${path}, and ${aa.enabled ? "apparmor_parser is missing" : "AppArmor does not report itself enabled"}: no profile can be loaded`,
                `install apparmor (apparmor_parser) and run again, or choose userns-remap or podman-auto (rootful: not restricted)`);
        }
    } else if (rootless && userns.probe.ran && userns.probe.works === false && userns.maxUserNamespaces !== 0) {
        return refuse(`an unprivileged process cannot create a user namespace and write its uid_map here: ${userns.probe.error ?? "no reason given"}`,
            "find what restricts user namespaces on this host (an LSM policy, a seccomp filter, a sysctl), or choose userns-remap or podman-auto (rootful)");
    }

    // Notes that change nothing in the decision.
    if (facts.selinux.mode === "enforcing") {
        base.notes.push("SELinux is enforcing: the runtime's container-selinux policy labels its files; a data root moved elsewhere needs its labels (semanage fcontext -a -e /var/lib/docker NEW; restorecon -R NEW)");
    }
    if (!rootless && aa.restrictUnprivilegedUserns === 1) {
        base.notes.push("kernel.apparmor_restrict_unprivileged_userns is 1: it restricts unprivileged processes only, not the rootful daemon that makes this mode's namespaces");
    }
    if (mode === "kubelet-userns") {
        base.notes.push("the node's own kernel (>= 6.3), CRI runtime (containerd >= 2.0 or CRI-O >= 1.25), OCI runtime (runc >= 1.2 or crun >= 1.9) and kubelet's root dir (not overlayfs) are checked by kubelet-userns.sh on the host, before it writes");
    } else if (family !== "debian" && family !== "ubuntu") {
        base.notes.push("verification builds its test image from a static busybox, which only Debian and Ubuntu install here: give HardenedHost's verify.image (an image already on the host) or verification fails, never passes");
    }
    const subMax = facts.loginDefs.SUB_UID_MAX ?? null;
    if (subMax !== null && subMax >= 2 ** 31) {
        base.notes.push(`login.defs SUB_UID_MAX is ${subMax}: useradd's automatic ranges can reach the ledger's pool (from 2^31); subids-host.sh refuses any overlap it finds`);
    }
    if (!facts.binaries.getsubids) {
        base.notes.push("no getsubids (shadow before 4.11): subordinate IDs from a network source (IdM, LDAP: nsswitch subid) are not visible to the scripts, only /etc/subuid and /etc/subgid");
    }
    return base;
}

/** One line per decision, the way errors and outputs word it. */
export function describeDecision(d: SupportDecision): string {
    if (d.status === "refused") return `${d.mode} on ${d.distro}: refused: ${d.reason}. What you can do: ${d.remedy}`;
    const fixes = d.fixes.length > 0 ? `; fixes: ${d.fixes.map((f) => (f.kind === "apparmor-userns" ? `AppArmor userns profile for ${f.path}` : `user.max_user_namespaces = ${f.value}`)).join(", ")}` : "";
    return `${d.mode} on ${d.distro}: supported (${d.evidence === "proven" ? "proven on real hosts here" : "decided from recorded facts"}; packages ${d.installedBy === "by-hand" ? "already installed" : `with ${d.packageManager}`}: ${d.packages.join(" ") || "none"}${fixes})`;
}

/** platform.sh fix's arguments for the decided fixes (no fix: none, and nothing is written). */
export function fixArgs(fixes: readonly Fix[]): string[] {
    const args = ["fix"];
    for (const f of fixes) {
        if (f.kind === "apparmor-userns") args.push("--apparmor-userns", f.path);
        else args.push("--max-user-namespaces", String(f.value));
    }
    return args;
}
