#!/usr/bin/env bash
# Host side of rootless container runtimes for named users: rootless Docker (dockerd-rootless.sh
# under rootlesskit) or rootless Podman. Runs as root (or through `sudo -n`), normally as
# `bash -s -- ARGS` with this text on stdin.
#
#   rootless.sh facts  --user NAME
#       read-only: what this host and user offer for rootless containers
#   rootless.sh apply  --mode docker-rootless|podman --user NAME [--create-user yes|no]
#                      [--install yes|no] [--restrict-shell yes|no] [--expect-range START:COUNT]
#                      --packages TOOL[@FACT]=PKG[:NEXT],...
#                      [--oci-runtime v1=R[:R],hybrid=R[:R],v2=R[:R]] [--storage-order D,...] (podman: both required)
#       idempotent: user, packages, /dev/net/tun access, runtime dir, lingering, the daemon
#       (docker) or the per-user configuration (podman); checks the runtime answers as the user
#   rootless.sh remove --mode docker-rootless|podman --user NAME [--delete-user yes|no]
#       undoes what apply did (only that); idempotent. --delete-user yes deletes the user with its
#       home and rootless data, but only a user that apply created. The user's own containers,
#       images and files stay; /run/user/UID stays while the user still has processes (podman).
#
# The decisions that need no host fact come as arguments, made by components/rootless/plan.ts
# (where they are unit-tested, and where a preview shows them): --packages, the tools the mode
# needs and their apt packages (FACT: systemd, tun-closed or oci-runtime, a host fact the need
# depends on); --oci-runtime, the runtimes per cgroup version (the first installed, else the last);
# --storage-order, podman's storage drivers in the order they are tried. This script observes the
# host and picks from them.
#
# The text is in parts, sent in this order after the prelude (components/host/script.ts) and
# sourced from the files beside it otherwise: rootless-common.sh (facts, user, state, the shared
# apply steps), toml-keys.sh (the TOML key editor), rootless-docker.sh, rootless-podman.sh, then
# this file (arguments, globals, one function per action, main).
#
# The user's subordinate ID ranges are NOT written here: components/subids/subids-host.sh writes
# them before this script runs. Users we create get no automatic range (useradd -K SUB_UID_COUNT=0).
#
# Decisions (see the JSON for what happened on a given host):
#   /dev/net/tun  slirp4netns (both docker and podman networking) opens it inside the user
#                 namespace. Where the user cannot open it (no udev: mode 0600) we add a POSIX ACL
#                 entry for the user's UID only (setfacl -m u:UID:rw), not chmod 0666; remove takes
#                 the entry out and puts the device's original mode/ACL back when no managed user
#                 needs it. chmod 0666 is only a fallback where ACLs are not supported (warning).
#                 devtmpfs forgets both at reboot: run apply again after a boot.
#   lingering     where systemd is PID 1: `loginctl enable-linger` (undone by remove if we did it).
#                 Without systemd nothing would read /var/lib/systemd/linger, so we write nothing
#                 and say so.
#   docker        with systemd: a systemd --user unit (dockerd-rootless-setuptool.sh install where
#                 it works, an equivalent unit of ours where it cannot: Debian's copy needs a docker
#                 CLI next to it). Without systemd: dockerd-rootless.sh started in the background as
#                 the user, log in XDG_RUNTIME_DIR, pidfile in /run/hardened-hosts/rootless; it is
#                 NOT supervised (no restart on crash or reboot: run apply again).
#   podman        OCI runtime: as --oci-runtime says for the cgroup version (plan.ts: runc on
#                 v1/hybrid, crun refuses hybrid cgroups; crun on v2 when installed). Storage: the
#                 first of --storage-order that works (plan.ts: overlay when the kernel >= 5.13 mounts
#                 it in a user namespace (probed), else fuse-overlayfs when the user can open /dev/fuse, else vfs);
#                 a storage already initialised with another driver is kept (podman refuses a switch).
#                 Written as single keys into ~/.config/containers/{containers,storage}.conf, marked
#                 with a comment; everything else in those files is left as it is; the first
#                 version is kept as <file>.hardened-hosts.bak. remove restores the backup when the
#                 file is still what we wrote, else it puts back only our keys' previous lines.
#
# State: /var/lib/hardened-hosts/rootless/USER/ (root only) remembers what apply changed, so that
# remove undoes exactly that. Files in the user's home are read and written as the user.
#
# stdout: one JSON object (keys camelCase, as every script's); on failure {"ok":false,"action","exitCode",
#   "error","user","changes","warnings"}.
#   facts:  distro, kernel, userns{available,problem,maxUserNamespaces,unprivilegedUsernsClone,
#           apparmorRestrictUnprivilegedUserns}, cgroup (v1|hybrid|v2), systemd,
#           nativeOverlayKernel, user{name,exists,uid,gid,home,shell}, subuid/subgid
#           [{start,count,managed}], linger, tools{...: path|null, podman/dockerd: {path,version}},
#           devices{/dev/net/tun,/dev/fuse: {mode,acl,userCanOpen}}
#   apply:  changed, changes[], mode, user, uid, createdUser, ranges{subuid,subgid}, xdgRuntimeDir,
#           dockerHost (docker) | podmanSocket{path,active,...} (podman), runtime, storageDriver,
#           version, rootless, securityOptions (docker), linger{enabled,how,...},
#           supervision{daemon,supervised,pid?,pidfile?,log?,note?}, tun{path,access: acl|already|
#           chmod-0666}, shell, systemd, cgroup, warnings[]
#   remove: changed, changes[], mode, user, uid, deletedUser, warnings[]
# stderr: one line per step. Exit codes (the table in components/host/prelude.sh):
#   0 ok; EXIT_FAILED (stderr names the step); EXIT_USAGE (nothing touched);
#   EXIT_PRECONDITION user or ID precondition (not root, user missing, uid 0, no/other subuid or
#     subgid range, home missing); EXIT_PACKAGES missing and --install no, or installing failed
#     (installing is apt only: elsewhere a missing tool is EXIT_UNSUPPORTED, naming the distribution);
#   EXIT_NOT_RUNNING the runtime did not come up as the user (docker info / podman info failed
#     or not rootless); EXIT_UNSUPPORTED the host cannot run rootless containers as is (user
#     namespaces off, no /dev/net/tun, unusable runtime dir, systemd user manager unreachable).
# shellcheck disable=SC2016 # the sh -c '...' snippets run as the user expand their own "$1"
set -Eeuo pipefail
umask 022
# The shared prelude (components/host/prelude.sh: exit codes, output helpers, shared readers)
# comes ahead of this script on stdin; run from its file, the script sources it.
# shellcheck source=SCRIPTDIR/../host/prelude.sh
[ "${HH_PRELUDE:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/../host/prelude.sh"
# shellcheck source=SCRIPTDIR/rootless-common.sh
[ "${HH_ROOTLESS_COMMON:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/rootless-common.sh"
# shellcheck source=SCRIPTDIR/toml-keys.sh
[ "${HH_ROOTLESS_TOML:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/toml-keys.sh"
# shellcheck source=SCRIPTDIR/rootless-docker.sh
[ "${HH_ROOTLESS_DOCKER:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/rootless-docker.sh"
# shellcheck source=SCRIPTDIR/rootless-podman.sh
[ "${HH_ROOTLESS_PODMAN:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/rootless-podman.sh"
readonly TOOL=rootless

readonly STATE_ROOT=/var/lib/hardened-hosts/rootless
readonly RUN_ROOT=/run/hardened-hosts/rootless
readonly BEGIN_MARK="# BEGIN hardened-hosts managed block (do not edit)"
readonly END_MARK="# END hardened-hosts managed block"
readonly KEY_MARK="# hardened-hosts (rootless.sh)"
readonly SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly DEBIAN_CONTRIB=/usr/share/docker.io/contrib
readonly DOCKER_WAIT_SECONDS=120

# Every global, declared here; the functions (here and in the parts) set and read them.
# Arguments (parse_args):
action="" mode="" user="" create_user=no install=no restrict_shell=no expect_range="" delete_user=no
# The decisions given as arguments (parse_args, from --packages, --oci-runtime, --storage-order):
# per --packages entry its tool, condition and ":"-joined packages; runtimes per cgroup version.
tool_names=() tool_when=() tool_pkgs=() storage_order=()
declare -A oci_runtimes=()
# The user (load_user), its runtime dir (ensure_runtime_dir) and its ranges (check_ranges):
uid="" gid="" home="" shell="" rt="" subuid_list="" subgid_list=""
# What apply found and did, for the report (ensure_linger, ensure_tun, apply_docker, apply_podman):
linger_json=null tun_access="" supervision_json=null
docker_host="" bg_pid="" secopts=null
podman_socket="" podman_socket_json=null runtime="" storage_driver="" server_version=""
# Every run: what changed, warnings, a private temp dir (main).
warnings=() changes=()
work=""

# The prelude's fail adds these members to the failure report.
fail_fields() { printf ',"user":%s,"changes":%s,"warnings":%s' "$(jstr "$user")" "$(json_list "${changes[@]}")" "$(json_list "${warnings[@]}")"; }

usage() {
  fail "$EXIT_USAGE" "usage: rootless.sh facts --user NAME | apply --mode docker-rootless|podman --user NAME [--create-user yes|no] [--install yes|no] [--restrict-shell yes|no] [--expect-range START:COUNT] --packages TOOL[@FACT]=PKG[:NEXT],... [--oci-runtime v1=R,hybrid=R,v2=R[:R] --storage-order DRIVER,...] | remove --mode docker-rootless|podman --user NAME [--delete-user yes|no]"
}

# ---------------------------------------------------------------------------------------------
# Arguments: everything is validated before anything is read or written.
parse_args() {
  [ $# -ge 1 ] || usage
  action=$1; shift
  case "$action" in facts|apply|remove) ;; *) usage ;; esac
  local seen=" " opt val
  while [ $# -gt 0 ]; do
    opt=$1
    [[ "$opt" == --* ]] || fail "$EXIT_USAGE" "$action: unexpected argument '$opt'"
    [ $# -ge 2 ] || fail "$EXIT_USAGE" "$action: option $opt needs a value"
    val=$2; shift 2
    [[ "$seen" != *" $opt "* ]] || fail "$EXIT_USAGE" "$action: option $opt given twice"
    seen+="$opt "
    case "$action:$opt" in
      *:--user) user=$val ;;
      apply:--mode|remove:--mode) mode=$val ;;
      apply:--create-user) yes_no "$opt" "$val"; create_user=$val ;;
      apply:--install) yes_no "$opt" "$val"; install=$val ;;
      apply:--restrict-shell) yes_no "$opt" "$val"; restrict_shell=$val ;;
      apply:--expect-range) expect_range=$val ;;
      apply:--packages) read_packages "$val" ;;
      apply:--oci-runtime) read_oci_runtimes "$val" ;;
      apply:--storage-order) read_storage_order "$val" ;;
      remove:--delete-user) yes_no "$opt" "$val"; delete_user=$val ;;
      *) fail "$EXIT_USAGE" "$action: unknown option '$opt'" ;;
    esac
  done
  [ -n "$user" ] || fail "$EXIT_USAGE" "$action: --user NAME is required"
  [[ "$user" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || fail "$EXIT_USAGE" "user '$user': expected a login name matching ^[a-z_][a-z0-9_-]{0,31}\$"
  [ "$user" != root ] || fail "$EXIT_USAGE" "user root: rootless runtimes are for unprivileged users"
  if [ "$action" != facts ]; then
    [ -n "$mode" ] || fail "$EXIT_USAGE" "$action: --mode docker-rootless|podman is required"
    case "$mode" in docker-rootless|podman) ;; *) fail "$EXIT_USAGE" "mode '$mode': expected docker-rootless or podman" ;; esac
  fi
  if [ "$action" = apply ]; then
    [ ${#tool_names[@]} -gt 0 ] || fail "$EXIT_USAGE" "apply: --packages is required (components/rootless/plan.ts makes it)"
    if [ "$mode" = podman ]; then
      [ ${#oci_runtimes[@]} = 3 ] || fail "$EXIT_USAGE" "apply --mode podman: --oci-runtime v1=...,hybrid=...,v2=... is required"
      [ ${#storage_order[@]} -gt 0 ] || fail "$EXIT_USAGE" "apply --mode podman: --storage-order is required"
    else
      if [ ${#oci_runtimes[@]} -gt 0 ] || [ ${#storage_order[@]} -gt 0 ]; then fail "$EXIT_USAGE" "apply: --oci-runtime and --storage-order are for --mode podman"; fi
    fi
  fi
  if [ -n "$expect_range" ]; then
    [[ "$expect_range" =~ ^(0|[1-9][0-9]{0,9}):([1-9][0-9]{0,9})$ ]] ||
      fail "$EXIT_USAGE" "--expect-range '$expect_range': expected START:COUNT (decimal, count > 0)"
    (( BASH_REMATCH[1] + BASH_REMATCH[2] - 1 <= 4294967294 )) ||
      fail "$EXIT_USAGE" "--expect-range '$expect_range': the range ends past the last valid ID 4294967294"
  fi
}
# --packages TOOL[@FACT]=PKG[:NEXT],...: every tool the mode needs and its apt packages.
read_packages() {
  [[ "$1" != *$'\n'* ]] || fail "$EXIT_USAGE" "--packages: expected one line"
  local entry entries=()
  IFS=, read -r -a entries <<< "$1"
  for entry in "${entries[@]}"; do
    [[ "$entry" =~ ^([A-Za-z0-9][A-Za-z0-9._+-]*)(@(systemd|tun-closed|oci-runtime))?=([a-z0-9][a-z0-9.+-]*(:[a-z0-9][a-z0-9.+-]*)*)$ ]] ||
      fail "$EXIT_USAGE" "--packages: '$entry' is not TOOL[@systemd|@tun-closed|@oci-runtime]=PACKAGE[:NEXT]"
    tool_names+=("${BASH_REMATCH[1]}") tool_when+=("${BASH_REMATCH[3]}") tool_pkgs+=("${BASH_REMATCH[4]}")
  done
}
# --oci-runtime v1=R[:R],hybrid=R[:R],v2=R[:R]: the OCI runtimes per cgroup version, each once.
read_oci_runtimes() {
  [[ "$1" != *$'\n'* ]] || fail "$EXIT_USAGE" "--oci-runtime: expected one line"
  local entry entries=()
  IFS=, read -r -a entries <<< "$1"
  for entry in "${entries[@]}"; do
    if ! [[ "$entry" =~ ^(v1|hybrid|v2)=((crun|runc)(:(crun|runc))?)$ ]] || [ -n "${oci_runtimes[${BASH_REMATCH[1]}]:-}" ]; then
      fail "$EXIT_USAGE" "--oci-runtime: '$entry' is not v1|hybrid|v2=crun|runc[:crun|runc] (each version once)"
    fi
    oci_runtimes[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
  done
}
# --storage-order DRIVER,...: podman's storage drivers in the order they are tried, each once.
read_storage_order() {
  [[ "$1" != *$'\n'* ]] || fail "$EXIT_USAGE" "--storage-order: expected one line"
  local d list=()
  IFS=, read -r -a list <<< "$1"
  for d in "${list[@]}"; do
    if ! [[ "$d" =~ ^(overlay|fuse-overlayfs|vfs)$ ]] || [[ " ${storage_order[*]} " == *" $d "* ]]; then
      fail "$EXIT_USAGE" "--storage-order: '$d' is not overlay, fuse-overlayfs or vfs (each once)"
    fi
    storage_order+=("$d")
  done
}
yes_no() { [ "$2" = yes ] || [ "$2" = no ] || fail "$EXIT_USAGE" "option $1: expected yes or no, got '$2'"; }

do_apply() {
  [ "$(id -u)" = 0 ] || fail "$EXIT_PRECONDITION" "apply must run as root (directly or with sudo -n)"
  local p; p=$(userns_problem)
  [ -z "$p" ] || fail "$EXIT_UNSUPPORTED" "unprivileged user namespaces are off: $p"
  [ "$(sysctl_value /proc/sys/kernel/apparmor_restrict_unprivileged_userns)" != 1 ] ||
    warn "kernel.apparmor_restrict_unprivileged_userns is 1: rootlesskit/podman need an AppArmor profile allowing user namespaces"
  # Ranges first, by name (the user may not exist yet): nothing is created for a plan that
  # cannot work.
  load_user || uid=""
  [ "$uid" != 0 ] || fail "$EXIT_PRECONDITION" "$user has UID 0: refusing to set up a rootless runtime for a root account"
  check_ranges
  ensure_packages
  ensure_user
  check_ranges # again, by name and UID: nothing may have added a range meanwhile
  ensure_shell
  ensure_linger
  ensure_runtime_dir
  ensure_tun
  if [ "$mode" = docker-rootless ]; then apply_docker; else apply_podman; fi

  printf '{"ok":true,"action":"apply","changed":%s,"mode":%s,"user":%s,"uid":%s,"createdUser":%s,' \
    "$(jbool "$([ ${#changes[@]} -gt 0 ] && echo yes || echo no)")" "$(jstr "$mode")" "$(jstr "$user")" "$uid" \
    "$(jbool "$(marked created-user && echo yes || echo no)")"
  printf '"ranges":{"subuid":%s,"subgid":%s},"xdgRuntimeDir":%s,"dockerHost":%s,"podmanSocket":%s,' \
    "$(ranges_json "$subuid_list")" "$(ranges_json "$subgid_list")" "$(jstr "$rt")" "$(jstr_or_null "$docker_host")" "$podman_socket_json"
  printf '"runtime":%s,"storageDriver":%s,"version":%s,"rootless":true,"securityOptions":%s,' \
    "$(jstr "$runtime")" "$(jstr "$storage_driver")" "$(jstr "$server_version")" "$secopts"
  printf '"linger":%s,"supervision":%s,"tun":{"path":"/dev/net/tun","access":%s},"shell":%s,"systemd":%s,"cgroup":%s,' \
    "$linger_json" "$supervision_json" "$(jstr "$tun_access")" "$(jstr "$shell")" "$(jbool "$(systemd_running && echo yes || echo no)")" "$(jstr "$(cgroup_version)")"
  printf '"changes":%s,"warnings":%s}\n' "$(json_list "${changes[@]}")" "$(json_list "${warnings[@]}")"
}

do_remove() {
  [ "$(id -u)" = 0 ] || fail "$EXIT_PRECONDITION" "remove must run as root (directly or with sudo -n)"
  if load_user; then
    [ "$uid" != 0 ] || fail "$EXIT_PRECONDITION" "$user has UID 0: refusing"
  else
    uid=$(cat "$(ustate)/uid" 2>/dev/null || true) home="" gid=""
  fi
  rt=""; [ -n "$uid" ] && rt=/run/user/$uid
  if [ ! -d "$(ustate)" ]; then say "remove: nothing recorded for $user"; fi
  if [ "$mode" = docker-rootless ]; then remove_docker; else remove_podman; fi
  local deleted=no will_delete=no
  if [ "$delete_user" = yes ] && marked created-user; then will_delete=yes; fi
  # Shared by both modes: undone when no mode is left.
  if [ -d "$(ustate)" ] && [ ! -e "$(ustate)/docker-rootless" ] && [ ! -e "$(ustate)/podman" ]; then
    restore_tun
    if marked linger-enabled; then
      if systemd_running && getent passwd "$user" >/dev/null; then
        loginctl disable-linger "$user" >&2 || warn "loginctl disable-linger $user failed"
        did "remove: lingering disabled for $user"
      fi
      unmark linger-enabled
    fi
    if marked old-shell; then
      if getent passwd "$user" >/dev/null && [ "$will_delete" != yes ]; then
        usermod -s "$(cat "$(ustate)/old-shell")" "$user" >&2 || fail "$EXIT_FAILED" "usermod -s failed"
        did "remove: login shell of $user restored to $(cat "$(ustate)/old-shell")"
      fi
      unmark old-shell
    fi
    if [ "$delete_user" = yes ]; then
      if marked created-user && getent passwd "$user" >/dev/null; then
        pkill -TERM -u "$uid" 2>/dev/null || true
        local i; for (( i = 0; i < 20; i++ )); do pgrep -u "$uid" >/dev/null || break; sleep 0.5; done
        pkill -KILL -u "$uid" 2>/dev/null || true
        rm -rf --one-file-system -- "$home/.local/share/docker"
        # podman's lock file would confuse a later user with the same UID.
        find /dev/shm -maxdepth 1 -user "$uid" -type f -delete 2>/dev/null || true
        userdel -r "$user" >&2 || fail "$EXIT_FAILED" "userdel -r $user failed"
        deleted=yes
        did "remove: deleted user $user with its home and rootless data (rootless.sh had created it)"
      elif getent passwd "$user" >/dev/null; then
        warn "not deleting $user: rootless.sh did not create it"
      fi
    fi
    if marked rundir-created; then
      if [ -n "$uid" ] && [ -d "$rt" ] && ! systemd_running && ! pgrep -u "$uid" >/dev/null; then
        rm -rf --one-file-system -- "$rt"
        did "remove: runtime dir $rt deleted"
      elif [ -n "$uid" ] && [ -d "$rt" ] && pgrep -u "$uid" >/dev/null; then
        warn "$rt kept: $user still has processes using it"
      fi
      unmark rundir-created
    fi
    unmark created-user
    rm -rf -- "$(ustate)"
    # Shared leftovers of the last managed user: /run/user if we made it, our run and state dirs.
    if [ -e "$STATE_ROOT/run-user-created" ] && [ -z "$(find "$STATE_ROOT" -mindepth 1 -maxdepth 1 -type d -print -quit)" ]; then
      rmdir /run/user 2>/dev/null || true
      rm -f "$STATE_ROOT/run-user-created"
    fi
    rmdir "$STATE_ROOT" "$RUN_ROOT" 2>/dev/null || true
    rmdir "$(dirname "$STATE_ROOT")" "$(dirname "$RUN_ROOT")" 2>/dev/null || true # only when empty
  fi
  printf '{"ok":true,"action":"remove","changed":%s,"mode":%s,"user":%s,"uid":%s,"deletedUser":%s,"changes":%s,"warnings":%s}\n' \
    "$(jbool "$([ ${#changes[@]} -gt 0 ] && echo yes || echo no)")" "$(jstr "$mode")" "$(jstr "$user")" "$(jnum_or_null "$uid")" \
    "$(jbool "$deleted")" "$(json_list "${changes[@]}")" "$(json_list "${warnings[@]}")"
}

# ---------------------------------------------------------------------------------------------
# facts
tool_json() { local p; p=$(find_cmd "$1"); jstr_or_null "$p"; }
versioned_tool_json() { # versioned_tool_json NAME: {"path":..,"version":..} or null
  local p v
  p=$(find_cmd "$1")
  [ -n "$p" ] || { printf 'null'; return; }
  v=$("$p" --version 2>/dev/null | head -n1 | grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?[^ ,]*' | head -n1 || true)
  printf '{"path":%s,"version":%s}' "$(jstr "$p")" "$(jstr_or_null "$v")"
}
device_json() { # device_json PATH
  local m can=null
  m=$(device_mode "$1")
  [ -n "$m" ] || { printf 'null'; return; }
  if [ -n "$uid" ] && [ "$uid" != 0 ] && [ "$(id -u)" = 0 ]; then can=$(jbool "$(user_can_open "$1" && echo yes || echo no)"); fi
  printf '{"mode":"%04d","acl":%s,"userCanOpen":%s}' "$m" "$(jbool "$(device_has_acl "$1" && echo yes || echo no)")" "$can"
}
do_facts() {
  local exists=no max clone aa problem cg
  if load_user; then exists=yes; else uid="" gid="" home="" shell=""; fi
  max=$(sysctl_value /proc/sys/user/max_user_namespaces)
  clone=$(sysctl_value /proc/sys/kernel/unprivileged_userns_clone)
  aa=$(sysctl_value /proc/sys/kernel/apparmor_restrict_unprivileged_userns)
  problem=$(userns_problem)
  cg=$(cgroup_version)
  say "facts: $(os_field PRETTY_NAME), kernel $(uname -r), cgroup $cg, systemd $(systemd_running && echo running || echo 'not running')"
  printf '{"ok":true,"action":"facts","distro":{"id":%s,"versionId":%s,"idLike":%s,"prettyName":%s},"kernel":%s,' \
    "$(jstr "$(os_field ID)")" "$(jstr "$(os_field VERSION_ID)")" "$(jstr "$(os_field ID_LIKE)")" "$(jstr "$(os_field PRETTY_NAME)")" "$(jstr "$(uname -r)")"
  printf '"userns":{"available":%s,"problem":%s,"maxUserNamespaces":%s,"unprivilegedUsernsClone":%s,"apparmorRestrictUnprivilegedUserns":%s},' \
    "$(jbool "$([ -z "$problem" ] && echo yes || echo no)")" "$(jstr_or_null "$problem")" "$(jnum_or_null "$max")" "$(jnum_or_null "$clone")" "$(jnum_or_null "$aa")"
  printf '"cgroup":%s,"systemd":%s,"nativeOverlayKernel":%s,' \
    "$(jstr "$cg")" "$(jbool "$(systemd_running && echo yes || echo no)")" "$(jbool "$(kernel_at_least 5 13 && echo yes || echo no)")"
  printf '"user":{"name":%s,"exists":%s,"uid":%s,"gid":%s,"home":%s,"shell":%s},' \
    "$(jstr "$user")" "$(jbool "$exists")" "$(jnum_or_null "$uid")" "$(jnum_or_null "$gid")" "$(jstr_or_null "$home")" "$(jstr_or_null "$shell")"
  printf '"subuid":%s,"subgid":%s,"linger":%s,' \
    "$(ranges_json "$(ranges_of subuid)")" "$(ranges_json "$(ranges_of subgid)")" "$(jbool "$([ -e "/var/lib/systemd/linger/$user" ] && echo yes || echo no)")"
  printf '"tools":{"newuidmap":%s,"newgidmap":%s,"getsubids":%s,"slirp4netns":%s,"rootlesskit":%s,"fuse-overlayfs":%s,"runc":%s,"crun":%s,"setfacl":%s,"docker":%s,' \
    "$(tool_json newuidmap)" "$(tool_json newgidmap)" "$(tool_json getsubids)" "$(tool_json slirp4netns)" "$(tool_json rootlesskit)" \
    "$(tool_json fuse-overlayfs)" "$(tool_json runc)" "$(tool_json crun)" "$(tool_json setfacl)" "$(tool_json docker)"
  printf '"dockerd-rootless.sh":%s,"dockerd-rootless-setuptool.sh":%s,"podman":%s,"dockerd":%s},' \
    "$(jstr_or_null "$(find_rootless_sh dockerd-rootless.sh)")" "$(jstr_or_null "$(find_rootless_sh dockerd-rootless-setuptool.sh)")" \
    "$(versioned_tool_json podman)" "$(versioned_tool_json dockerd)"
  printf '"devices":{"/dev/net/tun":%s,"/dev/fuse":%s}}\n' "$(device_json /dev/net/tun)" "$(device_json /dev/fuse)"
}

main() {
  parse_args "$@"
  trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  case "$action" in
    facts) do_facts ;;
    apply) do_apply ;;
    remove) do_remove ;;
  esac
}

# Children must not read stdin: with `bash -s` the rest of this script is on it.
main "$@" </dev/null
