#!/usr/bin/env bash
# Installed by scripts/pulumi-toolchain.sh as `pulumi-language-nodejs`, next to the engine: the
# v3.68.0 Node.js language host (the newest the Go module proxy here lets us build), told the
# project's `runtime.options.typescript`.
#
# Why: engines since v3.1xx send a project's runtime options in their RPCs; the 3.68 host reads
# them only as command-line flags, which this engine no longer passes. Without this, every
# project runs with ts-node registered (typescript defaults to true), Pulumi.yaml's
# `typescript: false` included, so ts-node and its source-map stack traces were loaded into
# every program (docs/notes/fleet-scale.md). A standard install honours the option itself; this
# makes ours do the same.
#
# The engine starts a language host in the program's directory (`main`'s folder, here stacks/):
# the project is the nearest Pulumi.yaml at or above it, as the CLI itself finds it.
set -euo pipefail

here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
real="$here/pulumi-language-nodejs-v3.68.0"

# The `typescript` option of the top-level `runtime` key, in block or flow style; anything the
# reader does not recognise keeps the host's default (true), as a standard install would.
typescript_option() {
  local dir project
  dir=$(pwd -P)
  while :; do
    for project in "$dir/Pulumi.yaml" "$dir/Pulumi.yml"; do
      [ -f "$project" ] && break 2
    done
    [ "$dir" = / ] && { echo true; return; }
    dir=$(dirname "$dir")
  done
  awk '
    /^runtime:/ { inside = 1; if ($0 ~ /typescript:[[:space:]]*false([[:space:]]*[,}#]|[[:space:]]*$)/) found = 1; next }
    /^[^[:space:]#]/ { inside = 0 }
    inside && /^[[:space:]]+typescript:[[:space:]]*false[[:space:]]*(#.*)?$/ { found = 1 }
    END { print (found ? "false" : "true") }
  ' "$project"
}

flags=()
if [ "$(typescript_option)" = false ]; then
  flags+=(-typescript=false)
fi
exec "$real" "${flags[@]}" "$@"
