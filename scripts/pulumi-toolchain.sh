#!/usr/bin/env bash
# Makes the Pulumi engine available with no internet:
#   pulumi                         the CLI/engine, built from its Go module
#   pulumi-language-nodejs         the Node.js language host, built from its Go module
#   pulumi-resource-pulumi-nodejs  the dynamic-provider launcher (scripts/dynamic-provider.js)
#   pulumi-resource-command 1.2.1  the Command provider plugin (see tools/command-provider/)
#   pulumi-language-yaml           the Pulumi YAML language host (YAML programs), built from its Go module
#   pulumi-resource-hardened-hosts the library's component provider (components/provider/), so
#                                  programs in other languages (YAML here) can declare a HardenedFleet
#   hh-sdk-gen                     Python and Go SDKs from a schema (tools/sdk-gen/: the Python and
#                                  Go language hosts that `pulumi package gen-sdk` needs are refused)
#
# Binaries are cached by version outside the clone (HH_TOOLCHAIN_DIR), so a second run, or a
# fresh clone on the same machine, takes seconds. Each step says what it does and how long it took.
#
# Why not the exact versions the npm SDKs name (see ../shared/notes/pulumi-offline.md)?
# The Go module proxy reachable here refuses (403 "This module version is not available"):
#   - github.com/pulumi/pulumi/pkg/v3 @ v3.270.0 (the npm SDK's version) and others; v3.274.1 is the
#     newest it serves (checked 2026-12-01), so that is the engine we build (HH_PULUMI_VERSION);
#   - github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 at every pseudo-version tried,
#     so we fall back to the last release whose language host lived inside the sdk/v3 module
#     (v3.68.0). It speaks the same gRPC protocol; the engine tolerates RPCs it lacks;
#   - github.com/pulumi/pulumi-command/provider at every pseudo-version, so the Command provider
#     cannot be built here; tools/command-provider/ is our stand-in (same schema, same type tokens).
# Each refused download is tried first, so the real thing is used as soon as the proxy serves it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/pulumi-env.sh
source "$repo/scripts/pulumi-env.sh"

# The language host module has no tags: its release is the commit of the sdk tag, as a pseudo-version.
readonly LANGHOST_MODULE="github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3"
readonly LANGHOST_PSEUDO_3_258_0="v3.0.0-20260817123626-dd623623bc63"
readonly LANGHOST_FALLBACK_SDK="3.68.0"
# The YAML language host: github.com/pulumi/pulumi-yaml is served by the proxy (v1.25.0 checked 2026-12-07).
readonly YAML_MODULE="github.com/pulumi/pulumi-yaml"
readonly YAML_VERSION="${HH_YAML_VERSION:-1.25.0}"
readonly CLIPBOARD_REPLACE="github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e"

bin="$HH_TOOLCHAIN_DIR/bin"
src="$HH_TOOLCHAIN_DIR/src"
mkdir -p "$bin" "$src"

log() { printf '[toolchain] %s\n' "$*" >&2; }
step_start=0
step() { step_start=$(date +%s); log "$*"; }
done_step() { log "  done in $(( $(date +%s) - step_start ))s"; }

need() {
  command -v "$1" >/dev/null 2>&1 || { log "error: '$1' is required ($2)"; exit 1; }
}

