#!/usr/bin/env bash
# Host side of the support decision (components/platform/): observes the facts that decide
# whether a distribution can run a runtime mode, and applies or takes back the two narrow fixes
# the decision may ask for. The decision itself is TypeScript (support.ts); this script never
# decides, it observes and does what it is told.
#
#   platform.sh observe                               read-only: the facts, one JSON object
#   platform.sh fix [--apparmor-userns PATH]... [--max-user-namespaces N]
#   platform.sh unfix                                 takes back what fix made
#
# observe: os-release (ID, ID_LIKE, VERSION_ID), the package manager (apt, dnf, yum), the
#   kernel, AppArmor (enabled: the module's parameter, else aa-enabled;
#   kernel.apparmor_restrict_unprivileged_userns, the parser, and for
#   the rootlesskit and podman in use and at their package paths: the profile files that attach
#   to that exact path and whether they allow `userns,`), SELinux's mode,
#   user.max_user_namespaces and every sysctl file that sets it, kernel.unprivileged_userns_clone,
#   the versions of dockerd, podman, rootlesskit and the shadow package (newuidmap, getsubids),
#   login.defs' SUB_UID_MIN/MAX, SUB_GID_MIN/MAX, UID_MIN/MAX, and whether a user namespace with
#   a written uid_map works for an unprivileged process (a functional probe: `unshare -U` alone
#   is not enough on Ubuntu 24.04, where the namespace is created but has no capabilities).
# fix: --apparmor-userns PATH (repeatable): an AppArmor profile for that exact executable
#   (`flags=(unconfined)`, `userns,`: the profile Docker's rootless documentation gives), in its
#   own file /etc/apparmor.d/hardened-hosts.<path with dots>, loaded with apparmor_parser -r. The
#   host-wide `unprivileged_userns` profile is never touched. --max-user-namespaces N: the value
#   in its own file /etc/sysctl.d/90-hardened-hosts-userns.conf, set at once (sysctl -w). Each fix
#   is remembered under /var/lib/hardened-hosts/platform/ with what it replaced; fix with fewer
#   fixes than before takes back the ones no longer asked for. A host needing no fix is not written.
# unfix: removes (and unloads) our profiles, removes our sysctl file and puts the value seen before
#   the fix back, then removes the state folder.
#
# Environment (tests): HH_PLATFORM_ROOT  a folder standing in for / (files under /etc, /proc/sys,
#   /sys, /var/lib are read and written below it; the probe, sysctl -w and apparmor_parser are
#   not run). Default empty: the host itself.
#
# stdout: one JSON object. stderr: one line per step ("platform: ...").
# Exit (the table in components/host/prelude.sh): 0 ok; EXIT_FAILED; EXIT_USAGE;
# EXIT_PRECONDITION not root (fix, unfix); EXIT_UNSUPPORTED a profile cannot be loaded or the
# value cannot be set (nothing of that fix is left behind).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../host/prelude.sh
[ "${HH_PRELUDE:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/../host/prelude.sh"

# Hosts get this script on stdin (`bash -s -- ARGS`): the brace group is parsed whole before it
# runs, and its stdin is /dev/null, so no command below can eat the script's rest.
{

readonly TOOL=platform
readonly ROOT="${HH_PLATFORM_ROOT:-}"
readonly SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly STATE="$ROOT/var/lib/hardened-hosts/platform"
readonly SYSCTL_FILE="$ROOT/etc/sysctl.d/90-hardened-hosts-userns.conf"
readonly PROFILE_PREFIX=hardened-hosts.
action="" max_userns=""
apparmor_paths=()

usage() { fail "$EXIT_USAGE" "$*; usage: platform.sh observe | fix [--apparmor-userns PATH]... [--max-user-namespaces N] | unfix"; }

parse_args() {
  [ $# -gt 0 ] || usage "no action"
  action=$1; shift
  case "$action" in observe|fix|unfix) ;; *) usage "unknown action '$action'" ;; esac
  while [ $# -gt 0 ]; do
    [ "$action" = fix ] || usage "$action takes no options"
    [ $# -ge 2 ] || usage "option $1 needs a value"
    case "$1" in
      --apparmor-userns)
        if ! [[ "$2" =~ ^/[A-Za-z0-9._+/-]+$ ]] || [[ "$2" == *..* ]]; then usage "--apparmor-userns: '$2' is not an absolute path of letters, digits and ._+-/"; fi
        apparmor_paths+=("$2") ;;
      --max-user-namespaces)
        [[ "$2" =~ ^[1-9][0-9]{0,8}$ ]] || usage "--max-user-namespaces: '$2' is not a positive whole number"
        max_userns=$2 ;;
      *) usage "unknown option '$1'" ;;
    esac
    shift 2
  done
}

