#!/usr/bin/env bash
# Host side of rootful Podman with `userns = "auto"`: every container Podman starts gets its own
# user namespace, a slice of one pool of subordinate IDs owned by the pool owner (Podman's
# `containers` by default). Installs Podman when missing, merges the settings into
# /etc/containers/containers.conf and /etc/containers/storage.conf (every other line is kept),
# checks that Podman still reads its configuration, and undoes all of it on destroy.
#
#   podman-auto.sh facts                   read-only: distro, podman, the two files, the pool lines
#   podman-auto.sh apply  --owner NAME --pool START:COUNT --size N --slots K [--install yes|no]
#   podman-auto.sh remove
#
# apply: NAME must already own exactly START:COUNT as its first range in /etc/subuid and
# /etc/subgid (written beforehand by components/subids/subids-host.sh); COUNT = N * K. Writes
#   containers.conf  [containers] userns = "auto"            (every container: its own namespace)
#   storage.conf     [storage.options] root-auto-userns-user = NAME,
#                    auto-userns-min-size = N, auto-userns-max-size = N
# The size goes to storage.conf, not into `userns = "auto:size=N"`: Podman 4.3.1 (bookworm)
# silently drops a size given there, 5.x honours both; min = max = N makes every automatic
# namespace exactly N IDs on both, so the pool holds exactly K containers (an image that needs
# more than N IDs is refused by Podman, it never takes more). When /etc/containers/storage.conf
# does not exist, it starts as a copy of the distribution's defaults (/usr/share/containers/
# storage.conf, what Podman reads when /etc has none), so the store stays where it is.
# Nothing is written when nothing changes. A configuration Podman cannot read (`podman info`
# fails) is put back and refused (EXIT_REJECTED).
# remove: gives both files their bytes from before the first apply (deletes the ones apply
# created), drops our backups and markers. Installed packages stay.
#
# Files next to each config FILE (a symlinked FILE stays a link: its target is written):
#   FILE.hardened-hosts.bak      the original FILE, copied the first time apply changes it
#   FILE.hardened-hosts.created  FILE did not exist before apply
#
# Environment (tests): HH_PODMAN_CONF_DIR   the folder of the two files (default /etc/containers)
#                      HH_PODMAN_DEFAULT_STORAGE  the distribution's storage.conf
#                                           (default /usr/share/containers/storage.conf)
#
# stdout: one JSON object. stderr: one line per step ("podman-auto: ...").
# Exit (the table in components/host/prelude.sh): 0 ok; EXIT_FAILED; EXIT_USAGE; EXIT_PRECONDITION
# (nothing written); EXIT_MALFORMED a file is a dangling link or not a regular file (nothing
# written); EXIT_REJECTED podman cannot read the new configuration (the old one is back);
# EXIT_PACKAGES installing failed or podman is missing with --install no.
set -euo pipefail
# The shared prelude (components/host/prelude.sh: exit codes, output helpers, shared readers)
# comes ahead of this script on stdin; run from its file, the script sources it.
# shellcheck source=SCRIPTDIR/../host/prelude.sh
[ "${HH_PRELUDE:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/../host/prelude.sh"

# Hosts get this script on stdin (`bash -s -- ARGS`). bash parses a brace group whole before it
# runs it, and the group's stdin is /dev/null: no command below can read (eat) the script's rest.
{

readonly TOOL=podman-auto
# In the configuration folder when apply created the folder itself.
readonly DIR_MARKER=.hardened-hosts.created-dir
conf_dir="${HH_PODMAN_CONF_DIR:-/etc/containers}"
default_storage="${HH_PODMAN_DEFAULT_STORAGE:-/usr/share/containers/storage.conf}"
containers_conf="$conf_dir/containers.conf"
storage_conf="$conf_dir/storage.conf"
action="" owner="" pool="" pool_start="" pool_count="" size="" slots="" install=""
podman_version=""
work=""

usage() {
  fail "$EXIT_USAGE" "usage: podman-auto.sh facts | apply --owner NAME --pool START:COUNT --size N --slots K [--install yes|no] | remove"
}

# ---------------------------------------------------------------------------------------------
# Arguments: all of them are checked before anything is read or written.
parse_args() {
  local arg name value allowed seen=" "
  [ $# -ge 1 ] || usage
  action=$1; shift
  case "$action" in
    facts|remove) allowed="" ;;
    apply) allowed="--owner --pool --size --slots --install" ;;
    *) action=""; usage ;;
  esac
  while [ $# -gt 0 ]; do
    arg=$1; shift
    name=${arg%%=*}
    [[ " $allowed " == *" $name "* ]] || fail "$EXIT_USAGE" "$action does not take '$name' (it takes: ${allowed:-no arguments})"
    if [[ "$arg" == --*=* ]]; then value=${arg#*=}
    elif [ $# -ge 1 ]; then value=$1; shift
    else fail "$EXIT_USAGE" "$name needs a value"
    fi
    [[ "$seen" != *" $name "* ]] || fail "$EXIT_USAGE" "$name given twice"
    seen+="$name "
    case "$name" in
      --owner) owner=$value ;;
      --pool) pool=$value ;;
      --size) size=$value ;;
      --slots) slots=$value ;;
      --install) install=$value ;;
    esac
  done
  case "$conf_dir" in /*) ;; *) fail "$EXIT_USAGE" "HH_PODMAN_CONF_DIR must be an absolute path, not '$conf_dir'" ;; esac
  [ "$action" = apply ] || return 0
  [ -n "$owner" ] || fail "$EXIT_USAGE" "apply needs --owner NAME"
  # useradd's default NAME_REGEX; the owner need not be an account (Podman only reads its lines).
  [[ "$owner" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || fail "$EXIT_USAGE" "--owner '$owner': expected a name matching ^[a-z_][a-z0-9_-]{0,31}\$"
  [ "$owner" != root ] || fail "$EXIT_USAGE" "--owner root: the pool must belong to a dedicated name"
  [[ "$pool" =~ ^([1-9][0-9]{0,9}):([1-9][0-9]{0,9})$ ]] || fail "$EXIT_USAGE" "--pool must be START:COUNT, not '$pool'"
  pool_start=${BASH_REMATCH[1]} pool_count=${BASH_REMATCH[2]}
  if ! [[ "$size" =~ ^[1-9][0-9]{0,5}$ ]] || (( size < 1024 || size > 65536 )); then fail "$EXIT_USAGE" "--size must be 1024..65536 IDs, not '$size'"; fi
  if ! [[ "$slots" =~ ^[1-9][0-9]{0,6}$ ]] || (( slots < 2 )); then fail "$EXIT_USAGE" "--slots must be a whole number of at least 2, not '$slots'"; fi
  (( size * slots == pool_count )) || fail "$EXIT_USAGE" "--pool $pool holds $pool_count IDs, not --size $size x --slots $slots = $(( size * slots ))"
  (( pool_start >= 65536 && pool_start + pool_count - 1 <= 4294967294 )) || fail "$EXIT_USAGE" "--pool $pool: must lie within 65536..4294967294"
  case "${install:-yes}" in yes|no) install=${install:-yes} ;; *) fail "$EXIT_USAGE" "--install must be yes or no, not '$install'" ;; esac
}

# ---------------------------------------------------------------------------------------------
# Facts about the host. Everything here is read-only (read_os_release: the prelude).
detect_podman() {
  podman_version=""
  command -v podman >/dev/null 2>&1 || return 0
  podman_version=$(podman --version 2>/dev/null | awk '{ print $NF; exit }' || true)
}
detect_host() {
  read_os_release
  detect_podman
}

# Root's podman with a clean environment (no PODMAN_USERNS or CONTAINERS_CONF from the session).
podman_root() {
  (cd / && env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    PODMAN_IGNORE_CGROUPSV1_WARNING=1 timeout 120 podman "$@")
}

# The first range of NAME in FILE, as shadow reads the file: "START COUNT", or nothing.
subid_first() {
  [ -r "$1" ] || return 0
  LC_ALL=C awk -v n="$2" "$SHADOW_AWK"'subid_entry($0) && E_OWNER == n { print E_START_TEXT, E_COUNT_TEXT; exit }' "$1"
}

# State of a config file: absent, link-dangling, not-file, or present.
file_state() {
  if [ -L "$1" ] && [ ! -e "$1" ]; then echo link-dangling
  elif [ ! -e "$1" ]; then echo absent
  elif [ ! -f "$1" ]; then echo not-file
  else echo present
  fi
}

# ---------------------------------------------------------------------------------------------
# TOML, the few shapes we write: `key = value` lines in a `[section]`. toml_set FILE SECTION KEY
# VALUE prints FILE with KEY set to VALUE in SECTION: the first uncommented KEY line of the
# section is replaced, later ones are dropped, a missing key goes at the end of its section, a
# missing section is added at the end of the file. Every other line is kept as it was.
toml_set() {
  LC_ALL=C awk -v sect="$2" -v key="$3" -v val="$4" '
    function header(l,   h) {
      h = l; sub(/#.*/, "", h); gsub(/^[ \t]+|[ \t]+$/, "", h)
      if (h !~ /^\[[^\[\]]+\]$/) return ""
      h = substr(h, 2, length(h) - 2); gsub(/[ \t]/, "", h); return h
    }
    function is_key(l,   k) { k = l; if (k !~ /=/) return 0; sub(/=.*/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", k); gsub(/"/, "", k); return k == key }
    {
      h = header($0)
      if (h != "") {
        if (in_sect && !done) { print key " = " val; done = 1 }
        in_sect = (h == sect); seen = seen || in_sect; print; next
      }
      if (in_sect && $0 !~ /^[ \t]*#/ && is_key($0)) { if (!done) { print key " = " val; done = 1 }; next }
      print
    }
    END {
      if (in_sect && !done) { print key " = " val; done = 1 }
      if (!seen) { if (NR > 0) print ""; print "[" sect "]"; print key " = " val }
    }' "$1"
}

