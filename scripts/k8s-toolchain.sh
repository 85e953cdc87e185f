#!/usr/bin/env bash
# Builds what the kubelet-userns end-to-end test installs into its lab host (a node image's
# binaries, as a fixture: installing kubelet is not this project's job), from Go modules through
# the module proxy, exactly as docs/notes/kubernetes-userns.md measured them:
#   runc v1.4.4 (cgo, libseccomp), containerd v2.2.10 (containerd, ctr, containerd-shim-runc-v2),
#   kubelet v1.36.3 (a wrapper module: k8s.io/kubernetes replaces its staging modules),
#   CNI plugins v1.9.1 (bridge, host-local, loopback), a static pause 3.10.1 (gcc), and two OCI
#   image tars (scripts/k8s-oci-image.py: busybox, pause) for `ctr images import`.
#
#   k8s-toolchain.sh               build what is missing (waits for a build already running), print the dir
#   k8s-toolchain.sh --background  start that in the background (bootstrap) and return at once
#   k8s-toolchain.sh --check       exit 0 when everything is cached, 1 otherwise (builds nothing)
#
# Cached by version under HH_K8S_DIR (default ~/.cache/hardened-hosts/k8s/<component>-<version>/):
# a component whose binaries are there is never rebuilt. One build at a time (flock on
# HH_K8S_DIR/.lock), every build `nice -n 19`; the log of a background run is HH_K8S_DIR/build.log.
# Needs go (>= 1.26: kubernetes v1.36.3 says go 1.26.0), gcc, libseccomp-dev, pkg-config, python3,
# /bin/busybox (busybox-static); bootstrap.sh installs the Debian packages.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly RUNC_VERSION=1.4.4 CONTAINERD_VERSION=2.2.10 KUBE_VERSION=1.36.3 STAGING_VERSION=0.36.3
readonly CNI_VERSION=1.9.1 PAUSE_VERSION=3.10.1
cache="${HH_K8S_DIR:-$HOME/.cache/hardened-hosts/k8s}"

log() { printf '[k8s-toolchain] %s\n' "$*" >&2; }
step_start=0
step() { step_start=$(date +%s); log "$*"; }
done_step() { log "  done in $(( $(date +%s) - step_start ))s"; echo "rc=0 secs=$(( $(date +%s) - step_start ))" > "$1/build.time"; }

runc_dir="$cache/runc-v$RUNC_VERSION"
containerd_dir="$cache/containerd-v$CONTAINERD_VERSION"
kubelet_dir="$cache/kubelet-v$KUBE_VERSION"
cni_dir="$cache/cni-plugins-v$CNI_VERSION"
pause_dir="$cache/pause-$PAUSE_VERSION"
images_dir="$cache/images-$PAUSE_VERSION"

# (Captured, not piped into grep -q: with pipefail an early grep exit is a SIGPIPE failure.)
have_runc() { [ -x "$runc_dir/runc" ] && [[ "$("$runc_dir/runc" --version 2>/dev/null)" == "runc version $RUNC_VERSION"$'\n'* ]]; }
have_containerd() {
  [ -x "$containerd_dir/containerd" ] && [ -x "$containerd_dir/ctr" ] && [ -x "$containerd_dir/containerd-shim-runc-v2" ] &&
    [[ "$("$containerd_dir/containerd" --version 2>/dev/null)" == *" v$CONTAINERD_VERSION "* ]]
}
have_kubelet() { [ -x "$kubelet_dir/kubelet" ] && [ "$("$kubelet_dir/kubelet" --version 2>/dev/null)" = "Kubernetes v$KUBE_VERSION" ]; }
have_cni() { [ -x "$cni_dir/bridge" ] && [ -x "$cni_dir/host-local" ] && [ -x "$cni_dir/loopback" ]; }
have_pause() { [ -x "$pause_dir/pause" ]; }
have_images() { [ -s "$images_dir/localbb.oci.tar" ] && [ -s "$images_dir/pause.oci.tar" ]; }
have_all() { have_runc && have_containerd && have_kubelet && have_cni && have_pause && have_images; }

