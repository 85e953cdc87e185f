#!/usr/bin/env bash
# The main job on the embedded default: set everything up, then `pulumi up` the `dev` stack
# (file backend under .pulumi-state/) on the local test hosts of lab/lab.sh, and print its outputs.
# `npm run lab -- down` removes the hosts afterwards (`pulumi destroy` first puts them back as found).
# Extra arguments go to `pulumi up`, e.g. `bash scripts/up.sh --diff`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/bootstrap.sh
# The stack program loads the library from dist/, as a user's program loads the package.
node scripts/build.js
stack="${HH_STACK:-dev}"
# The dev stack hardens the local disposable test hosts (a no-op when they already run).
fresh_lab=0
if [ "$stack" = dev ]; then
  [ -f .lab/inventory.json ] || fresh_lab=1
  rc=0
  bash lab/lab.sh up || rc=$?
  if [ "$rc" = 3 ]; then
    # The running lab is not this version's (e.g. started before the lab had a fourth host):
    # its hosts are disposable, so start the lab this version describes.
    echo "[up] the running lab is not the one the dev stack expects: starting it again" >&2
    bash lab/lab.sh down
    bash lab/lab.sh up
    fresh_lab=1
  elif [ "$rc" != 0 ]; then
    exit "$rc"
  fi
fi
# shellcheck source=scripts/pulumi-env.sh
source scripts/pulumi-env.sh
pulumi stack select "$stack" --non-interactive 2>/dev/null || pulumi stack init "$stack" --non-interactive
if [ "$fresh_lab" = 1 ]; then
  # New lab hosts: whatever the state says about earlier lab hosts describes machines that are
  # gone (their keys and host keys with them). Forget it, rather than fail deleting from them.
  state=$(pulumi stack export --stack "$stack")
  if [ "$(jq '.deployment.resources // [] | length' <<< "$state")" -gt 0 ]; then
    echo "[up] the lab was started anew: dropping the $stack stack's records of the earlier lab hosts" >&2
    jq '.deployment.resources = [] | .deployment.pending_operations = []' <<< "$state" |
      pulumi stack import --stack "$stack" --force --file /dev/stdin
  fi
fi
if ! pulumi up --yes --non-interactive --stack "$stack" "$@"; then
  # A failed update keeps the previous stack outputs (the engine saves outputs only when the
  # program succeeds): observe the hosts again so the outputs printed below are true now.
  echo "[up] pulumi up failed; refreshing, so the outputs say what the hosts are now" >&2
  pulumi refresh --yes --non-interactive --skip-preview --stack "$stack" >&2 || true
  pulumi stack output --json --stack "$stack"
  exit 1
fi
pulumi stack output --json --stack "$stack"
