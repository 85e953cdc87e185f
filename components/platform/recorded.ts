/**
 * Recorded fact sets: what `platform.sh observe` says (or would say) on a fresh official image of
 * each distribution the decision knows, nothing installed beyond the image. The `aws` kind decides
 * from these at preview (its images are known from config); the unit tests decide over all of
 * them (test/platform/support.test.ts). Each cites where its facts come from and says what was
 * not confirmed. Only Debian 12 and 13 were observed here; the others are recorded from the
 * distributions' documentation and package archives as cited, never from a running host.
 *
 * Values that vary from machine to machine and do not change a decision are given as typical:
 * the kernel's patch level, `user.max_user_namespaces` (the kernel computes it from memory; only
 * 0 or not matters).
 */
import type { BinaryFact, HostFacts, ProfileFact } from "./facts";
import type { Ec2Distro } from "../machines/distros";
import { SupportDecision, SupportMode, decideSupport } from "./support";

/** A recorded fact set, with its sources. */
export interface RecordedFacts {
    /** What it is, e.g. `Ubuntu 24.04 LTS (noble), fresh server image`. */
    title: string;
    facts: HostFacts;
    /** Where the facts come from. */
    sources: string[];
    /** Facts recorded without a source confirming them (best knowledge, to be checked on a real host). */
    unconfirmed: string[];
}

const bin = (path: string, version: string | null = null): BinaryFact => ({ path, realPath: path, version });
const profile = (file: string, attachment: string): ProfileFact => ({ file, attachment, userns: true, ours: false });

function facts(f: Omit<HostFacts, "format" | "fixes" | "userns" | "selinux" | "apparmor"> & {
    apparmor?: Partial<HostFacts["apparmor"]>;
    selinux?: HostFacts["selinux"]["mode"];
    userns?: Partial<HostFacts["userns"]>;
}): HostFacts {
    return {
        format: 1,
        ...f,
        apparmor: {
            enabled: false, restrictUnprivilegedUserns: null, parser: null, unprivilegedUsernsProfile: false,
            profiles: { "/usr/bin/podman": [], "/usr/bin/rootlesskit": [] },
            ...f.apparmor,
        },
        selinux: { mode: f.selinux ?? null },
        userns: {
            maxUserNamespaces: 63219, setBy: [], unprivilegedUsernsClone: null,
            probe: { ran: true, works: true, error: null },
            ...f.userns,
        },
        fixes: { apparmorProfiles: [], maxUserNamespaces: null },
    };
}

const DEBIAN_LOGIN_DEFS = { SUB_UID_MIN: 100000, SUB_UID_MAX: 600100000, SUB_GID_MIN: 100000, SUB_GID_MAX: 600100000, UID_MIN: 1000, UID_MAX: 60000 };
const FEDORA_LOGIN_DEFS = { SUB_UID_MIN: 524288, SUB_UID_MAX: 600100000, SUB_GID_MIN: 524288, SUB_GID_MAX: 600100000, UID_MIN: 1000, UID_MAX: 60000 };

