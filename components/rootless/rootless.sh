#!/usr/bin/env bash
# Host side of rootless container runtimes for named users: rootless Docker (dockerd-rootless.sh
# under rootlesskit) or rootless Podman. Runs as root (or through `sudo -n`), normally as
# `bash -s -- ARGS` with this text on stdin.
#
#   rootless.sh facts  --user NAME
#       read-only: what this host and user offer for rootless containers
#   rootless.sh apply  --mode docker-rootless|podman --user NAME [--create-user yes|no]
#                      [--install yes|no] [--restrict-shell yes|no] [--expect-range START:COUNT]
#       idempotent: user, packages, /dev/net/tun access, runtime dir, lingering, the daemon
#       (docker) or the per-user configuration (podman); checks the runtime answers as the user
#   rootless.sh remove --mode docker-rootless|podman --user NAME [--delete-user yes|no]
#       undoes what apply did (only that); idempotent. --delete-user yes deletes the user with its
#       home and rootless data, but only a user that apply created. The user's own containers,
#       images and files stay; /run/user/UID stays while the user still has processes (podman).
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
#   podman        OCI runtime: runc on cgroup v1/hybrid (crun refuses hybrid cgroups), crun on v2
#                 when installed. Storage: overlay when the kernel (>= 5.13) mounts it in a user
#                 namespace (probed), else fuse-overlayfs when the user can open /dev/fuse, else vfs;
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
#     subgid range, home missing); EXIT_PACKAGES missing and --install no, or installing failed;
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
readonly TOOL=rootless

readonly STATE_ROOT=/var/lib/hardened-hosts/rootless
readonly RUN_ROOT=/run/hardened-hosts/rootless
readonly BEGIN_MARK="# BEGIN hardened-hosts managed block (do not edit)"
readonly END_MARK="# END hardened-hosts managed block"
readonly KEY_MARK="# hardened-hosts (rootless.sh)"
readonly SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly DEBIAN_CONTRIB=/usr/share/docker.io/contrib
readonly DOCKER_WAIT_SECONDS=120

action="" mode="" user="" create_user=no install=no restrict_shell=no expect_range="" delete_user=no
uid="" gid="" home="" shell="" rt=""
warnings=() changes=()
work=""

warn() { # each warning once
  local w
  for w in "${warnings[@]}"; do [ "$w" != "$*" ] || return 0; done
  say "warning: $*"; warnings+=("$*")
}
did() { say "$*"; changes+=("$*"); }

# The prelude's fail adds these members to the failure report.
fail_fields() { printf ',"user":%s,"changes":%s,"warnings":%s' "$(jstr "$user")" "$(json_list "${changes[@]}")" "$(json_list "${warnings[@]}")"; }

usage() {
  fail "$EXIT_USAGE" "usage: rootless.sh facts --user NAME | apply --mode docker-rootless|podman --user NAME [--create-user yes|no] [--install yes|no] [--restrict-shell yes|no] [--expect-range START:COUNT] | remove --mode docker-rootless|podman --user NAME [--delete-user yes|no]"
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
  if [ -n "$expect_range" ]; then
    [[ "$expect_range" =~ ^(0|[1-9][0-9]{0,9}):([1-9][0-9]{0,9})$ ]] ||
      fail "$EXIT_USAGE" "--expect-range '$expect_range': expected START:COUNT (decimal, count > 0)"
    (( BASH_REMATCH[1] + BASH_REMATCH[2] - 1 <= 4294967294 )) ||
      fail "$EXIT_USAGE" "--expect-range '$expect_range': the range ends past the last valid ID 4294967294"
  fi
}
yes_no() { [ "$2" = yes ] || [ "$2" = no ] || fail "$EXIT_USAGE" "option $1: expected yes or no, got '$2'"; }