# ---------------------------------------------------------------------------------------------
# Installing and writing (install_packages, put_file and lock_config: the prelude).
# Podman, its ID-mapping helpers, and what verification and networking need: newuidmap (uidmap),
# netavark's nft (trixie's netavark only recommends nftables, and every networked run fails
# without it), a static busybox (verification's test image). Only what is missing.
install_needed() {
  local want=() debian=0
  case " $distro_id $distro_like " in *" debian "*|*" ubuntu "*) debian=1 ;; esac
  command -v podman >/dev/null 2>&1 || want+=(podman)
  command -v newuidmap >/dev/null 2>&1 || want+=(uidmap)
  if [ ${#want[@]} -gt 0 ]; then
    [ "$install" = yes ] || fail "$EXIT_PACKAGES" "missing: ${want[*]}, and --install is no"
    if [ "$debian" = 0 ]; then want=("${want[@]/uidmap/shadow-utils}"); fi
    install_packages "${want[@]}" || fail "$EXIT_PACKAGES" "installing ${want[*]} failed (see the package manager's output above)"
  fi
  if [ "$install" = yes ] && [ "$debian" = 1 ]; then
    if dpkg -s netavark >/dev/null 2>&1 && ! command -v nft >/dev/null 2>&1; then
      install_packages nftables || fail "$EXIT_PACKAGES" "installing nftables (netavark's firewall tool) failed"
    fi
    if [ -z "$(find_static_busybox)" ]; then
      install_packages busybox-static || fail "$EXIT_PACKAGES" "installing busybox-static (verification's test image) failed"
    fi
  fi
  detect_podman
  [ -n "$podman_version" ] || fail "$EXIT_PACKAGES" "podman is installed but does not run (podman --version failed)"
}

# ---------------------------------------------------------------------------------------------
# facts: read-only JSON about the host.
cmd_facts() {
  local u g
  u=$(subid_first /etc/subuid containers) g=$(subid_first /etc/subgid containers)
  printf '{"ok":true,"action":"facts","distro":%s,"version":%s,"podman":%s,"containersConf":%s,"storageConf":%s,"containersSubuid":%s,"containersSubgid":%s}\n' \
    "$(jstr "$distro_id")" "$(jstr "$distro_version")" "$(jstr_or_null "$podman_version")" \
    "$(jstr "$(file_state "$containers_conf")")" "$(jstr "$(file_state "$storage_conf")")" "$(jstr_or_null "$u")" "$(jstr_or_null "$g")"
}

# The new text of each file in $work: containers.new, storage.new; sets changed_*.
changed_containers=0 changed_storage=0 state_containers="" state_storage=""
plan_files() {
  local f
  state_containers=$(file_state "$containers_conf") state_storage=$(file_state "$storage_conf")
  for f in "$containers_conf:$state_containers" "$storage_conf:$state_storage"; do
    case "${f##*:}" in
      link-dangling) fail "$EXIT_MALFORMED" "${f%:*} is a symlink to $(readlink -- "${f%:*}"), which does not exist: fix the link or remove it" ;;
      not-file) fail "$EXIT_MALFORMED" "${f%:*} is not a regular file" ;;
    esac
  done
  if [ "$state_containers" = present ]; then cp "$containers_conf" "$work/containers.old"; else : > "$work/containers.old"; fi
  toml_set "$work/containers.old" containers userns '"auto"' > "$work/containers.new"
  if [ "$state_storage" = present ]; then cp "$storage_conf" "$work/storage.old"
  elif [ -f "$default_storage" ]; then
    cp "$default_storage" "$work/storage.old"
    say "$storage_conf does not exist: starting from the distribution's $default_storage"
  else
    # No file anywhere: Podman runs on its built-in store. A storage.conf must name driver,
    # runroot and graphroot (without runroot every command fails; without a driver each one
    # warns), so it names the ones Podman uses now: the store stays where it is.
    local now driver runroot graphroot
    now=$(podman_root info --format '{{.Store.GraphDriverName}}|{{.Store.RunRoot}}|{{.Store.GraphRoot}}' 2>/dev/null || true)
    IFS='|' read -r driver runroot graphroot <<< "$now"
    [[ "$driver" =~ ^[a-z0-9_]+$ ]] || driver=overlay
    [[ "$runroot" =~ ^/[A-Za-z0-9._/-]*$ ]] || runroot=/run/containers/storage
    [[ "$graphroot" =~ ^/[A-Za-z0-9._/-]*$ ]] || graphroot=/var/lib/containers/storage
    printf '[storage]\ndriver = "%s"\nrunroot = "%s"\ngraphroot = "%s"\n' "$driver" "$runroot" "$graphroot" > "$work/storage.old"
    say "$storage_conf does not exist, nor $default_storage: starting from the store Podman uses now ($driver, $graphroot)"
  fi
  toml_set "$work/storage.old" storage.options root-auto-userns-user "\"$owner\"" > "$work/s1"
  toml_set "$work/s1" storage.options auto-userns-min-size "$size" > "$work/s2"
  toml_set "$work/s2" storage.options auto-userns-max-size "$size" > "$work/storage.new"
  cmp -s "$work/containers.old" "$work/containers.new" && [ "$state_containers" = present ] || changed_containers=1
  cmp -s "$work/storage.old" "$work/storage.new" && [ "$state_storage" = present ] || changed_storage=1
}

