#!/usr/bin/env bash
# The main job on the embedded default: set everything up, then `pulumi up` the `dev` stack
# (file backend under .pulumi-state/) on the local test hosts of lab/lab.sh, and print its outputs.
# `npm run lab -- down` removes the hosts afterwards (`pulumi destroy` first puts them back as found).
# Extra arguments go to `pulumi up`, e.g. `bash scripts/up.sh --diff`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/bootstrap.sh
# The dev stack hardens the local disposable test hosts (a no-op when they already run).
if [ "${HH_STACK:-dev}" = dev ]; then bash lab/lab.sh up; fi
# shellcheck source=scripts/pulumi-env.sh
source scripts/pulumi-env.sh
stack="${HH_STACK:-dev}"
pulumi stack select "$stack" --non-interactive 2>/dev/null || pulumi stack init "$stack" --non-interactive
pulumi up --yes --non-interactive --stack "$stack" "$@"
pulumi stack output --json --stack "$stack"