gobuild_env() { nice -n 19 env GOFLAGS=-buildvcs=false "$@"; }

build_runc() {
  have_runc && { log "runc v$RUNC_VERSION: cached at $runc_dir"; return 0; }
  step "runc v$RUNC_VERSION: go install (cgo, seccomp)"
  mkdir -p "$runc_dir"
  (cd /tmp && gobuild_env CGO_ENABLED=1 GOBIN="$runc_dir" go install -trimpath -tags "seccomp urfave_cli_no_docs" \
    -ldflags "-X main.version=$RUNC_VERSION" "github.com/opencontainers/runc@v$RUNC_VERSION") > "$runc_dir/build.log" 2>&1 ||
    { tail -n 20 "$runc_dir/build.log" >&2; return 1; }
  done_step "$runc_dir"
}

build_containerd() {
  have_containerd && { log "containerd v$CONTAINERD_VERSION: cached at $containerd_dir"; return 0; }
  step "containerd v$CONTAINERD_VERSION: go install containerd, ctr, containerd-shim-runc-v2"
  mkdir -p "$containerd_dir"
  local m=github.com/containerd/containerd/v2
  (cd /tmp && gobuild_env CGO_ENABLED=0 GOBIN="$containerd_dir" go install -trimpath -tags "no_btrfs urfave_cli_no_docs" \
    -ldflags "-X $m/version.Version=v$CONTAINERD_VERSION" \
    "$m/cmd/containerd@v$CONTAINERD_VERSION" "$m/cmd/ctr@v$CONTAINERD_VERSION" "$m/cmd/containerd-shim-runc-v2@v$CONTAINERD_VERSION") \
    > "$containerd_dir/build.log" 2>&1 || { tail -n 20 "$containerd_dir/build.log" >&2; return 1; }
  done_step "$containerd_dir"
}