# write_conf FILE STATE NEW: backup or created marker on the first change, then the new bytes.
write_conf() {
  local file=$1 state=$2 new=$3
  if [ "$state" = absent ]; then
    [ -e "$file.hardened-hosts.bak" ] || [ -e "$file.hardened-hosts.created" ] || : > "$file.hardened-hosts.created"
  elif [ ! -e "$file.hardened-hosts.bak" ] && [ ! -e "$file.hardened-hosts.created" ]; then
    # The first change only: destroy must find the true original.
    put_file "$file" "$file.hardened-hosts.bak" "$file"
    say "apply: kept the original as $file.hardened-hosts.bak"
  fi
  put_file "$new" "$file"
  say "apply: wrote $file"
}

# Put FILE back as this run found it.
restore_run() { # restore_run FILE STATE OLD
  if [ "$2" = absent ]; then rm -f "$1"; else put_file "$3" "$1"; fi
}

cmd_apply() {
  local u g c=() msg
  lock_config
  read -r u_start u_count <<< "$(subid_first /etc/subuid "$owner")" || true
  read -r g_start g_count <<< "$(subid_first /etc/subgid "$owner")" || true
  if [ "${u_start:-}:${u_count:-}" != "$pool_start:$pool_count" ] || [ "${g_start:-}:${g_count:-}" != "$pool_start:$pool_count" ]; then
    fail "$EXIT_PRECONDITION" "$owner's first range is subuid ${u_start:-none}:${u_count:-}, subgid ${g_start:-none}:${g_count:-}, not the planned pool $pool: write the planned lines first (subids-host.sh apply $owner:$pool)"
  fi
  install_needed
  if [ ! -d "$conf_dir" ]; then
    # Podman reads its defaults from /usr/share and needs no /etc/containers: remove takes away
    # the folder apply made (when nothing else has been put in it since).
    mkdir -p "$conf_dir"
    : > "$conf_dir/$DIR_MARKER"
  fi
  plan_files
  if [ "$changed_containers" = 1 ]; then write_conf "$containers_conf" "$state_containers" "$work/containers.new"; c+=("$containers_conf"); fi
  if [ "$changed_storage" = 1 ]; then write_conf "$storage_conf" "$state_storage" "$work/storage.new"; c+=("$storage_conf"); fi
  # Podman must still read its configuration; a file it cannot read is put back.
  if ! msg=$(podman_root info --format '{{.Host.Security.Rootless}}' 2>&1); then
    [ "$changed_containers" = 0 ] || restore_run "$containers_conf" "$state_containers" "$work/containers.old"
    [ "$changed_storage" = 0 ] || restore_run "$storage_conf" "$state_storage" "$work/storage.old"
    fail "$EXIT_REJECTED" "podman cannot read the new configuration (put back as it was): $(printf '%s' "$msg" | tail -n 3 | tr '\n' ' ')"
  fi
  [ ${#c[@]} -gt 0 ] || say "apply: $containers_conf and $storage_conf already as wanted"
  say "apply: podman $podman_version, userns auto, $slots slots of $size IDs in $owner's pool $pool"
  printf '{"ok":true,"action":"apply","podman":%s,"owner":%s,"pool":{"start":%s,"count":%s},"size":%s,"slots":%s,"changed":%s,"installed":%s,"containersConf":%s,"storageConf":%s}\n' \
    "$(jstr "$podman_version")" "$(jstr "$owner")" "$pool_start" "$pool_count" "$size" "$slots" \
    "$(json_list ${c[@]+"${c[@]}"})" "$(json_list ${installed_packages[@]+"${installed_packages[@]}"})" "$(jstr "$containers_conf")" "$(jstr "$storage_conf")"
}

# remove: each file back to its bytes from before the first apply.
cmd_remove() {
  local f restored=()
  lock_config
  for f in "$containers_conf" "$storage_conf"; do
    if [ -e "$f.hardened-hosts.bak" ]; then
      put_file "$f.hardened-hosts.bak" "$f" "$f.hardened-hosts.bak"
      rm -f "$f.hardened-hosts.bak"
      restored+=("$f"); say "remove: restored $f"
    elif [ -e "$f.hardened-hosts.created" ]; then
      rm -f "$f" "$f.hardened-hosts.created"
      restored+=("$f"); say "remove: removed $f (apply had created it)"
    fi
  done
  if [ -e "$conf_dir/$DIR_MARKER" ]; then
    rm -f "$conf_dir/$DIR_MARKER"
    if rmdir "$conf_dir" 2>/dev/null; then
      restored+=("$conf_dir"); say "remove: removed $conf_dir (apply had created it)"
    else
      say "remove: kept $conf_dir: apply created it, but it holds other files now"
    fi
  fi
  [ ${#restored[@]} -gt 0 ] || say "remove: nothing of ours here"
  printf '{"ok":true,"action":"remove","restored":%s}\n' "$(json_list ${restored[@]+"${restored[@]}"})"
}

main() {
  parse_args "$@"
  [ "$action" = facts ] || [ "$(id -u)" = 0 ] || fail "$EXIT_PRECONDITION" "$action must run as root (directly or with sudo -n)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  detect_host
  case "$action" in
    facts) cmd_facts ;;
    apply) cmd_apply ;;
    remove) cmd_remove ;;
  esac
}

main "$@"
} </dev/null
