#!/usr/bin/env bash
# Lints every shell script the project ships (host scripts, tooling, CI) with shellcheck.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v shellcheck >/dev/null 2>&1 || {
  echo "shellcheck is not installed: run scripts/bootstrap.sh" >&2
  exit 1
}
mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.sh' '.ci/run' 'tools/*/pulumi-resource-*' 'components/*/pulumi-resource-*')
shellcheck -x -S style "${files[@]}"
echo "shellcheck: ${#files[@]} scripts clean"
