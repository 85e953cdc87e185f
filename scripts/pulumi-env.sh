# shellcheck shell=bash
# Offline Pulumi settings, in one place. Source it: `source scripts/pulumi-env.sh`.
#
# Every script, test and README command goes through this file, so a stack always sees the
# same engine, plugin home and backend. Values already set in the environment win, so a
# platform team can point PULUMI_BACKEND_URL at its own backend and bring its own passphrase.

_hh_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Engine version: the newest CLI the Go module proxy serves here (see scripts/pulumi-toolchain.sh).
export HH_PULUMI_VERSION="${HH_PULUMI_VERSION:-3.274.1}"
# Built binaries are cached by version outside the clone, so a fresh clone reuses them.
export HH_TOOLCHAIN_DIR="${HH_TOOLCHAIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hardened-hosts/toolchain/pulumi-v${HH_PULUMI_VERSION}}"

# Plugin home and state live in git-ignored folders of the project: nothing global is touched.
export PULUMI_HOME="${PULUMI_HOME:-$_hh_root/.pulumi-home}"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$_hh_root/.pulumi-state}"
# The dev stack's secrets are encrypted with this passphrase. It protects nothing real: the dev
# stack only talks to disposable local test hosts. Set your own for any other stack.
if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE="hardened-hosts-dev"
fi
# No internet: never look for updates, never try to download plugins.
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
# `pulumi refresh` (and destroy) run the program too, so the stack outputs, which say whether
# each host passed its checks, are recomputed from what the refresh observed (a standard
# install: `pulumi refresh --run-program`, or export this yourself).
export PULUMI_RUN_PROGRAM="${PULUMI_RUN_PROGRAM:-true}"
# The project's own program loads through stacks/main.js (no ts-node); other TypeScript programs
# run with this engine (the tests' fixture projects, a platform team's own stacks using the
# library) are transpiled only, not type-checked, as `npm test` type-checks (the v3.68.0 language
# host here ignores Pulumi.yaml's tsconfig option, so this is the one switch it reads).
export PULUMI_NODEJS_TRANSPILE_ONLY="${PULUMI_NODEJS_TRANSPILE_ONLY:-true}"

# The engine finds its bundled language host next to itself; keep that directory first on PATH.
case ":$PATH:" in
  *":$HH_TOOLCHAIN_DIR/bin:"*) ;;
  *) export PATH="$HH_TOOLCHAIN_DIR/bin:$PATH" ;;
esac

mkdir -p "$PULUMI_HOME"
case "$PULUMI_BACKEND_URL" in
  file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;;
esac
unset _hh_root
