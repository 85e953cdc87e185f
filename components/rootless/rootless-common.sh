# shellcheck shell=bash disable=SC2154,SC2034,SC2016 # the globals are declared in rootless.sh, read and set here
# rootless.sh, the part both runtimes share: host facts, running things as the user, the state
# kept for remove, and the apply steps before the runtime (ranges, packages, user, shell,
# lingering, runtime dir, /dev/net/tun) with what remove undoes of them. Sent ahead of rootless.sh
# on stdin (components/host/script.ts), sourced by it when it runs from its file; defines only.
HH_ROOTLESS_COMMON=1

warn() { # each warning once
  local w
  for w in "${warnings[@]}"; do [ "$w" != "$*" ] || return 0; done
  say "warning: $*"; warnings+=("$*")
}
did() { say "$*"; changes+=("$*"); }

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
# getsubids is what newuidmap honours; the files tell which lines sit in the managed block (any
# stack's: "... managed block of P/S ..." since blocks name their stack).
file_ranges() { # file_ranges FILE
  [ -r "$1" ] || return 0
  awk -v n="$user" -v u="$uid" -v B="$BEGIN_MARK" -v E="$END_MARK" '
    index($0, B) == 1 || index($0, "# BEGIN hardened-hosts managed block of ") == 1 { inb = 1; next }
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

# Packages. Which tools a mode needs and which apt packages bring them is decided in TypeScript
# (components/rootless/plan.ts) and given as --packages; here the host's facts pick the entries
# that apply (their @condition) and what is missing gets installed.
pkg_family() {
  local ids; ids=" $(os_field ID) $(os_field ID_LIKE) "
  case "$ids" in *" debian "*|*" ubuntu "*) echo apt ;; esac
}
# The OCI runtime podman gets on this host: of the list --oci-runtime gives for its cgroup
# version, the first one installed, else the last (which is then needed, and installed).
chosen_oci_runtime() {
  local r list=()
  IFS=: read -r -a list <<< "${oci_runtimes[$(cgroup_version)]}"
  for r in "${list[@]}"; do [ -z "$(find_cmd "$r")" ] || { echo "$r"; return; }; done
  echo "${list[-1]}"
}
tool_needed() { # tool_needed INDEX: whether the condition of --packages entry INDEX holds here
  case "${tool_when[$1]}" in
    "") return 0 ;;
    systemd) systemd_running ;;
    tun-closed) [ -e /dev/net/tun ] && (( ($(stat -c '%#a' /dev/net/tun) & 6) != 6 )) ;;
    oci-runtime) [ "$mode" = podman ] && [ "${tool_names[$1]}" = "$(chosen_oci_runtime)" ] ;;
    *) return 1 ;;
  esac
}
needed_commands() {
  local i
  for i in "${!tool_names[@]}"; do if tool_needed "$i"; then echo "${tool_names[$i]}"; fi; done
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
# packages_for ROUND TOOL...: the ROUND-th package (0: the first) --packages names for each tool,
# each package once.
packages_for() {
  local round=$1 c i p out=() list=(); shift
  for c in "$@"; do
    for i in "${!tool_names[@]}"; do
      [ "${tool_names[$i]}" = "$c" ] || continue
      IFS=: read -r -a list <<< "${tool_pkgs[$i]}"
      p=${list[$round]:-}
      if [ -n "$p" ] && [[ " ${out[*]} " != *" $p "* ]]; then out+=("$p"); fi
      break
    done
  done
  [ ${#out[@]} -eq 0 ] || printf '%s\n' "${out[@]}"
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
  local missing pkgs=() first=() round=1
  mapfile -t missing < <(missing_commands)
  [ ${#missing[@]} -gt 0 ] || { say "apply: tools present: $(needed_commands | tr '\n' ' ')"; return 0; }
  mapfile -t pkgs < <(packages_for 0 "${missing[@]}")
  if [ "$install" != yes ]; then
    fail "$EXIT_PACKAGES" "missing: ${missing[*]} (packages: ${pkgs[*]}); pass --install yes or install them"
  fi
  # Only apt: the dnf branch this had was never run, so it went rather than stay untested.
  [ "$(pkg_family)" = apt ] ||
    fail "$EXIT_UNSUPPORTED" "missing: ${missing[*]}, and rootless.sh installs packages with apt only (Debian, Ubuntu), not on $(os_field PRETTY_NAME) (ID $(os_field ID)): install them by hand (Debian names: ${pkgs[*]})"
  say "apply: installing ${pkgs[*]} with apt-get"
  if ! apt_get install -y -q --no-install-recommends "${pkgs[@]}" >&2; then
    dpkg_recover
    apt_get update -q >&2 || fail "$EXIT_PACKAGES" "apt-get update failed"
    apt_get install -y -q --no-install-recommends "${pkgs[@]}" >&2 ||
      fail "$EXIT_PACKAGES" "apt-get install ${pkgs[*]} failed"
  fi
  did "apply: installed ${pkgs[*]}"
  first=("${pkgs[@]}")
  mapfile -t missing < <(missing_commands)
  # A tool its first package did not bring (docker on trixie: docker.io only recommends
  # docker-cli): the next package --packages names for it.
  while [ ${#missing[@]} -gt 0 ]; do
    mapfile -t pkgs < <(packages_for "$round" "${missing[@]}")
    [ ${#pkgs[@]} -gt 0 ] || break
    apt_get install -y -q --no-install-recommends "${pkgs[@]}" >&2 || fail "$EXIT_PACKAGES" "apt-get install ${pkgs[*]} failed"
    did "apply: installed ${pkgs[*]}"
    mapfile -t missing < <(missing_commands)
    round=$((round + 1))
  done
  [ ${#missing[@]} -eq 0 ] || fail "$EXIT_PACKAGES" "still missing after installing ${first[*]}: ${missing[*]}"
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

# The user's systemd manager answers (under systemd, after lingering started it).
user_systemd_ok() { as_user systemctl --user show-environment >/dev/null 2>&1; }
alive() { # alive PID: running and not a zombie
  local s
  s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$s" ] && [ "$s" != Z ]
}
