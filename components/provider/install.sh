#!/usr/bin/env bash
# Installs the hardened-hosts component provider where the Pulumi engine looks for the plugin a
# program's `hardened-hosts:index:HardenedFleet` asks for:
#
#   ${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-hardened-hosts-v<version>/
#     pulumi-resource-hardened-hosts -> <this directory>/pulumi-resource-hardened-hosts
#
# <version> is the hardened-hosts package's (its package.json, two or three levels up).
# The link ties the plugin to this checkout or installed package (node resolves @pulumi/pulumi and
# the library from there): run this again after moving it. This is how the provider runs where
# the Node.js language host cannot run plugins itself (v3.68 here, no RunPlugin); on a standard
# install `pulumi package add` with PulumiPlugin.yaml does it (README: "Use it in your own program").
#
# As tools/command-provider/install.sh: a sibling "<dir>.partial" marker while the directory is
# written, so an engine running meanwhile never takes a half-written plugin.
#
# Usage: install.sh        (PULUMI_HOME selects the plugin home)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The package this directory belongs to: components/provider/ in a checkout, or
# dist/components/provider/ in the installed npm package.
pkg=""
for d in "$here/.." "$here/../.." "$here/../../.."; do
  if [ -f "$d/package.json" ] && [ "$(node -p 'require(process.argv[1]).name' "$d/package.json")" = hardened-hosts ]; then
    pkg="$(cd "$d" && pwd)/package.json"
    break
  fi
done
[ -n "$pkg" ] || { echo "install.sh: no hardened-hosts package.json above $here" >&2; exit 1; }
version="$(node -p 'require(process.argv[1]).version' "$pkg")"
plugins="${PULUMI_HOME:-$HOME/.pulumi}/plugins"
dest="$plugins/resource-hardened-hosts-v$version"

launcher="$here/pulumi-resource-hardened-hosts"
if [ -x "$launcher" ]; then
  if [ "$(readlink "$dest/pulumi-resource-hardened-hosts" 2>/dev/null)" = "$launcher" ] && [ ! -e "$dest.partial" ]; then
    echo "pulumi-resource-hardened-hosts v$version: installed in $dest" >&2
    exit 0
  fi
elif [ ! -f "$here/main.js" ]; then
  echo "install.sh: neither $launcher nor $here/main.js (run npm run build)" >&2
  exit 1
fi
mkdir -p "$plugins"
touch "$dest.partial"
rm -rf "$dest"
mkdir -p "$dest"
if [ -x "$launcher" ]; then
  ln -s "$launcher" "$dest/pulumi-resource-hardened-hosts"
else
  # A package built without the launcher beside main.js: one that runs it.
  printf '#!/bin/sh\nexec node %s "$@"\n' "'$here/main.js'" > "$dest/pulumi-resource-hardened-hosts"
  chmod 0755 "$dest/pulumi-resource-hardened-hosts"
fi
rm -f "$dest.partial"
echo "installed pulumi-resource-hardened-hosts v$version (component provider) in $dest" >&2