go_build() { # go_build <module dir> <output> <version ldflag value> <package> [more ldflags]
  # A temp name of this process's own: two bootstraps at once (two clones) must not move each
  # other's half-written binary.
  local dir=$1 out=$2 ver=$3 pkg=$4 extra=${5:-} tmp="$2.tmp.$$"
  (cd "$dir" && GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 go build -trimpath \
      -tags osusergo,grpcnotrace \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$ver $extra" \
      -o "$tmp" "$pkg" 2> >(grep -v '^go: downloading ' >&2))
  mv -f "$tmp" "$out"
}

# Is this exact module version served by the proxy? (A refusal answers in well under a second.)
module_available() {
  (cd "$src" && GOFLAGS=-mod=mod go mod download -json "$1@$2" 2>/dev/null | grep -q '"Zip"')
}

write_go_mod() { # write_go_mod <dir> <module name> <require lines...>
  local dir=$1 name=$2; shift 2
  mkdir -p "$dir"
  { printf 'module %s\n\ngo 1.25\n\nrequire (\n' "$name"
    printf '\t%s\n' "$@"
    printf ')\n\nreplace %s\n' "$CLIPBOARD_REPLACE"; } > "$dir/go.mod"
}

# Patches to the engine's own module (scripts/patches/pulumi-pkg-*.patch, applied with git apply
# to a copy of github.com/pulumi/pulumi/pkg/v3 from the module cache, used through a replace
# line): pulumi-pkg-preview-snapshot.patch stops a preview from serializing the whole deployment
# after every step only to discard it (quadratic in resources: docs/notes/fleet-scale.md). The
# binary records the patches' digest beside it; a change rebuilds.
cli_patches() { local f; for f in "$repo"/scripts/patches/pulumi-pkg-*.patch; do [ ! -e "$f" ] || printf '%s\n' "$f"; done; }
cli_patch_digest() { { echo "v$HH_PULUMI_VERSION"; cli_patches | while read -r f; do cat "$f"; done; } | sha256sum | cut -c1-16; }

build_cli() {
  local digest; digest=$(cli_patch_digest)
  if [ -x "$bin/pulumi" ] && [ "$("$bin/pulumi" version 2>/dev/null)" = "v$HH_PULUMI_VERSION" ] &&
     [ "$(cat "$bin/pulumi.patches" 2>/dev/null)" = "$digest" ]; then
    log "pulumi v$HH_PULUMI_VERSION (patches $digest): cached at $bin/pulumi"
    return
  fi
  need go "the Pulumi CLI is built from its Go module"
  need git "the engine's patches are applied with git apply"
  step "pulumi v$HH_PULUMI_VERSION: building from github.com/pulumi/pulumi/pkg/v3 with $(cli_patches | wc -l) patch(es) (cold: several minutes)"
  write_go_mod "$src/cli" hardened-hosts/toolchain/cli \
    "github.com/pulumi/pulumi/pkg/v3 v$HH_PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3 v$HH_PULUMI_VERSION"
  # The module's pristine copy (read-only in the module cache), patched in a folder of our own.
  local pristine patched="$src/pkg-v$HH_PULUMI_VERSION-patched" f
  pristine=$(cd "$src/cli" && GOFLAGS=-mod=mod go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$HH_PULUMI_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$pristine" ] || { log "error: github.com/pulumi/pulumi/pkg/v3@v$HH_PULUMI_VERSION is not in the module cache"; exit 1; }
  rm -rf "$patched"
  cp -R "$pristine" "$patched"
  chmod -R u+w "$patched"
  while read -r f; do
    (cd "$patched" && git apply -p1 "$f") || { log "error: $f does not apply to pkg/v3@v$HH_PULUMI_VERSION"; exit 1; }
    log "  patched: ${f#"$repo"/}"
  done < <(cli_patches)
  printf '\nreplace github.com/pulumi/pulumi/pkg/v3 => %s\n' "$patched" >> "$src/cli/go.mod"
  go_build "$src/cli" "$bin/pulumi" "$HH_PULUMI_VERSION" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  printf '%s\n' "$digest" > "$bin/pulumi.patches"
  done_step
}

# Copies a file of the checkout into the toolchain's bin (atomically) unless the same bytes are
# there already: a cached toolchain takes the checkout's current copy.
install_from_checkout() {
  local from="$repo/$1" to="$bin/$2" mode=$3
  cmp -s "$from" "$to" && return 0
  install -m "$mode" "$from" "$to.tmp.$$"
  mv -f "$to.tmp.$$" "$to"
  log "$2: installed from $1"
}

build_language_host() {
  if [ "$HH_PULUMI_VERSION" = "3.258.0" ] && module_available "$LANGHOST_MODULE" "$LANGHOST_PSEUDO_3_258_0"; then
    if [ -x "$bin/pulumi-language-nodejs" ] && [ "$(head -c 4 "$bin/pulumi-language-nodejs")" = $'\x7fELF' ]; then
      log "pulumi-language-nodejs: cached at $bin/pulumi-language-nodejs"
      return
    fi
    need go "the Node.js language host is built from its Go module"
    step "pulumi-language-nodejs: building from $LANGHOST_MODULE@$LANGHOST_PSEUDO_3_258_0"
    write_go_mod "$src/langhost" hardened-hosts/toolchain/langhost \
      "$LANGHOST_MODULE $LANGHOST_PSEUDO_3_258_0" \
      "github.com/pulumi/pulumi/pkg/v3 v$HH_PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3 v$HH_PULUMI_VERSION"
    go_build "$src/langhost" "$bin/pulumi-language-nodejs" "$HH_PULUMI_VERSION" "$LANGHOST_MODULE"
    done_step
    return
  fi
  # The fallback: the host inside sdk/v3@v3.68.0, under its own name, started through
  # scripts/language-host.sh (it passes Pulumi.yaml's typescript option, which that host reads only
  # as a flag).
  local real="$bin/pulumi-language-nodejs-v$LANGHOST_FALLBACK_SDK"
  if [ ! -x "$real" ] && [ -x "$bin/pulumi-language-nodejs" ] &&
     [ "$(head -c 4 "$bin/pulumi-language-nodejs")" = $'\x7fELF' ]; then
    # A toolchain cached before the wrapper: that binary is the 3.68 host.
    mv -f "$bin/pulumi-language-nodejs" "$real"
  fi
  if [ -x "$real" ]; then
    log "pulumi-language-nodejs v$LANGHOST_FALLBACK_SDK: cached at $real"
  else
    need go "the Node.js language host is built from its Go module"
    step "pulumi-language-nodejs: the proxy refuses $LANGHOST_MODULE; building the host inside github.com/pulumi/pulumi/sdk/v3@v$LANGHOST_FALLBACK_SDK"
    write_go_mod "$src/langhost" hardened-hosts/toolchain/langhost \
      "github.com/pulumi/pulumi/sdk/v3 v$LANGHOST_FALLBACK_SDK"
    go_build "$src/langhost" "$real" "$LANGHOST_FALLBACK_SDK" \
      github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs
    done_step
  fi
  install_from_checkout scripts/language-host.sh pulumi-language-nodejs 0755
}

install_dynamic_provider_launcher() {
  # scripts/dynamic-provider.js (it says why) instead of the sh launcher in the Go SDK module, with
  # the closure deferral it loads beside it.
  install_from_checkout scripts/dynamic-provider.js pulumi-resource-pulumi-nodejs 0755
  install_from_checkout stacks/lazy-closure.js lazy-closure.js 0644
}

install_command_provider() {
  # install.sh builds with the package's own node_modules (scripts/bootstrap.sh runs npm ci there first).
  [ -d "$repo/tools/command-provider/node_modules/@pulumi/pulumi" ] || {
    log "error: run 'npm ci' in tools/command-provider first (scripts/bootstrap.sh does)"; exit 1; }
  step "pulumi-resource-command v1.2.1: installing into $PULUMI_HOME/plugins"
  bash "$repo/tools/command-provider/install.sh"
  done_step
}

build_yaml_language_host() {
  # Cached under its version (pulumi-language-yaml-v<version>); the name the engine looks for,
  # pulumi-language-yaml, is a link to it, next to pulumi.
  local real="$bin/pulumi-language-yaml-v$YAML_VERSION"
  if [ -x "$real" ]; then
    log "pulumi-language-yaml v$YAML_VERSION: cached at $real"
  else
    need go "the YAML language host is built from its Go module"
    step "pulumi-language-yaml v$YAML_VERSION: building from $YAML_MODULE (cold: several minutes)"
    # With the pkg/sdk versions its own go.mod names (v3.206.0 for 1.25.0): it does not compile
    # against the engine's v3.274.1 (plugin.NewContext changed); the engine speaks to it over gRPC.
    write_go_mod "$src/yaml" hardened-hosts/toolchain/yaml "$YAML_MODULE v$YAML_VERSION"
    go_build "$src/yaml" "$real" "$HH_PULUMI_VERSION" "$YAML_MODULE/cmd/pulumi-language-yaml" \
      "-X $YAML_MODULE/pkg/version.Version=v$YAML_VERSION"
    done_step
  fi
  if [ "$(readlink "$bin/pulumi-language-yaml" 2>/dev/null)" != "${real##*/}" ]; then
    ln -sfn "${real##*/}" "$bin/pulumi-language-yaml"
  fi
}

build_sdk_generator() {
  # tools/sdk-gen/main.go (it says why): built against the engine's pkg/v3, whose modules the CLI
  # build put in the module cache; rebuilt when the source changes.
  local out="$bin/hh-sdk-gen" copy="$src/sdkgen/main.go"
  if [ -x "$out" ] && cmp -s "$repo/tools/sdk-gen/main.go" "$copy"; then
    log "hh-sdk-gen: cached at $out"
    return
  fi
  need go "the SDK generator is built from github.com/pulumi/pulumi/pkg/v3"
  step "hh-sdk-gen: building tools/sdk-gen against github.com/pulumi/pulumi/pkg/v3@v$HH_PULUMI_VERSION"
  rm -f "$out" # a failed build must not leave an older binary that the source copy would vouch for
  write_go_mod "$src/sdkgen" hardened-hosts/toolchain/sdkgen \
    "github.com/pulumi/pulumi/pkg/v3 v$HH_PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3 v$HH_PULUMI_VERSION"
  cp "$repo/tools/sdk-gen/main.go" "$copy.tmp.$$"
  mv -f "$copy.tmp.$$" "$copy"
  go_build "$src/sdkgen" "$out" "$HH_PULUMI_VERSION" .
  done_step
}

install_fleet_provider() {
  # A link in the plugin home to components/provider/pulumi-resource-hardened-hosts (install.sh says why).
  step "pulumi-resource-hardened-hosts: installing into $PULUMI_HOME/plugins"
  bash "$repo/components/provider/install.sh"
  done_step
}

total_start=$(date +%s)
need node "the stacks are TypeScript programs"
[ -d "$repo/node_modules/@pulumi/pulumi" ] || { log "error: run 'npm ci' first"; exit 1; }
build_cli
build_language_host
install_dynamic_provider_launcher
install_command_provider
build_yaml_language_host
build_sdk_generator
install_fleet_provider
log "$(pulumi version) ready in $(( $(date +%s) - total_start ))s (bin: $bin, PULUMI_HOME: $PULUMI_HOME)"
