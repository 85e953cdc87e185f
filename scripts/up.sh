#!/usr/bin/env bash
# The main job on the embedded default: set everything up, then `pulumi up` the `dev` stack
# (file backend under .pulumi-state/) and print its outputs.
# Extra arguments go to `pulumi up`, e.g. `bash scripts/up.sh --diff`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/bootstrap.sh
# shellcheck source=scripts/pulumi-env.sh
source scripts/pulumi-env.sh
stack="${HH_STACK:-dev}"
pulumi stack select "$stack" --non-interactive 2>/dev/null || pulumi stack init "$stack" --non-interactive
pulumi up --yes --non-interactive --stack "$stack" "$@"
pulumi stack output --json --stack "$stack"
