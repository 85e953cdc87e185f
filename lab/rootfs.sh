#!/usr/bin/env bash
# Builds (once) and prints the path of a cached Debian root filesystem for lab hosts.
#
#   lab/rootfs.sh SUITE VARIANT      SUITE: bookworm | trixie   VARIANT: base | docker | minimal
#
# The tree is built with mmdebstrap from Debian's packages and cached by content: the cache key
# is a digest of this file, the suite, the variant's package list and mmdebstrap's version, so a
# change to any of them builds a new tree and an unchanged recipe never rebuilds. Trees are built
# in a temp dir and renamed into place (a killed build leaves no half tree behind), and are used
# read-only, as the lower layer of each host's overlayfs.
#
# "docker" adds Debian's docker.io (and jq): the lab's "busy" host starts with Docker running.
# Hosts without it must get Docker from the component, through apt, like a real fresh machine.
# "minimal" is a host with nothing but systemd, sshd and sudo: no python3, no busybox, no procps,
# no iptables; whatever the components need they must install themselves.
set -euo pipefail

suite=${1:-}
variant=${2:-}
case "$suite" in bookworm | trixie) ;; *) echo "rootfs.sh: suite must be bookworm or trixie, got '$suite'" >&2; exit 2 ;; esac
case "$variant" in base | docker | minimal) ;; *) echo "rootfs.sh: variant must be base, docker or minimal, got '$variant'" >&2; exit 2 ;; esac

# What every lab host has: systemd as PID 1, sshd, sudo, networking, and what a Debian server
# usually carries. busybox-static is there because verification imports its test image from the
# host's static busybox (components/verify/verify.sh never pulls images).
packages=systemd-sysv,dbus,openssh-server,iproute2,sudo,ca-certificates,iptables,procps,netbase,less,python3,busybox-static
if [ "$variant" = minimal ]; then packages=systemd-sysv,dbus,openssh-server,sudo,ca-certificates,netbase; fi
if [ "$variant" = docker ]; then packages=$packages,docker.io,jq; fi
# From trixie on, the docker CLI is its own package (docker.io only recommends it).
if [ "$variant" = docker ] && [ "$suite" != bookworm ]; then packages=$packages,docker-cli; fi

cache=${HH_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hardened-hosts/lab}
key=$( { cat "${BASH_SOURCE[0]}"; echo "$suite $variant $packages"; mmdebstrap --version; } | sha256sum | cut -c1-16)
tree=$cache/rootfs-$suite-$variant-$key
if [ -f "$tree/.hh-lab-rootfs" ]; then
  echo "$tree"
  exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build-XXXXXX")
trap 'rm -rf --one-file-system "$tmp"' EXIT
started=$SECONDS
echo "[lab] building the $suite/$variant root filesystem with mmdebstrap (cached afterwards)" >&2
mmdebstrap --quiet --variant=apt --include="$packages" "$suite" "$tmp/root" >&2

root=$tmp/root
# One identity per host, made when the host starts: no machine-id and no SSH host keys in the
# shared tree (openssh-server's postinst generated some; every host would share them).
rm -f "$root"/etc/ssh/ssh_host_* "$root/var/lib/dbus/machine-id"
: > "$root/etc/machine-id"
# The lab's network is static (lab.sh writes each host's address); networkd brings it up.
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1
chroot "$root" systemctl enable ssh.service >/dev/null 2>&1
# Nothing here is a console: no getty on the container's pipe console.
chroot "$root" systemctl mask console-getty.service getty@.service >/dev/null 2>&1 || true
mkdir -p "$root/etc/ssh/sshd_config.d"
cat > "$root/etc/ssh/sshd_config.d/10-hh-lab.conf" <<'EOF'
# hardened-hosts lab: key-only logins against the one host key lab.sh generates per host.
HostKey /etc/ssh/ssh_host_ed25519_key
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
EOF
# The archive the machine reaches may be a dated snapshot: accept its Release files' dates.
cat > "$root/etc/apt/apt.conf.d/90hh-lab" <<'EOF'
Acquire::Check-Valid-Until "false";
Acquire::Check-Date "false";
EOF
date -u +%Y-%m-%dT%H:%M:%SZ > "$root/.hh-lab-rootfs"
mv "$root" "$tree"
echo "[lab] $suite/$variant root filesystem: $(du -sh "$tree" | cut -f1) in $((SECONDS - started)) s" >&2
echo "$tree"
