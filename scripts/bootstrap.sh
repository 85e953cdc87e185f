#!/usr/bin/env bash
# Sets up everything the project needs on a fresh Debian machine, idempotently:
# Debian packages, npm packages (npm ci), and the offline Pulumi toolchain.
# A second run only checks and takes seconds. Each step says what it does and how long it took.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

# Debian packages the tests and host scripts use:
#   - shellcheck lints the host scripts (part of `npm test`)
#   - openssh-server: a throw-away sshd on 127.0.0.1 for the Command provider's real SSH tests
#   - openssh-client: ssh-keygen for those tests' keys
#   - uidmap, passwd: getsubids/newuidmap and useradd for the real /etc/subuid tests
#   - docker.io: dockerd 20.10 and Debian's dockerd-rootless*.sh for the rootless Docker tests
#   - busybox-static: the local busybox image the container tests import (no registry here)
#   - podman: rootless Podman tests (components/rootless)
#   - slirp4netns: rootless networking for rootless Docker and Podman
#   - rootlesskit: user/mount/network namespaces for rootless dockerd
#   - fuse-overlayfs: Podman's storage fallback where native rootless overlay is missing
#   - acl: setfacl, rootless.sh grants a user /dev/net/tun with an ACL entry
#   - jq: docker-remap.sh's JSON tool where python3 is missing (its tests run both tools)
#   - python3: docker-remap.sh's preferred JSON tool (daemon.json parse, merge, compare)
#   - procps: ps, the docker-remap tests check a container process's host UID with it
#   - gcc, libc6-dev, libseccomp-dev, pkg-config: runc (cgo, seccomp) and the static pause that
#     scripts/k8s-toolchain.sh builds for the kubelet-userns end-to-end test
readonly DEBIAN_PACKAGES=(shellcheck openssh-server openssh-client uidmap passwd docker.io busybox-static podman slirp4netns rootlesskit fuse-overlayfs acl jq python3 procps systemd-container mmdebstrap socat iptables iproute2 util-linux gcc libc6-dev libseccomp-dev pkg-config)

log() { printf '[bootstrap] %s\n' "$*" >&2; }
t0=$(date +%s)
elapsed() { printf '%ss' "$(( $(date +%s) - t0 ))"; }

for tool in node npm go; do
  command -v "$tool" >/dev/null 2>&1 || {
    log "error: '$tool' is not installed (Node.js >= 20, npm and Go >= 1.25 are expected on the machine)"
    exit 1
  }
done

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  # policy-rc.d style environments must not start sshd on the machine: we start our own.
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  log "  done at $(elapsed)"
else
  log "Debian packages present: ${DEBIAN_PACKAGES[*]}"
fi

# npm ci is slow (it empties node_modules); run it only when the lock file changed.
npm_ci() { # npm_ci <package dir>: its node_modules, from its own package-lock.json
  local dir=$1 lock_sum
  lock_sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$dir/node_modules/.hh-lock-sha256" 2>/dev/null || true)" != "$lock_sum" ]; then
    log "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" > "$dir/node_modules/.hh-lock-sha256"
    log "  done at $(elapsed)"
  else
    log "$dir/node_modules matches its package-lock.json"
  fi
}
npm_ci .
# The Command provider stand-in is a package of its own; the toolchain step below builds and
# installs it from these node_modules, so they must be there first.
npm_ci tools/command-provider

bash scripts/pulumi-toolchain.sh
# kubelet, containerd, runc, CNI plugins for test/e2e/lab-kubelet.test.ts: cached by version; a
# cold build (~15 minutes on 2 cores) runs in the background while the tests before it run, and
# that test waits for it (HH_K8S_TOOLCHAIN=skip: no build, and that test is skipped).
if [ "${HH_K8S_TOOLCHAIN:-}" != skip ]; then bash scripts/k8s-toolchain.sh --background; fi
log "ready in $(elapsed)"
