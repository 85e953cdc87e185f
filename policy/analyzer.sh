#!/usr/bin/env bash
# Starts this policy pack as an analyzer plugin, for engines whose Node.js language host cannot:
#
#   pulumi preview --policy-pack policy/analyzer.sh
#
# Given a directory, the engine starts a nodejs pack through the language host's RunPlugin RPC;
# the host this repository builds offline (sdk/v3 v3.68.0) answers "not supported". Given an
# executable file, the engine runs it with its own address as the last argument, reads the gRPC
# port from its first line of stdout, and still reads PulumiPolicy.yaml next to it. This does
# what newer language hosts do for a pack: run @pulumi/pulumi's run-policy-pack on the directory.
set -euo pipefail
pack="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Logging flags (--logtostderr, -v=N, --tracing URL) come first; the engine's address is last.
engine="${*: -1}"
cd "$pack"
runner="$(node -e 'process.stdout.write(require.resolve("@pulumi/pulumi/cmd/run-policy-pack"))')"
exec node "$runner" "$engine" "$pack"