/** The recorded fact sets, by a short key. */
export const RECORDED: Readonly<Record<string, RecordedFacts>> = {
    "debian-12": {
        title: "Debian 12 (bookworm), fresh cloud image",
        facts: facts({
            osRelease: { id: "debian", idLike: "", versionId: "12", prettyName: "Debian GNU/Linux 12 (bookworm)" },
            packageManager: "apt", kernel: "6.1.0-28-cloud-amd64",
            apparmor: { enabled: true, parser: "/usr/sbin/apparmor_parser" },
            userns: { unprivilegedUsernsClone: 1 },
            binaries: {}, shadow: { package: null }, loginDefs: DEBIAN_LOGIN_DEFS,
        }),
        sources: [
            "platform.sh observe on this project's machines and lab hosts (Debian 12, 2026-12-07): os-release, login.defs, shadow 1:4.13+dfsg1-1+deb12u2, no AppArmor restriction sysctl",
            "Debian 12 package archive (packages.debian.org/bookworm): docker.io 20.10.24, podman 4.3.1, rootlesskit 1.1.0, uidmap 4.13 (what apply installs; the end-to-end tests run them)",
        ],
        unconfirmed: ["the cloud kernel's kernel.unprivileged_userns_clone (a Debian patch; recorded as 1, the default where it exists)", "AppArmor enabled in the cloud image (Debian enables it by default since 10)"],
    },
    "debian-13": {
        title: "Debian 13 (trixie), fresh cloud image",
        facts: facts({
            osRelease: { id: "debian", idLike: "", versionId: "13", prettyName: "Debian GNU/Linux 13 (trixie)" },
            packageManager: "apt", kernel: "6.12.41+deb13-cloud-amd64",
            apparmor: { enabled: true, parser: "/usr/sbin/apparmor_parser" },
            binaries: {}, shadow: { package: null }, loginDefs: DEBIAN_LOGIN_DEFS,
        }),
        sources: [
            "this project's trixie lab hosts (test/e2e/lab-stack, lab-auto, lab-minimal): docker.io 26.1.5+dfsg1-9+deb13u1, Podman 5.4.2, shadow 4.17 (getsubids)",
            "Debian 13 package archive (packages.debian.org/trixie)",
        ],
        unconfirmed: ["login.defs' SUB_UID_* lines in trixie (recorded as shadow's defaults 100000..600100000)", "AppArmor enabled in the cloud image"],
    },
    "ubuntu-22.04": {
        title: "Ubuntu 22.04 LTS (jammy), fresh server image",
        facts: facts({
            osRelease: { id: "ubuntu", idLike: "debian", versionId: "22.04", prettyName: "Ubuntu 22.04.5 LTS" },
            packageManager: "apt", kernel: "5.15.0-126-generic",
            apparmor: { enabled: true, parser: "/usr/sbin/apparmor_parser" },
            binaries: { newuidmap: bin("/usr/bin/newuidmap"), newgidmap: bin("/usr/bin/newgidmap") },
            shadow: { package: "1:4.8.1-2ubuntu2.2" }, loginDefs: DEBIAN_LOGIN_DEFS,
        }),
        sources: [
            "Ubuntu 22.04 package archive (packages.ubuntu.com/jammy): uidmap 1:4.8.1 (no getsubids: added in shadow 4.11), docker.io 24.0.7 (jammy-updates, universe), podman 3.4.4 (universe), rootlesskit 0.14.2 (universe), apparmor 3.0.4",
            "Ubuntu blog 'Ubuntu 23.10 restricted unprivileged user namespaces' (ubuntu.com/blog/ubuntu-23-10-restricted-unprivileged-user-namespaces): the restriction starts with 23.10; 22.04's GA kernel 5.15 has no kernel.apparmor_restrict_unprivileged_userns",
        ],
        unconfirmed: [
            "uidmap in the server image (recorded as installed)",
            "that Ubuntu's docker.io ships dockerd-rootless.sh under /usr/share/docker.io/contrib/ as Debian's does (rootless.sh looks there; it fails naming the tool if not)",
            "rootful userns=auto with Podman 3.4.4 (run here on 4.3.1 and 5.4.2 only)",
        ],
    },
    "ubuntu-24.04": {
        title: "Ubuntu 24.04 LTS (noble), fresh server image",
        facts: facts({
            osRelease: { id: "ubuntu", idLike: "debian", versionId: "24.04", prettyName: "Ubuntu 24.04.1 LTS" },
            packageManager: "apt", kernel: "6.8.0-49-generic",
            apparmor: {
                enabled: true, restrictUnprivilegedUserns: 1, parser: "/usr/sbin/apparmor_parser", unprivilegedUsernsProfile: true,
                profiles: {
                    "/usr/bin/podman": [profile("/etc/apparmor.d/podman", "/usr/bin/podman")],
                    "/usr/bin/rootlesskit": [profile("/etc/apparmor.d/rootlesskit", "/usr/bin/rootlesskit")],
                },
            },
            binaries: { newuidmap: bin("/usr/bin/newuidmap"), newgidmap: bin("/usr/bin/newgidmap"), getsubids: bin("/usr/bin/getsubids") },
            shadow: { package: "1:4.13+dfsg1-4ubuntu3.2" }, loginDefs: DEBIAN_LOGIN_DEFS,
            userns: { probe: { ran: true, works: false, error: "exit 1: unshare: write failed /proc/self/uid_map: Operation not permitted" } },
        }),
        sources: [
            "Ubuntu blog 'Restricted unprivileged user namespaces are coming to Ubuntu 23.10' and the 24.04 release notes: kernel.apparmor_restrict_unprivileged_userns=1 by default; an unconfined process gets a namespace without capabilities (so writing uid_map fails, as the probe records)",
            "apparmor 4.0.1 in noble (packages.ubuntu.com/noble/apparmor): /etc/apparmor.d/rootlesskit and /etc/apparmor.d/podman attach to /usr/bin/rootlesskit and /usr/bin/podman with userns (issue #30; Docker's rootless docs: only binaries elsewhere need their own profile)",
            "Ubuntu 24.04 package archive: uidmap 1:4.13 (getsubids), docker.io 24.0.7/26.1.3 (universe), podman 4.9.3 (universe), rootlesskit 2.0.2 (universe)",
        ],
        unconfirmed: [
            "the profiles' exact attachment lines (recorded as the bare package paths)",
            "the probe's exact error text (the failure itself is what the restriction documents)",
            "that Ubuntu's docker.io ships dockerd-rootless.sh under /usr/share/docker.io/contrib/",
        ],
    },
    "rhel-9": {
        title: "Red Hat Enterprise Linux 9.4, fresh cloud image",
        facts: facts({
            osRelease: { id: "rhel", idLike: "fedora", versionId: "9.4", prettyName: "Red Hat Enterprise Linux 9.4 (Plow)" },
            packageManager: "dnf", kernel: "5.14.0-427.13.1.el9_4.x86_64", selinux: "enforcing",
            binaries: { newuidmap: bin("/usr/bin/newuidmap"), newgidmap: bin("/usr/bin/newgidmap"), getsubids: bin("/usr/bin/getsubids") },
            shadow: { package: "4.9-8.el9" }, loginDefs: FEDORA_LOGIN_DEFS,
        }),
        sources: [
            "RHEL 9 documentation 'Building, running, and managing containers': Podman (container-tools) is the engine; no Docker engine package (RHEL's `docker` is podman-docker); SELinux enforcing by default",
            "Docker's install docs for RHEL (docs.docker.com/engine/install/rhel/): docker-ce and docker-ce-rootless-extras from download.docker.com",
            "issue #30: user.max_user_namespaces possibly 0 (the RHEL 9 STIG asks for 0: fixture rhel-9-stig), SUB_UID_MIN 524288 on some, subids from IdM visible through getsubids",
        ],
        unconfirmed: [
            "login.defs' SUB_UID_MIN in RHEL 9 (recorded as 524288, Fedora's)",
            "that the cloud image has no podman installed (recorded as absent: the decision then asks for it by hand)",
            "getsubids in shadow-utils 4.9 (RHEL backported subid support; recorded as present)",
        ],
    },
    "rocky-9": {
        title: "Rocky Linux 9.4, fresh cloud image",
        facts: facts({
            osRelease: { id: "rocky", idLike: "rhel centos fedora", versionId: "9.4", prettyName: "Rocky Linux 9.4 (Blue Onyx)" },
            packageManager: "dnf", kernel: "5.14.0-427.13.1.el9_4.x86_64", selinux: "enforcing",
            binaries: { newuidmap: bin("/usr/bin/newuidmap"), newgidmap: bin("/usr/bin/newgidmap"), getsubids: bin("/usr/bin/getsubids") },
            shadow: { package: "4.9-8.el9" }, loginDefs: FEDORA_LOGIN_DEFS,
        }),
        sources: [
            "Rocky Linux 9 os-release (ID=rocky, ID_LIKE=\"rhel centos fedora\"): a rebuild of RHEL 9, the same packages and defaults",
            "as rhel-9 for everything else (same packages, same defaults)",
        ],
        unconfirmed: ["as rhel-9"],
    },
    "fedora-41": {
        title: "Fedora 41 Cloud Base",
        facts: facts({
            osRelease: { id: "fedora", idLike: "", versionId: "41", prettyName: "Fedora Linux 41 (Cloud Edition)" },
            packageManager: "dnf", kernel: "6.11.4-301.fc41.x86_64", selinux: "enforcing",
            binaries: { newuidmap: bin("/usr/bin/newuidmap"), newgidmap: bin("/usr/bin/newgidmap"), getsubids: bin("/usr/bin/getsubids") },
            shadow: { package: "4.15.1-12.fc41" }, loginDefs: FEDORA_LOGIN_DEFS,
        }),
        sources: [
            "Fedora 41 packages (packages.fedoraproject.org): moby-engine 27.x, podman 5.2/5.3, rootlesskit, slirp4netns, shadow-utils 4.15 (getsubids); dnf is dnf5",
            "Fedora's login.defs: SUB_UID_MIN 524288",
        ],
        unconfirmed: ["that Fedora's moby-engine ships dockerd-rootless.sh", "whether Cloud Base preinstalls podman (recorded as absent)"],
    },
    "amazon-linux-2023": {
        title: "Amazon Linux 2023, fresh AMI",
        facts: facts({
            osRelease: { id: "amzn", idLike: "fedora", versionId: "2023", prettyName: "Amazon Linux 2023.6.20241121" },
            packageManager: "dnf", kernel: "6.1.115-126.197.amzn2023.x86_64", selinux: "permissive",
            binaries: { newuidmap: bin("/usr/bin/newuidmap"), newgidmap: bin("/usr/bin/newgidmap"), getsubids: bin("/usr/bin/getsubids") },
            shadow: { package: "4.9-12.amzn2023.0.4" }, loginDefs: DEBIAN_LOGIN_DEFS,
        }),
        sources: [
            "Amazon Linux 2023 user guide: SELinux permissive by default; the docker package is AWS's own 25.0.x build (no rootless extras); Podman only from SPAL (Supplementary Packages for Amazon Linux)",
            "issue #30: Docker is AWS's own docker 25.0.x without rootless extras; Podman only from SPAL; SELinux permissive",
        ],
        unconfirmed: ["login.defs' SUB_UID_MIN (recorded as 100000)", "getsubids in its shadow-utils 4.9 (recorded as present)"],
    },
};

/** The recorded facts of an EC2 image: what the `aws` kind decides from at preview. */
export const IMAGE_FACTS: Readonly<Record<Ec2Distro, string>> = {
    "debian-12": "debian-12",
    "ubuntu-24.04": "ubuntu-24.04",
    "amazon-linux-2023": "amazon-linux-2023",
};

/** The decision for an EC2 image and a mode, from the image's recorded facts (at preview). */
export function imageSupport(distro: Ec2Distro, mode: SupportMode): SupportDecision {
    return decideSupport(RECORDED[IMAGE_FACTS[distro]]!.facts, mode);
}

/** Why an EC2 image cannot run a mode (the refusal in words), or undefined when it can. */
export function imageSupportProblem(distro: Ec2Distro, mode: SupportMode): string | undefined {
    const d = imageSupport(distro, mode);
    return d.status === "refused" ? `${JSON.stringify(mode)} is refused on ${distro}: ${d.reason}. What you can do: ${d.remedy}` : undefined;
}