# ---------------------------------------------------------------------------------------------
# Host facts (read-only).
os_field() { if [ -r /etc/os-release ]; then sed -n "s/^$1=//p" /etc/os-release | head -n1 | tr -d "\"'"; fi; }
cgroup_version() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo v2
  elif awk '$3 == "cgroup2" { found = 1 } END { exit !found }' /proc/mounts 2>/dev/null; then echo hybrid
  else echo v1
  fi
}
systemd_running() { [ -d /run/systemd/system ]; }
kernel_at_least() { # kernel_at_least MAJOR MINOR
  local v major minor
  v=$(uname -r); major=${v%%.*}; minor=${v#*.}; minor=${minor%%[!0-9]*}
  (( major > $1 || (major == $1 && ${minor:-0} >= $2) ))
}
sysctl_value() { if [ -r "$1" ]; then cat "$1"; fi; }
find_cmd() { PATH=$SYS_PATH command -v "$1" 2>/dev/null || true; }

find_pam_systemd() {
  find /lib /usr/lib /lib64 /usr/lib64 -maxdepth 3 -name pam_systemd.so -path '*/security/*' -print -quit 2>/dev/null || true
}
find_rootless_sh() { # dockerd-rootless.sh / dockerd-rootless-setuptool.sh: on PATH (Docker CE) or Debian's contrib
  local p; p=$(find_cmd "$1")
  if [ -z "$p" ] && [ -x "$DEBIAN_CONTRIB/$1" ]; then p=$DEBIAN_CONTRIB/$1; fi
  printf '%s' "$p"
}
userns_problem() { # prints why unprivileged user namespaces are off, nothing when they are available
  local max clone
  max=$(sysctl_value /proc/sys/user/max_user_namespaces)
  clone=$(sysctl_value /proc/sys/kernel/unprivileged_userns_clone)
  if [ -n "$max" ] && [ "$max" -eq 0 ]; then echo "user.max_user_namespaces is 0"
  elif [ -n "$clone" ] && [ "$clone" != 1 ]; then echo "kernel.unprivileged_userns_clone is $clone"
  fi
}
device_mode() { if [ -e "$1" ]; then stat -c '%a' "$1"; fi; }
device_has_acl() { [ -e "$1" ] && command -v getfacl >/dev/null 2>&1 && [ -n "$(getfacl -c --skip-base "$1" 2>/dev/null)" ]; }

load_user() { # sets uid gid home shell from passwd; returns 1 if the user does not exist
  local entry
  entry=$(getent passwd "$user") || return 1
  IFS=: read -r _ _ uid gid _ home shell <<< "$entry"
}

# Subordinate ranges of the user: "start count managed" lines (managed: inside our block).
# getsubids is what newuidmap honours; the files tell which lines sit in the managed block.
file_ranges() { # file_ranges FILE
  [ -r "$1" ] || return 0
  awk -v n="$user" -v u="$uid" -v B="$BEGIN_MARK" -v E="$END_MARK" '
    $0 == B { inb = 1; next }
    index($0, E) == 1 { inb = 0; next }
    { split($0, f, ":")
      if ((f[1] == n || (u != "" && f[1] == u)) && f[2] ~ /^[0-9]+$/ && f[3] ~ /^[0-9]+$/) print f[2], f[3], inb + 0 }' "$1"
}
ranges_of() { # ranges_of subuid|subgid
  local file=/etc/$1 flag=() out
  [ "$1" = subgid ] && flag=(-g)
  if [ -n "$uid" ] && command -v getsubids >/dev/null 2>&1; then
    # "0: name start count"; no range makes getsubids fail.
    out=$(getsubids "${flag[@]}" "$user" 2>/dev/null | awk '$1 ~ /^[0-9]+:$/ && $3 ~ /^[0-9]+$/ && $4 ~ /^[0-9]+$/ { print $3, $4 }') || out=""
    local start count managed
    while read -r start count; do
      [ -n "$start" ] || continue
      managed=$(file_ranges "$file" | awk -v s="$start" -v c="$count" '$1 == s && $2 == c && $3 == 1 { m = 1 } END { print m + 0 }')
      echo "$start $count $managed"
    done <<< "$out"
  else
    file_ranges "$file"
  fi
}
ranges_json() { # ranges_json "start count managed"-lines
  local first=1 start count managed
  printf '['
  while read -r start count managed; do
    [ -n "$start" ] || continue
    [ $first = 1 ] || printf ','; first=0
    printf '{"start":%s,"count":%s,"managed":%s}' "$start" "$count" "$(jbool "$managed")"
  done <<< "$1"
  printf ']'
}

# ---------------------------------------------------------------------------------------------
# Running things as the user: clean environment, cwd = home, stdin = /dev/null unless redirected.
# No no_new_privs: newuidmap/newgidmap are setuid.
as_user() {
  local env=(HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/sh PATH="$SYS_PATH" LANG=C.UTF-8)
  if [ -n "$rt" ] && [ -d "$rt" ]; then env+=(XDG_RUNTIME_DIR="$rt" DBUS_SESSION_BUS_ADDRESS="unix:path=$rt/bus"); fi
  setpriv --reuid="$uid" --regid="$gid" --init-groups \
    env -i "${env[@]}" sh -c 'cd "$HOME" 2>/dev/null || cd /; exec "$@"' sh "$@"
}
user_can_open() { as_user sh -c ': <>"$1"' sh "$1" 2>/dev/null; }
user_path_exists() { as_user sh -c '[ -e "$1" ] || [ -L "$1" ]' sh "$1"; }
# Reads a file as the user into $2; returns 3 when it does not exist.
user_read() {
  local rc=0
  as_user sh -c 'if [ -e "$1" ] || [ -L "$1" ]; then exec cat -- "$1"; else exit 3; fi' sh "$1" > "$2" || rc=$?
  return "$rc"
}
# Atomic write as the user: temp file in the same directory, then rename. A symlink at the path
# stays a link and its target is written (as the user: it can only reach what the user can).
# Keeps the mode of an existing file; new files get 0644.
user_write() { # user_write PATH < content
  as_user sh -c 'set -e; f=$1; if [ -L "$f" ]; then f=$(readlink -f -- "$f"); fi
    d=${f%/*}; mkdir -p -- "$d"; t=$(mktemp "$d/.${f##*/}.hh.XXXXXX")
    cat > "$t"; if [ -f "$f" ]; then chmod --reference="$f" -- "$t"; else chmod 0644 -- "$t"; fi
    mv -f -- "$t" "$f"' sh "$1"
}

# ---------------------------------------------------------------------------------------------
# TOML keys (containers.conf / storage.conf). One awk program: get the line of KEY in [SECTION],
# or print the text with KEY set to LINE, or with KEY deleted. Values spanning lines (arrays,
# multi-line strings) are skipped over, not parsed; a header line ([x] or [[x]]) starts a table.
toml_edit() { # toml_edit get|set|del FILE SECTION KEY [LINE]
  awk -v op="$1" -v sec="$3" -v key="$4" -v line="${5:-}" '
    function header(l,   t) {
      if (l !~ /^[ \t]*\[/) return ""
      if (l ~ /^[ \t]*\[\[/) return "[[array]]"
      t = l; sub(/^[ \t]*\[[ \t]*/, "", t); sub(/[ \t]*\][ \t]*(#.*)?$/, "", t); return t
    }
    # Bracket depth and multi-line string state after the line, outside strings and comments.
    function scan(l,   i, c, q) {
      for (i = 1; i <= length(l); i++) {
        if (ml != "") { if (substr(l, i, 3) == ml) { i += 2; ml = "" }; continue }
        c = substr(l, i, 1)
        if (c == "#") break
        if (substr(l, i, 3) == "\"\"\"" || substr(l, i, 3) == "'\'''\'''\''") { ml = substr(l, i, 3); i += 2; continue }
        if (c == "\"" || c == "'\''") { q = c; for (i++; i <= length(l); i++) { if (q == "\"" && substr(l, i, 1) == "\\") { i++; continue }; if (substr(l, i, 1) == q) break }; continue }
        if (c == "[") depth++
        else if (c == "]") depth--
      }
    }
    { lines[++n] = $0 }
    END {
      cur = ""; depth = 0; ml = ""; found = 0; hdr = 0; multi = 0
      for (i = 1; i <= n; i++) {
        l = lines[i]
        if (depth == 0 && ml == "") {
          h = header(l)
          if (h != "") { cur = h; if (cur == sec && !hdr) hdr = i; continue }
          if (cur == sec && !found && l ~ ("^[ \t]*" key "[ \t]*=")) found = i
        }
        scan(l)
        if (found == i && (depth != 0 || ml != "")) multi = 1
      }
      if (op == "get") { if (found) print lines[found]; exit found ? 0 : 3 }
      if (multi) { print "key " key " in [" sec "] spans several lines: cannot edit it" > "/dev/stderr"; exit 4 }
      for (i = 1; i <= n; i++) {
        if (i == found) { if (op == "set") print line; continue }
        print lines[i]
        if (op == "set" && !found && i == hdr) print line
      }
      if (op == "set" && !found && !hdr) {
        if (n > 0 && lines[n] !~ /^[ \t]*$/) print ""
        print "[" sec "]"
        print line
      }
    }' "$2"
}

# ---------------------------------------------------------------------------------------------
# State kept by apply for remove.
ustate() { printf '%s/%s' "$STATE_ROOT" "$user"; }
private_dir() { mkdir -p "$1"; chmod 0700 "$1"; }
mark() { private_dir "$STATE_ROOT"; private_dir "$(ustate)"; mkdir -p "$(dirname "$(ustate)/$1")"; printf '%s\n' "${2:-}" > "$(ustate)/$1"; }
marked() { [ -e "$(ustate)/$1" ]; }
unmark() { rm -rf -- "${STATE_ROOT:?}/$user/${1:?}"; }

# ---------------------------------------------------------------------------------------------
# apply steps
join_by() { local sep=$1 out="" x; shift; for x in "$@"; do out+="${out:+$sep}$x"; done; printf '%s' "$out"; }
check_ranges() {
  local kind list start count managed foreign=() matched=0 others=()
  for kind in subuid subgid; do
    list=$(ranges_of "$kind")
    foreign=() others=() matched=0
    if [ -z "$list" ]; then
      fail "$EXIT_PRECONDITION" "$user has no $kind range: write it first (components/subids/subids-host.sh apply $user:START:COUNT)"
    fi
    while read -r start count managed; do
      [ "$managed" = 1 ] || foreign+=("$start:$count")
      if [ -n "$expect_range" ] && [ "$start:$count" = "$expect_range" ]; then matched=1
      elif [ "$managed" = 1 ]; then others+=("$start:$count")
      else others+=("$start:$count (outside the hardened-hosts managed block, e.g. from useradd)")
      fi
      (( count >= 65536 )) || warn "$user's $kind range $start:$count has fewer than 65536 IDs: images using higher IDs will not unpack"
    done <<< "$list"
    if [ -n "$expect_range" ]; then
      [ "$matched" = 1 ] || fail "$EXIT_PRECONDITION" "$user's $kind range is $(join_by ', ' "${others[@]}"), expected $expect_range"
      if [ ${#others[@]} -gt 0 ]; then
        fail "$EXIT_PRECONDITION" "$user has $kind ranges besides $expect_range: $(join_by ', ' "${others[@]}") (remove them, e.g. usermod --del-subuids/--del-subgids)"
      fi
    fi
    if [ ${#foreign[@]} -gt 0 ]; then
      warn "$user's $kind range ${foreign[*]} lies outside the hardened-hosts managed block (foreign, e.g. from useradd)"
    fi
    if [ "$kind" = subuid ]; then subuid_list=$list; else subgid_list=$list; fi
  done
}

pkg_family() {
  local ids; ids=" $(os_field ID) $(os_field ID_LIKE) "
  case "$ids" in
    *" debian "*|*" ubuntu "*) echo apt ;;
    *" rhel "*|*" fedora "*|*" centos "*) if command -v dnf >/dev/null 2>&1; then echo dnf; fi ;;
  esac
}
package_for() { # package_for FAMILY COMMAND
  case "$1:$2" in
    apt:newuidmap|apt:newgidmap) echo uidmap ;;
    apt:dockerd|apt:docker|apt:dockerd-rootless.sh) echo docker.io ;;
    apt:setfacl) echo acl ;;
    apt:pam_systemd.so) echo libpam-systemd ;;
    apt:busybox) echo busybox-static ;;
    apt:ip) echo iproute2 ;;
    apt:*) echo "$2" ;;
    # RHEL family: Docker comes from Docker's own repository (docker-ce), which must be set up.
    dnf:newuidmap|dnf:newgidmap) echo shadow-utils ;;
    dnf:dockerd) echo docker-ce ;;
    dnf:docker) echo docker-ce-cli ;;
    dnf:rootlesskit|dnf:dockerd-rootless.sh) echo docker-ce-rootless-extras ;;
    dnf:setfacl) echo acl ;;
    dnf:pam_systemd.so) echo systemd ;;
    dnf:ip) echo iproute ;;
    dnf:*) echo "$2" ;;
  esac
}
needed_commands() {
  local cmds=(newuidmap newgidmap slirp4netns)
  if [ "$mode" = docker-rootless ]; then
    # rootlesskit sets up slirp4netns' tap device with `ip` (nsenter ... ip tuntap add): a host
    # without iproute2 (minimal images) gets a daemon that fails at once, and keeps restarting.
    cmds+=(rootlesskit dockerd docker dockerd-rootless.sh ip)
  else
    cmds+=(podman fuse-overlayfs)
    if [ "$(cgroup_version)" = v2 ]; then [ -n "$(find_cmd crun)" ] || cmds+=(runc); else cmds+=(runc); fi
  fi
  # Under systemd the user's manager (user@UID.service) runs the daemon; it cannot start without
  # the PAM module that sets XDG_RUNTIME_DIR (Debian's libpam-systemd, absent on minimal images).
  if systemd_running; then cmds+=(pam_systemd.so); fi
  # ACL tool: only when /dev/net/tun is not open to everyone already.
  if [ -e /dev/net/tun ] && (( ($(stat -c '%#a' /dev/net/tun) & 6) != 6 )); then cmds+=(setfacl); fi
  # What verification needs to prove the runtime (its test image): see find_static_busybox.
  cmds+=(busybox)
  printf '%s\n' "${cmds[@]}"
}
missing_commands() {
  local c
  while read -r c; do
    if [ "$c" = dockerd-rootless.sh ]; then [ -n "$(find_rootless_sh "$c")" ] || echo "$c"
    elif [ "$c" = pam_systemd.so ]; then [ -n "$(find_pam_systemd)" ] || echo "$c"
    elif [ "$c" = busybox ]; then [ -n "$(find_static_busybox)" ] || echo "$c"
    else [ -n "$(find_cmd "$c")" ] || echo "$c"
    fi
  done < <(needed_commands)
}
# apt waits for the dpkg lock instead of failing at once: another apt (unattended-upgrades, or an
# earlier run of ours whose SSH session was cut while apt went on) may hold it for a while.
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@" </dev/null; }
# A run cut in the middle of dpkg leaves packages half configured; apt refuses to go on until
# `dpkg --configure -a` finishes them.
dpkg_recover() {
  if [ -n "$(dpkg --audit 2>/dev/null)" ]; then
    say "apply: dpkg was interrupted earlier: dpkg --configure -a"
    DEBIAN_FRONTEND=noninteractive dpkg --configure -a </dev/null >&2 || fail "$EXIT_PACKAGES" "dpkg --configure -a failed"
  fi
}
ensure_packages() {
  local missing family pkgs=() c p
  mapfile -t missing < <(missing_commands)
  [ ${#missing[@]} -gt 0 ] || { say "apply: tools present: $(needed_commands | tr '\n' ' ')"; return 0; }
  family=$(pkg_family)
  for c in "${missing[@]}"; do
    p=$(package_for "${family:-apt}" "$c")
    [[ " ${pkgs[*]} " == *" $p "* ]] || pkgs+=("$p")
  done
  if [ "$install" != yes ]; then
    fail "$EXIT_PACKAGES" "missing: ${missing[*]} (packages: ${pkgs[*]}); pass --install yes or install them"
  fi
  case "$family" in
    apt)
      say "apply: installing ${pkgs[*]} with apt-get"
      if ! apt_get install -y -q --no-install-recommends "${pkgs[@]}" >&2; then
        dpkg_recover
        apt_get update -q >&2 || fail "$EXIT_PACKAGES" "apt-get update failed"
        apt_get install -y -q --no-install-recommends "${pkgs[@]}" >&2 ||
          fail "$EXIT_PACKAGES" "apt-get install ${pkgs[*]} failed"
      fi ;;
    dnf)
      say "apply: installing ${pkgs[*]} with dnf (untested branch)"
      dnf install -y -q "${pkgs[@]}" >&2 || fail "$EXIT_PACKAGES" "dnf install ${pkgs[*]} failed (Docker packages need Docker's dnf repository)"
      ;;
    *) fail "$EXIT_PACKAGES" "missing: ${missing[*]}, and this distribution ($(os_field ID)) has no supported package manager (apt, dnf)" ;;
  esac
  did "apply: installed ${pkgs[*]}"
  mapfile -t missing < <(missing_commands)
  # Debian from trixie on ships the docker CLI as docker-cli, which docker.io only recommends.
  if [ "$family" = apt ] && [[ " ${missing[*]} " == *" docker "* ]]; then
    apt_get install -y -q --no-install-recommends docker-cli >&2 || fail "$EXIT_PACKAGES" "apt-get install docker-cli failed"
    did "apply: installed docker-cli"
    mapfile -t missing < <(missing_commands)
  fi
  [ ${#missing[@]} -eq 0 ] || fail "$EXIT_PACKAGES" "still missing after installing ${pkgs[*]}: ${missing[*]}"
  if [ "$mode" = docker-rootless ] && systemd_running && systemctl is-active --quiet docker.service 2>/dev/null; then
    warn "the system-wide (rootful) docker.service is running (the package may have started it); rootless.sh leaves it alone"
  fi
}

nologin_path() {
  local p
  for p in /usr/sbin/nologin /sbin/nologin; do [ -x "$p" ] && { echo "$p"; return; }; done
  echo /usr/sbin/nologin
}

ensure_user() {
  if load_user; then
    [ "$uid" != 0 ] || fail "$EXIT_PRECONDITION" "$user has UID 0: refusing to set up a rootless runtime for a root account"
    say "apply: user $user exists (uid $uid)"
  else
    [ "$create_user" = yes ] || fail "$EXIT_PRECONDITION" "user $user does not exist (pass --create-user yes to create it)"
    local sh=/bin/bash
    [ "$restrict_shell" = yes ] && sh=$(nologin_path)
    # No automatic subordinate range: the plan (subids-host.sh) owns the user's ranges.
    useradd -m -s "$sh" -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$user" >&2 || fail "$EXIT_FAILED" "useradd $user failed"
    load_user || fail "$EXIT_FAILED" "useradd reported success but $user is not in passwd"
    mark created-user
    [ "$restrict_shell" = yes ] && mark old-shell /bin/bash
    did "apply: created user $user (uid $uid, home $home, shell $sh, no automatic subordinate range)"
  fi
  [ -d "$home" ] || fail "$EXIT_PRECONDITION" "$user's home $home does not exist (rootless runtimes keep their data there)"
  [ "$(stat -c %u "$home")" = "$uid" ] || fail "$EXIT_PRECONDITION" "$user's home $home is not owned by $user"
  mark uid "$uid"
}

ensure_shell() {
  local nl; nl=$(nologin_path)
  if [ "$restrict_shell" = yes ]; then
    if [ "$shell" != "$nl" ]; then
      marked old-shell || mark old-shell "$shell"
      usermod -s "$nl" "$user" >&2 || fail "$EXIT_FAILED" "usermod -s $nl $user failed"
      shell=$nl
      did "apply: login shell of $user set to $nl (previous shell kept for remove)"
    fi
  elif marked old-shell && [ "$shell" = "$nl" ]; then
    local old; old=$(cat "$(ustate)/old-shell")
    usermod -s "$old" "$user" >&2 || fail "$EXIT_FAILED" "usermod -s $old $user failed"
    shell=$old; unmark old-shell
    did "apply: login shell of $user restored to $old (--restrict-shell no)"
  fi
}

ensure_linger() {
  if systemd_running; then
    command -v loginctl >/dev/null 2>&1 || fail "$EXIT_UNSUPPORTED" "systemd runs but loginctl is missing"
    # logind decides, not the file: a linger file logind has not taken in (seen on a lab host
    # after remove + apply) keeps nothing running, and the user's manager stops with the last
    # session. enable-linger is idempotent and makes logind take it.
    if [ -e "/var/lib/systemd/linger/$user" ] && [ "$(loginctl show-user "$user" -p Linger --value 2>/dev/null || true)" = yes ]; then
      linger_json='{"enabled":true,"how":"loginctl","byUs":'"$(jbool "$(marked linger-enabled && echo yes || echo no)")"'}'
    else
      loginctl enable-linger "$user" >&2 || fail "$EXIT_UNSUPPORTED" "loginctl enable-linger $user failed"
      mark linger-enabled
      did "apply: lingering enabled for $user (loginctl enable-linger)"
      linger_json='{"enabled":true,"how":"loginctl","byUs":true}'
    fi
  else
    linger_json='{"enabled":false,"how":"none","note":"systemd is not PID 1 here: nothing starts user services at boot or keeps them after logout, so no linger file was written"}'
  fi
}

ensure_runtime_dir() {
  rt=/run/user/$uid
  if systemd_running; then
    local i
    for i in $(seq 1 10); do [ -d "$rt" ] && break; sleep 1; done
    if [ ! -d "$rt" ]; then
      # Lingering starts user@UID.service once; if that start failed (e.g. before pam_systemd was
      # installed) nothing retries it.
      say "apply: $rt is missing; starting user@$uid.service"
      systemctl reset-failed "user@$uid.service" >/dev/null 2>&1 || true
      systemctl start "user@$uid.service" >&2 ||
        fail "$EXIT_UNSUPPORTED" "systemd runs but user@$uid.service does not start: $(journalctl -u "user@$uid.service" -n 3 -o cat --no-pager 2>/dev/null | tr '\n' ' ')"
      for i in $(seq 1 20); do [ -d "$rt" ] && break; sleep 1; done
    fi
    [ -d "$rt" ] || fail "$EXIT_UNSUPPORTED" "systemd runs but $rt did not appear (is user@$uid.service running? lingering on?)"
  elif [ ! -e "$rt" ]; then
    if [ ! -d /run/user ]; then
      mkdir -m 0755 /run/user
      private_dir "$STATE_ROOT"; : > "$STATE_ROOT/run-user-created" # shared: removed with the last user
    fi
    mkdir -m 0700 "$rt"
    chown "$uid:$gid" "$rt"
    mark rundir-created
    did "apply: created runtime dir $rt (no systemd-logind here)"
  fi
  if [ ! -d "$rt" ] || [ -L "$rt" ]; then fail "$EXIT_UNSUPPORTED" "$rt is not a directory"; fi
  [ "$(stat -c %u "$rt")" = "$uid" ] || fail "$EXIT_UNSUPPORTED" "$rt is not owned by $user"
  (( ($(stat -c '%#a' "$rt") & 8#022) == 0 )) || fail "$EXIT_UNSUPPORTED" "$rt is writable by others"
}

ensure_tun() {
  local dev=/dev/net/tun
  [ -c "$dev" ] || fail "$EXIT_UNSUPPORTED" "$dev is missing (tun module not loaded?): slirp4netns needs it"
  if user_can_open "$dev"; then
    if marked tun; then tun_access=$(cat "$(ustate)/tun"); else tun_access=already; fi
    return 0
  fi
  # The device's state before the first managed user, restored when the last one goes.
  if [ ! -e "$STATE_ROOT/tun-original" ]; then
    private_dir "$STATE_ROOT"
    printf '%s %s\n' "$(stat -c '%a' "$dev")" "$(device_has_acl "$dev" && echo acl || echo plain)" > "$STATE_ROOT/tun-original"
  fi
  if command -v setfacl >/dev/null 2>&1 && setfacl -m "u:$uid:rw" "$dev" 2>/dev/null; then
    mark tun acl
    tun_access=acl
    did "apply: $dev: ACL entry u:$uid:rw for $user only (other users still cannot open it)"
  else
    chmod 0666 "$dev"
    mark tun chmod
    tun_access=chmod-0666
    warn "$dev: no ACL support here, opened it to everyone (chmod 0666); remove restores the mode"
    did "apply: chmod 0666 $dev"
  fi
  user_can_open "$dev" || fail "$EXIT_UNSUPPORTED" "$user still cannot open $dev after granting access"
  warn "$dev access is set on devtmpfs and is lost at reboot: run apply again after a boot"
}

# ---- docker-rootless ----
docker_as_user() { as_user env DOCKER_HOST="$docker_host" timeout 20 docker "$@"; }
our_dockerd_pid() { # prints the pid of the rootlesskit we started, if it still runs
  local f=$RUN_ROOT/$user.dockerd.pid pid
  [ -r "$f" ] || return 1
  pid=$(cat "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  [ "$(stat -c %u "/proc/$pid")" = "$uid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = rootlesskit ] || return 1
  echo "$pid"
}
user_systemd_ok() { as_user systemctl --user show-environment >/dev/null 2>&1; }
alive() { # alive PID: running and not a zombie
  local s
  s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$s" ] && [ "$s" != Z ]
}

docker_up_systemd() {
  # The runtime dir appears before the user's manager is ready (seen on trixie): give it time.
  local i
  for i in $(seq 1 30); do user_systemd_ok && break; sleep 1; done
  user_systemd_ok || fail "$EXIT_UNSUPPORTED" "systemd runs but $user's manager (user@$uid.service) does not answer within 30 s; is lingering on?"
  local rsh bin unit=$home/.config/systemd/user/docker.service
  rsh=$(find_rootless_sh dockerd-rootless.sh); bin=$(dirname "$rsh")
  if ! as_user systemctl --user is-active --quiet docker.service; then
    if ! user_path_exists "$unit"; then
      if [ -x "$bin/docker" ] && [ -n "$(find_rootless_sh dockerd-rootless-setuptool.sh)" ]; then
        # Docker CE layout: the setup tool finds the CLI next to itself.
        as_user env PATH="$bin:$SYS_PATH" "$(find_rootless_sh dockerd-rootless-setuptool.sh)" install >&2 ||
          fail "$EXIT_NOT_RUNNING" "dockerd-rootless-setuptool.sh install failed as $user"
        mark docker-rootless/setuptool
      else
        # Debian's setup tool calls $BIN/docker next to itself, which Debian does not ship:
        # the same unit it would write, written by us.
        user_write "$unit" <<EOF
[Unit]
Description=Docker Application Container Engine (Rootless)
Documentation=https://docs.docker.com/go/rootless/

[Service]
Environment=PATH=$bin:/sbin:/usr/sbin:$SYS_PATH
ExecStart=$rsh
ExecReload=/bin/kill -s HUP \$MAINPID
TimeoutSec=0
RestartSec=2
Restart=always
StartLimitBurst=3
StartLimitInterval=60s
LimitNOFILE=infinity
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
Delegate=yes
Type=simple
KillMode=mixed

[Install]
WantedBy=default.target
EOF
        as_user systemctl --user daemon-reload
      fi
      mark docker-rootless/unit-created
    fi
    # Bounded: the unit has TimeoutSec=0 (as Docker's setup tool writes it), and a daemon that fails
    # at start can leave it "deactivating" for good (seen on cgroup v1 in a container).
    local rc=0
    as_user timeout 120 systemctl --user enable --now docker.service >&2 || rc=$?
    [ "$rc" = 0 ] || fail "$EXIT_NOT_RUNNING" "systemctl --user enable --now docker.service $([ "$rc" = 124 ] && echo "did not finish within 120 s" || echo "failed") as $user: $(journalctl _UID="$uid" _SYSTEMD_USER_UNIT=docker.service -n 5 -o cat --no-pager 2>/dev/null | tr '\n' ' ')"
    mark docker-rootless/unit-enabled
    did "apply: started and enabled docker.service (systemd --user) for $user"
  elif ! as_user systemctl --user is-enabled --quiet docker.service; then
    as_user systemctl --user enable docker.service >&2
    mark docker-rootless/unit-enabled
    did "apply: enabled docker.service (systemd --user) for $user"
  fi
  supervision_json='{"daemon":"systemd --user docker.service","supervised":true,"note":"user@'"$uid"'.service runs it; lingering starts it at boot"}'
}

docker_up_background() {
  local pid rsh log=$rt/dockerd-rootless.log
  rsh=$(find_rootless_sh dockerd-rootless.sh)
  if pid=$(our_dockerd_pid); then
    say "apply: dockerd-rootless already running (rootlesskit pid $pid)"
  elif docker_as_user info >/dev/null 2>&1; then
    warn "a rootless dockerd not started by rootless.sh already answers on $docker_host; it is left alone"
    supervision_json='{"daemon":"unknown (already running, not started by rootless.sh)","supervised":false,"pid":null}'
    return 0
  else
    # A daemon that died leaves dockerd's and containerd's pidfiles behind. dockerd refuses to
    # start while the first PID exists, and waits for the old containerd while the second does (a
    # zombie counts, and zombies can linger where PID 1 reaps slowly): drop them when not running.
    local old f
    for f in "$rt/docker.pid" "$rt/docker/containerd/containerd.pid"; do
      if old=$(as_user cat -- "$f" 2>/dev/null) && [[ "$old" =~ ^[0-9]+$ ]] && ! alive "$old"; then
        as_user rm -f -- "$f"
        say "apply: removed stale $f (pid $old no longer runs)"
      fi
    done
    private_dir "$RUN_ROOT"
    # New session, no terminal, stdio away from ours (an SSH session must be able to end);
    # the log is opened by the user, inside the user's runtime dir.
    setsid setpriv --reuid="$uid" --regid="$gid" --init-groups \
      env -i HOME="$home" USER="$user" LOGNAME="$user" PATH="$(dirname "$rsh"):$SYS_PATH" LANG=C.UTF-8 XDG_RUNTIME_DIR="$rt" \
      sh -c 'cd "$HOME" || exit 1; exec >>"$XDG_RUNTIME_DIR/dockerd-rootless.log" 2>&1; exec "$0"' "$rsh" \
      </dev/null >/dev/null 2>&1 &
    pid=$!
    bg_pid=$pid
    printf '%s\n' "$pid" > "$RUN_ROOT/$user.dockerd.pid"
    mark docker-rootless/background
    did "apply: started dockerd-rootless.sh as $user in the background (pid $pid, log $log)"
  fi
  supervision_json='{"daemon":"none: started by rootless.sh in the background","supervised":false,"pid":'"$(jnum_or_null "$(cat "$RUN_ROOT/$user.dockerd.pid")")"',"pidfile":'"$(jstr "$RUN_ROOT/$user.dockerd.pid")"',"log":'"$(jstr "$log")"',"note":"not restarted on crash or reboot: run apply again"}'
}

docker_wait() {
  local out="" deadline=$(( SECONDS + DOCKER_WAIT_SECONDS ))
  while (( SECONDS < deadline )); do
    # Newer CLIs (26) exit 0 with empty server fields while the daemon is still starting: an
    # answer counts only with a server version in it.
    if out=$(docker_as_user info --format '{{json .SecurityOptions}}|{{.Driver}}|{{.ServerVersion}}|{{.DefaultRuntime}}' 2>/dev/null) &&
      [[ "$out" =~ ^[^|]*\|[^|]*\|[^|]+\| ]]; then break; fi
    out=""
    if [ -n "$bg_pid" ] && ! alive "$bg_pid"; then
      say "dockerd-rootless exited; last lines of $rt/dockerd-rootless.log:"
      as_user tail -n 20 "$rt/dockerd-rootless.log" >&2 || true
      fail "$EXIT_NOT_RUNNING" "dockerd-rootless.sh exited before answering (log: $rt/dockerd-rootless.log)"
    fi
    sleep 1
  done
  [ -n "$out" ] || fail "$EXIT_NOT_RUNNING" "docker info as $user did not answer on $docker_host within ${DOCKER_WAIT_SECONDS}s"
  IFS='|' read -r secopts storage_driver server_version runtime <<< "$out"
  [[ "$secopts" =~ ^\[(\"[^\"\\]*\"(,\"[^\"\\]*\")*)?\]$ ]] || secopts="[]"
  [[ "$secopts" == *'"name=rootless"'* ]] || fail "$EXIT_NOT_RUNNING" "docker info as $user does not list rootless in its security options: $secopts"
  say "apply: docker info as $user: rootless, storage $storage_driver, runtime $runtime, server $server_version"
}

apply_docker() {
  docker_host="unix://$rt/docker.sock" bg_pid=""
  mark docker-rootless/applied
  if systemd_running; then docker_up_systemd; else docker_up_background; fi
  docker_wait
  [ "$(cgroup_version)" = v2 ] || warn "cgroup $(cgroup_version): rootless containers get no resource limits (--memory, --cpus) on this host"
}

# ---- podman ----
driver_name() { if [ "$1" = fuse-overlayfs ]; then echo overlay; else echo "$1"; fi; }
existing_storage_driver() { # the driver podman's storage was initialised with, if any
  local d=$home/.local/share/containers/storage
  as_user sh -c 'for f in "$1"/*-images; do [ -d "$f" ] && basename "$f" -images; done; true' sh "$d" | head -n1
}
native_overlay_works() {
  kernel_at_least 5 13 || return 1
  as_user sh -c 'd=$(mktemp -d "$HOME/.hh-overlay-probe.XXXXXX") || exit 1
    mkdir "$d/l" "$d/u" "$d/w" "$d/m"
    unshare --user --map-root-user --mount sh -c "mount -t overlay overlay -o \"lowerdir=\$1/l,upperdir=\$1/u,workdir=\$1/w\" \"\$1/m\"" sh "$d" 2>/dev/null
    rc=$?; rm -rf "$d"; exit $rc'
}

# Sets KEY in [SECTION] of ~/.config/containers/FILE to VALUE (our line carries KEY_MARK).
# First change of a file: backup (<file>.hardened-hosts.bak, or "absent"); first change of a key:
# its previous line (or "absent"). Both kept for remove.
conf_dir() { printf '%s/.config/containers' "$home"; }
conf_set() { # conf_set FILE SECTION KEY VALUE
  local file=$1 section=$2 key=$3 value=$4 path st cur="$work/cur" new="$work/new" rc=0
  path=$(conf_dir)/$file
  st=podman/conf/$file
  user_read "$path" "$cur" || rc=$?
  case $rc in 0) ;; 3) : > "$cur" ;; *) fail "$EXIT_FAILED" "cannot read $path as $user" ;; esac
  toml_edit set "$cur" "$section" "$key" "$key = $value $KEY_MARK" > "$new" || fail "$EXIT_FAILED" "cannot merge $key into [$section] of $path"
  if [ "$rc" = 0 ] && cmp -s "$cur" "$new"; then return 0; fi
  if ! marked "$st.file"; then
    if [ "$rc" = 0 ]; then
      as_user cp -p -- "$path" "$path.hardened-hosts.bak"
      mark "$st.file" existed
    else
      user_path_exists "$(conf_dir)" || mark podman/conf/dir-created "$(user_path_exists "$home/.config" && echo containers || echo config)"
      mark "$st.file" absent
    fi
  fi
  if ! marked "$st@$section@$key"; then
    local orig; orig=$(toml_edit get "$cur" "$section" "$key") || orig=""
    if [ -n "$orig" ]; then mark "$st@$section@$key" "L$orig"; else mark "$st@$section@$key" A; fi
  fi
  user_write "$path" < "$new"
  sha256sum < "$new" | cut -d' ' -f1 > "$(ustate)/$st.sha"
  did "apply: $path: [$section] $key = $value"
}
# Takes KEY in [SECTION] back to its previous line when the current line is ours.
conf_unset_key() { # conf_unset_key FILE SECTION KEY ; edits $work/cur in place
  local file=$1 section=$2 key=$3 st saved line
  st=podman/conf/$file@$section@$key
  marked "$st" || return 0
  saved=$(cat "$(ustate)/$st")
  line=$(toml_edit get "$work/cur" "$section" "$key") || line=""
  if [[ "$line" == *"$KEY_MARK"* ]]; then
    if [ "$saved" = A ]; then toml_edit del "$work/cur" "$section" "$key" > "$work/next"
    else toml_edit set "$work/cur" "$section" "$key" "${saved#L}" > "$work/next"; fi
    mv -f "$work/next" "$work/cur"
  fi
  unmark "$st"
}
conf_restore() { # conf_restore FILE : puts the file back (see the header)
  local file=$1 path st rc=0 k sec key
  path=$(conf_dir)/$file
  st=podman/conf/$file
  marked "$st.file" || return 0
  user_read "$path" "$work/cur" || rc=$?
  local unchanged=no how
  how=$(cat "$(ustate)/$st.file")
  if [ "$rc" = 0 ] && [ "$(sha256sum < "$work/cur" | cut -d' ' -f1)" = "$(cat "$(ustate)/$st.sha" 2>/dev/null)" ]; then
    if [ "$how" = absent ] || user_path_exists "$path.hardened-hosts.bak"; then unchanged=yes; fi
  fi
  if [ "$unchanged" = yes ] && [ "$how" = existed ]; then
    # Through user_write, so a symlinked file stays a link (its target gets the bytes back).
    { user_read "$path.hardened-hosts.bak" "$work/bak" && user_write "$path" < "$work/bak" && as_user rm -f -- "$path.hardened-hosts.bak"; } ||
      fail "$EXIT_FAILED" "cannot put $path back from $path.hardened-hosts.bak"
    did "remove: $path restored from its backup"
  elif [ "$unchanged" = yes ]; then
    as_user rm -f -- "$path"
    did "remove: $path deleted (rootless.sh had created it)"
  elif [ "$rc" = 0 ]; then
    # Changed since apply: only our keys go back to what they were.
    cp "$work/cur" "$work/orig"
    for k in "$(ustate)/podman/conf/$file@"*; do
      [ -e "$k" ] || continue
      k=${k##*/}; k=${k#"$file@"}; sec=${k%@*}; key=${k##*@}
      conf_unset_key "$file" "$sec" "$key"
    done
    if ! cmp -s "$work/cur" "$work/orig"; then
      user_write "$path" < "$work/cur"
      did "remove: $path: our keys put back (the file was edited since apply: other changes kept)"
    fi
  fi
  as_user rm -f -- "$path.hardened-hosts.bak"
  rm -f -- "$(ustate)/$st".*  "$(ustate)/$st"@*
}

apply_podman() {
  mark podman/applied
  local cg existing preferred fuse
  cg=$(cgroup_version)
  if [ "$cg" = v2 ] && [ -n "$(find_cmd crun)" ]; then runtime=crun; else runtime=runc; fi
  [ "$cg" = v2 ] || say "apply: cgroup $cg: runtime runc (crun refuses hybrid/v1 cgroups)"
  fuse=$(find_cmd fuse-overlayfs)
  if native_overlay_works; then preferred=overlay
  elif [ -n "$fuse" ] && user_can_open /dev/fuse; then preferred="fuse-overlayfs"
  else preferred=vfs
  fi
  existing=$(existing_storage_driver)
  storage_driver=$preferred
  if [ -n "$existing" ] && [ "$existing" != "$(driver_name "$preferred")" ]; then
    warn "$user's podman storage is already initialised with $existing; keeping it (switching needs podman system reset, which deletes images and containers)"
    storage_driver=$existing
  fi
  say "apply: podman for $user: runtime $runtime, storage $storage_driver"
  [ "$storage_driver" != vfs ] || warn "storage driver vfs: every layer is a full copy (slow, uses much disk)"

  conf_set containers.conf engine runtime "\"$runtime\""
  if [ "$storage_driver" = fuse-overlayfs ]; then
    conf_set storage.conf storage driver '"overlay"'
    conf_set storage.conf storage.options.overlay mount_program "\"$fuse\""
  else
    conf_set storage.conf storage driver "\"$storage_driver\""
    if marked "podman/conf/storage.conf@storage.options.overlay@mount_program"; then
      # An earlier apply chose fuse-overlayfs: take that key back.
      local rc=0; user_read "$(conf_dir)/storage.conf" "$work/cur" || rc=$?
      if [ "$rc" = 0 ]; then
        cp "$work/cur" "$work/orig"
        conf_unset_key storage.conf storage.options.overlay mount_program
        cmp -s "$work/cur" "$work/orig" || { user_write "$(conf_dir)/storage.conf" < "$work/cur"; did "apply: storage.conf: mount_program taken back"; }
        sha256sum < "$work/cur" | cut -d' ' -f1 > "$(ustate)/podman/conf/storage.conf.sha"
      fi
    fi
  fi

  local out rootless actual_runtime actual_driver
  out=$(as_user timeout 120 podman info --format '{{.Host.Security.Rootless}}|{{.Host.OCIRuntime.Name}}|{{.Store.GraphDriverName}}|{{.Version.Version}}|{{.Host.RemoteSocket.Path}}' 2>"$work/podman.err") || {
    cat "$work/podman.err" >&2
    fail "$EXIT_NOT_RUNNING" "podman info as $user failed: $(tail -n 1 "$work/podman.err")"
  }
  IFS='|' read -r rootless actual_runtime actual_driver server_version podman_socket <<< "$out"
  [ "$rootless" = true ] || fail "$EXIT_NOT_RUNNING" "podman info as $user does not report rootless: $out"
  [ "$actual_runtime" = "$runtime" ] || warn "podman uses runtime $actual_runtime, not $runtime (another containers.conf wins?)"
  [ "$actual_driver" = "$(driver_name "$storage_driver")" ] ||
    warn "podman uses storage driver $actual_driver, not $storage_driver"
  say "apply: podman info as $user: rootless, runtime $actual_runtime, storage $actual_driver, version $server_version"
  runtime=$actual_runtime
  [ -n "$podman_socket" ] || podman_socket=$rt/podman/podman.sock

  if systemd_running && user_systemd_ok; then
    if ! as_user systemctl --user is-active --quiet podman.socket; then
      as_user systemctl --user enable --now podman.socket >&2 || fail "$EXIT_NOT_RUNNING" "systemctl --user enable --now podman.socket failed as $user"
      mark podman/socket-enabled
      did "apply: enabled podman.socket (systemd --user) for $user"
    fi
    podman_socket_json='{"path":'"$(jstr "$podman_socket")"',"active":true,"by":"systemd --user podman.socket"}'
    supervision_json='{"daemon":"none (podman is daemonless); API socket: systemd --user podman.socket","supervised":true}'
  else
    podman_socket_json='{"path":'"$(jstr "$podman_socket")"',"active":false,"note":"no systemd: the API socket is not started (podman is daemonless; run podman system service as the user if an API is needed)"}'
    supervision_json='{"daemon":"none (podman is daemonless; containers run under conmon, nothing restarts them at boot)","supervised":false}'
  fi
  [ "$cg" = v2 ] || warn "cgroup $cg: rootless containers get no resource limits (--memory, --cpus) on this host"
}

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
  subuid_list="" subgid_list=""
  check_ranges
  ensure_packages
  ensure_user
  check_ranges # again, by name and UID: nothing may have added a range meanwhile
  ensure_shell
  ensure_linger
  ensure_runtime_dir
  ensure_tun
  docker_host="" podman_socket_json=null supervision_json=null secopts=null storage_driver="" runtime="" server_version=""
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

# ---------------------------------------------------------------------------------------------
# remove
stop_background_dockerd() {
  local pid i
  if pid=$(our_dockerd_pid); then
    kill -TERM "$pid"
    for (( i = 0; i < 60; i++ )); do alive "$pid" || break; sleep 0.5; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 1; warn "rootlesskit $pid ignored SIGTERM for 30s: killed"; fi
    did "remove: stopped dockerd-rootless of $user (rootlesskit pid $pid)"
  fi
  rm -f "$RUN_ROOT/$user.dockerd.pid"
  if [ -n "$uid" ] && [ -n "$rt" ] && [ -d "$rt" ] && ! marked rundir-created; then
    as_user rm -f -- "$rt/dockerd-rootless.log" || true
  fi
}

remove_docker() {
  if marked docker-rootless/unit-enabled || marked docker-rootless/unit-created || marked docker-rootless/setuptool; then
    if [ -n "$uid" ] && getent passwd "$user" >/dev/null && systemd_running && user_systemd_ok; then
      as_user systemctl --user disable --now docker.service >&2 || warn "systemctl --user disable --now docker.service failed"
      if marked docker-rootless/setuptool; then
        as_user env PATH="$(dirname "$(find_rootless_sh dockerd-rootless.sh)"):$SYS_PATH" \
          "$(find_rootless_sh dockerd-rootless-setuptool.sh)" uninstall >&2 || warn "dockerd-rootless-setuptool.sh uninstall failed"
      elif marked docker-rootless/unit-created; then
        as_user rm -f -- "$home/.config/systemd/user/docker.service"
        as_user systemctl --user daemon-reload || true
      fi
      did "remove: docker.service (systemd --user) of $user stopped and disabled"
    else
      warn "docker.service of $user could not be stopped: its systemd user manager is not reachable"
    fi
  fi
  if [ -n "$uid" ]; then stop_background_dockerd; fi
  unmark docker-rootless
}

remove_podman() {
  if marked podman/socket-enabled && [ -n "$uid" ] && systemd_running && user_systemd_ok; then
    as_user systemctl --user disable --now podman.socket >&2 || warn "systemctl --user disable --now podman.socket failed"
    did "remove: podman.socket (systemd --user) of $user disabled"
  fi
  if [ -n "$home" ] && getent passwd "$user" >/dev/null; then
    local n; n=$(as_user timeout 60 podman ps -q 2>/dev/null | wc -l || true)
    [ "${n:-0}" = 0 ] || warn "$user still has $n running podman containers; they are the user's and are left alone"
    conf_restore containers.conf
    conf_restore storage.conf
    if marked podman/conf/dir-created; then
      as_user rmdir -- "$(conf_dir)" 2>/dev/null || true
      if [ "$(cat "$(ustate)/podman/conf/dir-created")" = config ]; then as_user rmdir -- "$home/.config" 2>/dev/null || true; fi
    fi
  fi
  unmark podman
}

restore_tun() {
  local dev=/dev/net/tun kind others orig_mode orig_acl u
  marked tun || return 0
  kind=$(cat "$(ustate)/tun")
  if [ "$kind" = acl ] && [ -e "$dev" ]; then
    setfacl -x "u:$uid" "$dev" 2>/dev/null || true
    did "remove: $dev: ACL entry for uid $uid removed"
  fi
  unmark tun
  others=0
  for u in "$STATE_ROOT"/*/tun; do [ -e "$u" ] && others=$((others + 1)); done
  if [ "$others" = 0 ] && [ -r "$STATE_ROOT/tun-original" ] && [ -e "$dev" ]; then
    read -r orig_mode orig_acl < "$STATE_ROOT/tun-original"
    # With no named entries left, the ACL is only a mask: drop it when there was none before.
    if [ "$orig_acl" = plain ] && ! getfacl -c --skip-base "$dev" 2>/dev/null | grep -Eq '^(user|group):[^:]+:'; then
      setfacl -b "$dev" 2>/dev/null || true
    fi
    chmod "$orig_mode" "$dev"
    rm -f "$STATE_ROOT/tun-original"
    did "remove: $dev back to mode $orig_mode (no managed user needs it any more)"
  fi
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
