#!/usr/bin/env bash
# Builds hardened-hosts' TypeScript stand-in for pulumi-command v1.2.1 and installs it where the
# Pulumi engine looks for the plugin the @pulumi/command@1.2.1 SDK asks for:
#
#   ${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-command-v1.2.1/
#     pulumi-resource-command   the launcher (the engine runs <dir>/pulumi-resource-<name>)
#     dist/*.js                 the compiled provider
#     node_modules -> tools/command-provider/node_modules
#
# This directory is a package of its own: `npm ci` here first (scripts/bootstrap.sh does it);
# the build uses the package's own tsc and tsconfig.build.json (output: dist/, git-ignored).
#
# The node_modules link lets Node's ordinary resolution find ssh2 and @pulumi/pulumi from
# dist/main.js. (NODE_PATH would work too, but the provider's environment is passed on to every
# local.Command it runs, and a stray NODE_PATH would change how those commands resolve modules.)
# The link ties the plugin to this checkout: re-run this script after moving the repository.
#
# The engine (pkg workspace.HasPlugin / GetPluginsFromDir in 3.258) treats a plugin directory as
# installed when it exists and no sibling "<dir>.partial" file does; we create that marker first
# and remove it last, so an engine running meanwhile never picks up a half-written plugin.
#
# Usage: tools/command-provider/install.sh        (PULUMI_HOME selects the plugin home)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="1.2.1"
plugins="${PULUMI_HOME:-$HOME/.pulumi}/plugins"
dest="$plugins/resource-command-v$version"
build="$here/dist"
tsc="$here/node_modules/.bin/tsc"

if [[ ! -x "$tsc" ]]; then
  echo "install.sh: $tsc not found; run 'npm ci' in $here first" >&2
  exit 1
fi
for dep in ssh2 @pulumi/pulumi @grpc/grpc-js; do
  if [[ ! -d "$here/node_modules/$dep" ]]; then
    echo "install.sh: $here/node_modules/$dep is missing; run 'npm ci' in $here first" >&2
    exit 1
  fi
done

# A clean build, so a module deleted from the sources cannot linger in dist/.
rm -rf "$build"
"$tsc" -p "$here/tsconfig.build.json"

mkdir -p "$plugins"
touch "$dest.partial"
rm -rf "$dest"
mkdir -p "$dest/dist"
cp "$build"/*.js "$dest/dist/"
install -m 0755 "$here/pulumi-resource-command" "$dest/pulumi-resource-command"
ln -s "$here/node_modules" "$dest/node_modules"
rm -f "$dest.partial"

echo "installed pulumi-resource-command v$version (TypeScript stand-in) in $dest"