build_kubelet() {
  have_kubelet && { log "kubelet v$KUBE_VERSION: cached at $kubelet_dir"; return 0; }
  step "kubelet v$KUBE_VERSION: wrapper module, go mod tidy, go build"
  local w="$kubelet_dir/wrapper" modcache staging
  mkdir -p "$w"
  # The module's own go.mod names its staging modules (replace k8s.io/X => ./staging/...); the
  # wrapper pins each to the matching published version. Run go here, never in the module cache
  # (its go.work lists staging directories the module zip does not have).
  (cd /tmp && gobuild_env go mod download "k8s.io/kubernetes@v$KUBE_VERSION") > "$kubelet_dir/build.log" 2>&1 ||
    { tail -n 20 "$kubelet_dir/build.log" >&2; return 1; }
  modcache=$(go env GOMODCACHE)
  staging=$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$modcache/k8s.io/kubernetes@v$KUBE_VERSION/go.mod" | sort -u)
  [ -n "$staging" ] || { log "error: no staging replaces in k8s.io/kubernetes@v$KUBE_VERSION's go.mod"; return 1; }
  { printf 'module hh-k8s-wrapper\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$KUBE_VERSION"
    printf '%s\n' "$staging" | while read -r mod; do printf '\t%s => %s v%s\n' "$mod" "$mod" "$STAGING_VERSION"; done
    printf ')\n'; } > "$w/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kubelet"\n' > "$w/tools.go"
  (cd "$w" && gobuild_env go mod tidy) > "$kubelet_dir/tidy.log" 2>&1 || { tail -n 20 "$kubelet_dir/tidy.log" >&2; return 1; }
  local v=k8s.io/component-base/version minor=${KUBE_VERSION#1.}; minor=${minor%%.*}
  (cd "$w" && gobuild_env CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X $v.gitVersion=v$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor" \
    -o "$kubelet_dir/kubelet.tmp.$$" k8s.io/kubernetes/cmd/kubelet) >> "$kubelet_dir/build.log" 2>&1 ||
    { rm -f "$kubelet_dir/kubelet.tmp.$$"; tail -n 20 "$kubelet_dir/build.log" >&2; return 1; }
  mv -f "$kubelet_dir/kubelet.tmp.$$" "$kubelet_dir/kubelet"
  done_step "$kubelet_dir"
}

build_cni() {
  have_cni && { log "CNI plugins v$CNI_VERSION: cached at $cni_dir"; return 0; }
  step "CNI plugins v$CNI_VERSION: bridge, host-local, loopback"
  mkdir -p "$cni_dir"
  local m=github.com/containernetworking/plugins/plugins
  (cd /tmp && gobuild_env CGO_ENABLED=0 GOBIN="$cni_dir" go install -trimpath \
    "$m/main/bridge@v$CNI_VERSION" "$m/main/loopback@v$CNI_VERSION" "$m/ipam/host-local@v$CNI_VERSION") \
    > "$cni_dir/build.log" 2>&1 || { tail -n 20 "$cni_dir/build.log" >&2; return 1; }
  done_step "$cni_dir"
}

build_pause() {
  have_pause && { log "pause $PAUSE_VERSION: cached at $pause_dir"; return 0; }
  step "pause $PAUSE_VERSION: gcc -static (build/pause/linux/pause.c of k8s.io/kubernetes v$KUBE_VERSION)"
  mkdir -p "$pause_dir"
  (cd /tmp && go mod download "k8s.io/kubernetes@v$KUBE_VERSION") >/dev/null 2>&1 || true
  local src; src="$(go env GOMODCACHE)/k8s.io/kubernetes@v$KUBE_VERSION/build/pause/linux/pause.c"
  [ -r "$src" ] || { log "error: $src is missing"; return 1; }
  gcc -static -O2 -DVERSION="$PAUSE_VERSION" -o "$pause_dir/pause.tmp.$$" "$src" && mv -f "$pause_dir/pause.tmp.$$" "$pause_dir/pause"
  done_step "$pause_dir"
}

build_images() {
  have_images && { log "OCI image tars: cached at $images_dir"; return 0; }
  step "OCI image tars: docker.io/library/localbb:latest (/bin/busybox), registry.k8s.io/pause:$PAUSE_VERSION"
  mkdir -p "$images_dir"
  python3 "$repo/scripts/k8s-oci-image.py" busybox /bin/busybox "$images_dir/localbb.oci.tar" >&2
  python3 "$repo/scripts/k8s-oci-image.py" pause "$pause_dir/pause" "$images_dir/pause.oci.tar" "$PAUSE_VERSION" >&2
  done_step "$images_dir"
}

build_all() {
  local t0; t0=$(date +%s)
  for tool in go gcc python3; do command -v "$tool" >/dev/null 2>&1 || { log "error: '$tool' is required"; return 1; }; done
  [ -x /bin/busybox ] || { log "error: /bin/busybox is required (busybox-static)"; return 1; }
  build_runc; build_containerd; build_kubelet; build_cni; build_pause; build_images
  log "ready in $(( $(date +%s) - t0 ))s: $cache"
}

mkdir -p "$cache"
case "${1:-}" in
  --check) have_all ;;
  --background)
    if have_all; then log "everything cached at $cache"; exit 0; fi
    log "building in the background (log: $cache/build.log)"
    # setsid: the build outlives bootstrap; the lock makes a later foreground run wait for it.
    # shellcheck disable=SC2016 # $1 and $@ are the inner shell's
    setsid bash -c 'exec 9>>"$1/.lock"; flock 9; shift; exec bash "$@"' _ "$cache" "${BASH_SOURCE[0]}" --locked \
      > "$cache/build.log" 2>&1 < /dev/null &
    ;;
  --locked) build_all ;;
  "")
    if ! have_all; then
      exec 9>>"$cache/.lock"
      flock -n 9 || { log "waiting for a build already running (log: $cache/build.log)"; flock 9; }
      build_all
    fi
    printf '%s\n' "$cache" ;;
  *) log "usage: k8s-toolchain.sh [--background|--check]"; exit 2 ;;
esac