value_of() { if [ -r "$ROOT$1" ]; then tr -d ' \n' < "$ROOT$1" 2>/dev/null || true; fi; }
find_cmd() { # the command's path on the host (under the stand-in root: the first executable in SYS_PATH's folders)
  local d
  if [ -z "$ROOT" ]; then PATH=$SYS_PATH command -v "$1" 2>/dev/null || true; return; fi
  for d in ${SYS_PATH//:/ }; do [ -x "$ROOT$d/$1" ] && { echo "$d/$1"; return; }; done
  return 0
}
os_release_file() { if [ -r "$ROOT/etc/os-release" ]; then echo "$ROOT/etc/os-release"; elif [ -r "$ROOT/usr/lib/os-release" ]; then echo "$ROOT/usr/lib/os-release"; fi; }
os_field() { # os_field NAME: the value, unquoted
  local f; f=$(os_release_file)
  [ -n "$f" ] || return 0
  sed -n "s/^$1=//p" "$f" | head -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"
}
login_defs() { # login_defs KEY: the last value set in login.defs
  [ -r "$ROOT/etc/login.defs" ] || return 0
  awk -v k="$1" '$1 == k && $2 ~ /^[0-9]+$/ { v = $2 } END { if (v != "") print v }' "$ROOT/etc/login.defs"
}
package_manager() {
  local p
  for p in apt-get dnf yum; do
    [ -z "$(find_cmd "$p")" ] || { echo "${p%-get}"; return; }
  done
}
package_version() { # package_version NAME...: the first installed package's version (dpkg or rpm)
  local p v
  [ -z "$ROOT" ] || return 0
  for p in "$@"; do
    v=""
    if command -v dpkg-query >/dev/null 2>&1; then v=$(dpkg-query -W -f='${Status} ${Version}\n' "$p" 2>/dev/null | awk '$3 == "installed" { print $4; exit }' || true); fi
    if [ -z "$v" ] && command -v rpm >/dev/null 2>&1; then v=$(rpm -q --qf '%{VERSION}-%{RELEASE}\n' "$p" 2>/dev/null | grep -v 'not installed' | head -n 1 || true); fi
    [ -z "$v" ] || { echo "$v"; return; }
  done
}
tool_version() { # tool_version CMD: the first version-looking word of CMD --version
  local p; p=$(find_cmd "$1")
  [ -n "$p" ] && [ -z "$ROOT" ] || return 0
  [[ "$1" != *.sh ]] || return 0
  "$p" --version 2>/dev/null | head -n 3 | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?([-+~][0-9A-Za-z.+~-]*)?' | head -n 1 || true
}
real_path() { # the path with every link resolved (under the stand-in root: as given)
  if [ -n "$ROOT" ]; then echo "$1"; else readlink -f -- "$1" 2>/dev/null || echo "$1"; fi
}
binary_json() { # binary_json NAME: {"path","realPath","version"} or null
  local p real
  p=$(find_cmd "$1")
  # Debian and Ubuntu ship the rootless scripts off PATH.
  if [ -z "$p" ] && [ -x "$ROOT/usr/share/docker.io/contrib/$1" ]; then p=/usr/share/docker.io/contrib/$1; fi
  [ -n "$p" ] || { printf 'null'; return; }
  real=$(real_path "$p")
  printf '{"path":%s,"realPath":%s,"version":%s}' "$(jstr "$p")" "$(jstr "$real")" "$(jstr_or_null "$(tool_version "$1")")"
}

# AppArmor: every profile header of /etc/apparmor.d/* that attaches to a path, as
# "FILE<TAB>ATTACHMENT<TAB>USERNS" (USERNS 1 when the file allows `userns,`, itself or in the
# site-local file it includes, /etc/apparmor.d/local/NAME: where Ubuntu's profiles take additions).
apparmor_attachments() {
  local d="$ROOT/etc/apparmor.d" f
  [ -d "$d" ] || return 0
  for f in "$d"/*; do
    [ -f "$f" ] || continue
    LC_ALL=C awk -v file="${f#"$ROOT"}" -v localdir="$d/local" '
      /^[ \t]*#?include([ \t]+if[ \t]+exists)?[ \t]*<local\/[^>]+>/ {
        inc = $0; sub(/.*<local\//, "", inc); sub(/>.*/, "", inc)
        if (inc !~ /\.\./) {
          while ((getline l < (localdir "/" inc)) > 0) { sub(/#.*/, "", l); if (l ~ /^[ \t]*userns[ \t]*,/) userns = 1 }
          close(localdir "/" inc)
        }
      }
      { sub(/#.*/, "") }
      /^[ \t]*userns[ \t]*,/ { userns = 1 }
      match($0, /^[ \t]*(profile[ \t]+[^ \t]+[ \t]+)?"?\/[^ \t"{]+"?[ \t]*(flags[ \t]*=[ \t]*\([^)]*\))?[ \t]*\{/) {
        h = $0; sub(/^[ \t]*profile[ \t]+[^ \t]+[ \t]+/, "", h); sub(/^[ \t]*/, "", h)
        gsub(/"/, "", h); sub(/[ \t{].*/, "", h)
        att[++n] = h
      }
      END { for (i = 1; i <= n; i++) printf "%s\t%s\t%d\n", file, att[i], userns ? 1 : 0 }
    ' "$f" 2>/dev/null || true
  done
}
# The profiles attaching to PATH exactly (or by an AppArmor glob of * and **), as a JSON list.
profiles_for_json() { # profiles_for_json PATH ATTACHMENTS
  local path=$1 file att userns first=1 glob
  printf '['
  while IFS=$'\t' read -r file att userns; do
    [ -n "$att" ] || continue
    [[ "$att" != *"@{"* && "$att" != *"{"* ]] || continue # variables and alternations: not read
    glob=${att//\*\*/\*}
    # shellcheck disable=SC2053 # the attachment is a glob on purpose
    [[ "$path" == "$att" || "$path" == $glob ]] || continue
    [ $first = 1 ] || printf ','; first=0
    printf '{"file":%s,"attachment":%s,"userns":%s,"ours":%s}' "$(jstr "$file")" "$(jstr "$att")" "$(jbool "$userns")" \
      "$(jbool "$([[ "${file##*/}" == "$PROFILE_PREFIX"* ]] && echo yes || echo no)")"
  done <<< "$2"
  printf ']'
}

# sysctl: every file that sets user.max_user_namespaces, in the order systemd-sysctl reads them
# (by file name across the folders, the first folder winning a name; /etc/sysctl.conf last).
sysctl_setters_json() {
  local d f name v first=1
  local -A seen=()
  local files=()
  for d in /etc/sysctl.d /run/sysctl.d /usr/local/lib/sysctl.d /usr/lib/sysctl.d /lib/sysctl.d; do
    for f in "$ROOT$d"/*.conf; do
      [ -f "$f" ] || continue
      name=${f##*/}
      [ -z "${seen[$name]:-}" ] || continue
      seen[$name]=1
      files+=("$name	${f#"$ROOT"}")
    done
  done
  printf '['
  while IFS=$'\t' read -r name f; do
    [ -n "$f" ] || continue
    v=$(sysctl_file_value "$ROOT$f")
    [ -n "$v" ] || continue
    [ $first = 1 ] || printf ','; first=0
    printf '{"file":%s,"value":%s,"ours":%s}' "$(jstr "$f")" "$(jstr "$v")" "$(jbool "$([ "$ROOT$f" = "$SYSCTL_FILE" ] && echo yes || echo no)")"
  done < <(printf '%s\n' "${files[@]}" | LC_ALL=C sort)
  if [ -f "$ROOT/etc/sysctl.conf" ]; then
    v=$(sysctl_file_value "$ROOT/etc/sysctl.conf")
    if [ -n "$v" ]; then [ $first = 1 ] || printf ','; printf '{"file":"/etc/sysctl.conf","value":%s,"ours":false}' "$(jstr "$v")"; fi
  fi
  printf ']'
}
sysctl_file_value() { # the last value a file gives user.max_user_namespaces
  LC_ALL=C awk '{ sub(/[#;].*/, "") } /^[ \t-]*user[.\/]max_user_namespaces[ \t]*=/ { v = $0; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t]+$/, "", v) } END { if (v != "") print v }' "$1" 2>/dev/null || true
}

selinux_mode() {
  local e
  if [ -r "$ROOT/sys/fs/selinux/enforce" ]; then
    e=$(value_of /sys/fs/selinux/enforce)
    if [ "$e" = 1 ]; then echo enforcing; else echo permissive; fi
  elif [ -z "$ROOT" ] && command -v getenforce >/dev/null 2>&1; then
    getenforce 2>/dev/null | tr '[:upper:]' '[:lower:]' || true
  elif [ -r "$ROOT/etc/selinux/config" ]; then
    echo disabled
  fi
}

# A user namespace as an unprivileged user would make it, with its uid_map written: on Ubuntu
# 24.04 unshare -U succeeds for an unconfined process but the map cannot be written (no
# capabilities in the namespace). Runs as nobody (root is not restricted).
userns_probe_json() {
  local out rc=0 who=nobody
  if [ -n "$ROOT" ]; then printf '{"ran":false,"works":null,"error":"not run (test root)"}'; return; fi
  command -v unshare >/dev/null 2>&1 || { printf '{"ran":false,"works":null,"error":"unshare is missing"}'; return; }
  if [ "$(id -u)" != 0 ]; then
    # Not root: this very user is an unprivileged one.
    out=$(cd / && timeout 10 unshare --user --map-root-user sh -c 'cat /proc/self/uid_map' 2>&1) || rc=$?
  else
    id "$who" >/dev/null 2>&1 || { printf '{"ran":false,"works":null,"error":"no nobody account"}'; return; }
    out=$(cd / && timeout 10 setpriv --reuid="$who" --regid="$(id -g "$who")" --clear-groups -- \
      unshare --user --map-root-user sh -c 'cat /proc/self/uid_map' 2>&1) || rc=$?
  fi
  if [ $rc = 0 ] && [[ "$out" =~ ^[[:space:]]*0[[:space:]]+[0-9]+[[:space:]]+1[[:space:]]*$ ]]; then
    printf '{"ran":true,"works":true,"error":null}'
  else
    printf '{"ran":true,"works":false,"error":%s}' "$(jstr "$(short "exit $rc: $out")")"
  fi
}

do_observe() {
  local atts pm rl pd aa_enabled
  atts=$(apparmor_attachments)
  pm=$(package_manager)
  aa_enabled=$(value_of /sys/module/apparmor/parameters/enabled)
  # AppArmor's own answer where the module's parameter is not visible (a container's /sys).
  if [ "$aa_enabled" != Y ] && [ -n "$(find_cmd aa-enabled)" ] && [ -z "$ROOT" ] && aa-enabled --quiet 2>/dev/null; then aa_enabled=Y; fi
  say "observe: $(os_field PRETTY_NAME), ${pm:-no known package manager}, kernel $(uname -r)"
  printf '{"ok":true,"action":"observe","format":1,'
  printf '"osRelease":{"id":%s,"idLike":%s,"versionId":%s,"prettyName":%s},' \
    "$(jstr "$(os_field ID)")" "$(jstr "$(os_field ID_LIKE)")" "$(jstr "$(os_field VERSION_ID)")" "$(jstr "$(os_field PRETTY_NAME)")"
  printf '"packageManager":%s,"kernel":%s,' "$(jstr_or_null "$pm")" "$(jstr "$(uname -r)")"
  printf '"apparmor":{"enabled":%s,"restrictUnprivilegedUserns":%s,"parser":%s,"unprivilegedUsernsProfile":%s,"profiles":{' \
    "$(jbool "$([ "$aa_enabled" = Y ] && echo yes || echo no)")" "$(jnum_or_null "$(value_of /proc/sys/kernel/apparmor_restrict_unprivileged_userns)")" \
    "$(jstr_or_null "$(find_cmd apparmor_parser)")" "$(jbool "$([ -f "$ROOT/etc/apparmor.d/unprivileged_userns" ] && echo yes || echo no)")"
  # The paths that matter: the binaries in use (resolved) and where the packages put them.
  local -A paths=([/usr/bin/rootlesskit]=1 [/usr/bin/podman]=1)
  for rl in rootlesskit podman; do
    pd=$(find_cmd "$rl")
    [ -z "$pd" ] || paths[$(real_path "$pd")]=1
  done
  local first=1 p
  while read -r p; do
    [ $first = 1 ] || printf ','; first=0
    printf '%s:%s' "$(jstr "$p")" "$(profiles_for_json "$p" "$atts")"
  done < <(printf '%s\n' "${!paths[@]}" | LC_ALL=C sort)
  printf '}},'
  printf '"selinux":{"mode":%s},' "$(jstr_or_null "$(selinux_mode)")"
  printf '"userns":{"maxUserNamespaces":%s,"setBy":%s,"unprivilegedUsernsClone":%s,"probe":%s},' \
    "$(jnum_or_null "$(value_of /proc/sys/user/max_user_namespaces)")" "$(sysctl_setters_json)" \
    "$(jnum_or_null "$(value_of /proc/sys/kernel/unprivileged_userns_clone)")" "$(userns_probe_json)"
  printf '"binaries":{"dockerd":%s,"podman":%s,"rootlesskit":%s,"newuidmap":%s,"newgidmap":%s,"getsubids":%s,' \
    "$(binary_json dockerd)" "$(binary_json podman)" "$(binary_json rootlesskit)" "$(binary_json newuidmap)" "$(binary_json newgidmap)" "$(binary_json getsubids)"
  printf '"slirp4netns":%s,"dockerd-rootless.sh":%s},' "$(binary_json slirp4netns)" "$(binary_json dockerd-rootless.sh)"
  printf '"shadow":{"package":%s},' "$(jstr_or_null "$(package_version uidmap shadow-utils)")"
  printf '"loginDefs":{"SUB_UID_MIN":%s,"SUB_UID_MAX":%s,"SUB_GID_MIN":%s,"SUB_GID_MAX":%s,"UID_MIN":%s,"UID_MAX":%s},' \
    "$(jnum_or_null "$(login_defs SUB_UID_MIN)")" "$(jnum_or_null "$(login_defs SUB_UID_MAX)")" "$(jnum_or_null "$(login_defs SUB_GID_MIN)")" \
    "$(jnum_or_null "$(login_defs SUB_GID_MAX)")" "$(jnum_or_null "$(login_defs UID_MIN)")" "$(jnum_or_null "$(login_defs UID_MAX)")"
  printf '"fixes":%s}\n' "$(state_json)"
}

# ---------------------------------------------------------------------------------------------
# Fixes. State: $STATE/apparmor/<file name> (one per profile we made), $STATE/sysctl-before (the
# value before our sysctl file), written before the change it records.
profile_file() { local n=${1#/}; echo "$ROOT/etc/apparmor.d/$PROFILE_PREFIX${n//\//.}"; }
state_json() {
  local f first=1
  printf '{"apparmorProfiles":['
  if [ -d "$STATE/apparmor" ]; then
    for f in "$STATE"/apparmor/*; do
      [ -f "$f" ] || continue
      [ $first = 1 ] || printf ','; first=0
      jstr "$(cat "$f")"
    done
  fi
  printf '],"maxUserNamespaces":%s}' "$(if [ -f "$STATE/sysctl-before" ]; then jnum_or_null "$(sysctl_file_value "$SYSCTL_FILE")"; else printf null; fi)"
}
aa_load() { # aa_load FILE: load (replace) a profile (the parser found on the host, or under the stand-in root)
  "$ROOT$(find_cmd apparmor_parser)" -r -W "$1" >&2
}
aa_unload() { "$ROOT$(find_cmd apparmor_parser)" -R "$1" >&2 2>/dev/null || true; }
set_max_userns() { # set_max_userns N
  if [ -n "$ROOT" ]; then mkdir -p "$ROOT/proc/sys/user"; echo "$1" > "$ROOT/proc/sys/user/max_user_namespaces"; return 0; fi
  sysctl -q -w "user.max_user_namespaces=$1" >&2 2>/dev/null || echo "$1" > /proc/sys/user/max_user_namespaces 2>/dev/null
}

fix_apparmor() { # fix_apparmor PATH
  local path=$1 file tmp name
  file=$(profile_file "$path")
  name=${file##*/}
  [ -n "$(find_cmd apparmor_parser)" ] || fail "$EXIT_UNSUPPORTED" "an AppArmor profile for $path is needed, and apparmor_parser is missing (install apparmor)"
  ensure_state
  mkdir -p "$STATE/apparmor"
  ensure_dir "$ROOT/etc/apparmor.d"
  tmp=$(mktemp)
  cat > "$tmp" <<EOF
# Written by hardened-hosts (components/platform/platform.sh): lets $path create user
# namespaces with kernel.apparmor_restrict_unprivileged_userns=1. Removed on destroy.
abi <abi/4.0>,
include <tunables/global>

profile $name $path flags=(unconfined) {
  userns,

  include if exists <local/$name>
}
EOF
  if [ -f "$file" ] && cmp -s "$tmp" "$file" && [ -f "$STATE/apparmor/${file##*/}" ]; then rm -f "$tmp"; return 0; fi
  [ ! -e "$file" ] || [ -f "$STATE/apparmor/${file##*/}" ] || { rm -f "$tmp"; fail "$EXIT_PRECONDITION" "${file#"$ROOT"} exists and is not ours: leaving it"; }
  printf '%s\n' "$path" > "$STATE/apparmor/${file##*/}"
  put_file "$tmp" "$file"
  rm -f "$tmp"
  if ! aa_load "$file"; then
    rm -f "$file" "$STATE/apparmor/${file##*/}"
    cleanup_state
    fail "$EXIT_UNSUPPORTED" "apparmor_parser could not load the profile for $path (removed again)"
  fi
  say "fix: AppArmor profile ${file#"$ROOT"} lets $path create user namespaces"
  changes+=("apparmor $path")
}
unfix_apparmor() { # unfix_apparmor STATE_FILE
  local s=$1 file path
  file="$ROOT/etc/apparmor.d/${s##*/}"
  path=$(cat "$s")
  if [ -f "$file" ]; then aa_unload "$file"; rm -f "$file"; fi
  rm -f "$s"
  say "unfix: removed AppArmor profile ${file#"$ROOT"} ($path)"
  changes+=("apparmor -$path")
}
fix_sysctl() { # fix_sysctl N
  local n=$1 tmp
  if [ -f "$STATE/sysctl-before" ] && [ "$(sysctl_file_value "$SYSCTL_FILE")" = "$n" ]; then
    [ "$(value_of /proc/sys/user/max_user_namespaces)" = "$n" ] || set_max_userns "$n"
    return 0
  fi
  ensure_state
  ensure_dir "$ROOT/etc/sysctl.d"
  [ -f "$STATE/sysctl-before" ] || value_of /proc/sys/user/max_user_namespaces > "$STATE/sysctl-before"
  tmp=$(mktemp)
  printf '# Written by hardened-hosts (components/platform/platform.sh): user namespaces for the\n# container runtime. Removed on destroy.\nuser.max_user_namespaces = %s\n' "$n" > "$tmp"
  put_file "$tmp" "$SYSCTL_FILE"
  rm -f "$tmp"
  if ! set_max_userns "$n"; then
    unfix_sysctl
    cleanup_state
    fail "$EXIT_UNSUPPORTED" "user.max_user_namespaces cannot be set to $n here (read-only /proc/sys?): our file was removed again"
  fi
  say "fix: user.max_user_namespaces = $n (${SYSCTL_FILE#"$ROOT"})"
  changes+=("max_user_namespaces $n")
}
unfix_sysctl() {
  local before=""
  [ -f "$STATE/sysctl-before" ] || return 0
  before=$(cat "$STATE/sysctl-before")
  rm -f "$SYSCTL_FILE"
  [ -z "$before" ] || set_max_userns "$before" || say "unfix: could not put user.max_user_namespaces back to $before"
  rm -f "$STATE/sysctl-before"
  say "unfix: removed ${SYSCTL_FILE#"$ROOT"}${before:+, user.max_user_namespaces back to $before}"
  changes+=("max_user_namespaces -")
}

do_fix() {
  [ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || fail "$EXIT_PRECONDITION" "fix must run as root (directly or with sudo -n)"
  local p s keep
  changes=()
  # Nothing asked and nothing of ours there: not even the lock file is written.
  if [ ${#apparmor_paths[@]} = 0 ] && [ -z "$max_userns" ] && [ ! -d "$STATE" ]; then
    say "fix: nothing to change"
    printf '{"ok":true,"action":"fix","changed":false,"changes":[],"fixes":%s}\n' "$(state_json)"
    return 0
  fi
  lock_config
  # Profiles no longer asked for go first.
  if [ -d "$STATE/apparmor" ]; then
    for s in "$STATE"/apparmor/*; do
      [ -f "$s" ] || continue
      keep=0
      for p in "${apparmor_paths[@]}"; do [ "$(profile_file "$p")" != "$ROOT/etc/apparmor.d/${s##*/}" ] || keep=1; done
      [ $keep = 1 ] || unfix_apparmor "$s"
    done
  fi
  [ -n "$max_userns" ] || unfix_sysctl
  for p in "${apparmor_paths[@]}"; do fix_apparmor "$p"; done
  [ -z "$max_userns" ] || fix_sysctl "$max_userns"
  cleanup_state
  [ ${#changes[@]} -gt 0 ] || say "fix: nothing to change"
  printf '{"ok":true,"action":"fix","changed":%s,"changes":%s,"fixes":%s}\n' "$(jbool "$([ ${#changes[@]} -gt 0 ] && echo yes || echo no)")" "$(json_list "${changes[@]}")" "$(state_json)"
}
do_unfix() {
  [ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || fail "$EXIT_PRECONDITION" "unfix must run as root (directly or with sudo -n)"
  local s
  changes=()
  if [ ! -d "$STATE" ]; then
    say "unfix: nothing to take back"
    printf '{"ok":true,"action":"unfix","changed":false,"changes":[]}\n'
    return 0
  fi
  lock_config
  if [ -d "$STATE/apparmor" ]; then for s in "$STATE"/apparmor/*; do [ -f "$s" ] && unfix_apparmor "$s"; done; fi
  unfix_sysctl
  cleanup_state
  [ ${#changes[@]} -gt 0 ] || say "unfix: nothing to take back"
  printf '{"ok":true,"action":"unfix","changed":%s,"changes":%s}\n' "$(jbool "$([ ${#changes[@]} -gt 0 ] && echo yes || echo no)")" "$(json_list "${changes[@]}")"
}
ensure_state() { # the state folder; /var/lib/hardened-hosts is remembered when we made it
  [ ! -d "$STATE" ] || return 0
  local made=0
  [ -d "$ROOT/var/lib/hardened-hosts" ] || made=1
  mkdir -p "$STATE"
  [ $made = 0 ] || : > "$STATE/.created-parent"
}
ensure_dir() { # ensure_dir DIR: made when missing, and remembered so that unfix removes it again
  [ ! -d "$1" ] || return 0
  mkdir -p "$1"
  printf '%s\n' "$1" >> "$STATE/.created-dirs"
}
cleanup_state() { # once no fix is left, everything of ours goes (a host needing no fix keeps nothing)
  local d parent=0
  [ -d "$STATE" ] || return 0
  rmdir "$STATE/apparmor" 2>/dev/null || true
  [ ! -d "$STATE/apparmor" ] && [ ! -f "$STATE/sysctl-before" ] || return 0
  if [ -f "$STATE/.created-dirs" ]; then
    while read -r d; do rmdir "$d" 2>/dev/null || true; done < <(tac "$STATE/.created-dirs")
  fi
  [ ! -f "$STATE/.created-parent" ] || parent=1
  rm -f "$STATE/.created-dirs" "$STATE/.created-parent"
  rmdir "$STATE"
  [ $parent = 0 ] || rmdir "$ROOT/var/lib/hardened-hosts" 2>/dev/null || true
}

main() {
  parse_args "$@"
  trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR
  set -E
  case "$action" in
    observe) do_observe ;;
    fix) do_fix ;;
    unfix) do_unfix ;;
  esac
}
main "$@"

} </dev/null
