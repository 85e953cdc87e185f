#!/usr/bin/env bash
# Host side of post-deploy verification: gathers RAW observations about one container runtime on
# this host, as one JSON object on stdout. It decides nothing: components/verify/checks.ts turns
# the observations into pass/fail checks. Runs as root (directly or through `sudo -n`), normally
# as `bash -s -- ARGS` with this text on stdin.
#
#   verify.sh observe --runtime docker-remap|docker-rootless|podman|podman-auto --user NAME
#                     --expect-range START:COUNT [--image IMAGE] [--docker-host URI] [--auto-size N]
#                     [--expect-lines "OWNER:START:COUNT ..."]
#
#   --runtime       docker-remap: the rootful dockerd (run as root) whose userns-remap user is NAME;
#                   docker-rootless: NAME's rootless dockerd; podman: NAME's rootless podman;
#                   podman-auto: rootful podman (run as root) with userns=auto from NAME's pool.
#                   The rootless CLIs run AS the user (runuser, else setpriv), clean environment.
#   --user          the remap user (docker-remap) or the runtime's owner (rootless modes)
#   --expect-range  the planned subordinate range; used only to find /etc/subuid and /etc/subgid
#                   lines of other owners that overlap it (the checks compare, not this script)
#   --image         the test image (needs sh, cat, id, touch, sleep, true); never pulled
#                   (--pull never). Default: hardened-hosts/verify:busybox, imported from the
#                   host's static busybox for this run and removed again afterwards
#   --docker-host   the daemon address (docker modes only). Default: docker-remap: $DOCKER_HOST,
#                   else unix:///var/run/docker.sock; docker-rootless: unix:///run/user/UID/docker.sock
#   --auto-size     podman-auto only (required there): the planned IDs per container; reported back
#   --expect-lines  every line the subids step wrote on this host (tenants included), space-separated:
#                   each one must be a line of /etc/subuid and of /etc/subgid as it is; the ones that
#                   are not (removed, changed, re-owned) are reported as "managed" ... "missing"
#
# podman-auto: instead of the one probe and sleep containers, two containers run at once (both
# started without --userns, so containers.conf decides), each writing a file into one shared bind
# mount; their /proc/PID/uid_map and gid_map (read on the host), process UID/GID and file owners
# are reported ("auto"), and the first also tries the root-owned dir. Running containers of the
# host whose process is in the host's user namespace (uid_map "0 0 4294967295": --userns=host)
# are reported as usernsMode "host", whatever Podman's inspect calls them.
#
# What it observes: the runtime version and the daemon's security settings (`docker info` /
# `podman info`); /proc/self/uid_map and gid_map inside a throw-away container; the host UID/GID
# of a container process (a `sleep` container's PID from inspect, read in /proc/PID/status); the
# host owner of a file container root writes into a bind-mounted temp dir; whether container root
# can write into a root-owned 0755 host dir mounted into it; whether `--privileged` is refused
# (docker-remap only); the running containers with their userns mode; NAME's lines in
# /etc/subuid and /etc/subgid and the other lines overlapping them or the expected range; NAME's
# UID and GID.
#
# What it changes: nothing that outlives the run. Its containers (named hh-verify-<run>-*), the
# test image when this run imported it, and its temp dir are removed before it prints the JSON,
# and again by an EXIT trap on any failure path. A probe that cannot run (no daemon, no image) is
# reported in the JSON, not as an error: the checks then fail with that observation.
#
# Environment (tests): HH_VERIFY_BUSYBOX  space-separated busybox paths to try, instead of
#                      /bin/busybox /usr/bin/busybox /sbin/busybox /usr/sbin/busybox + PATH.
#                      HH_VERIFY_TIMEOUT  seconds per runtime CLI call (default 120).
#
# stdout: one JSON object (see components/verify/README.md); on failure
# {"ok":false,"action","exitCode","error"}. stderr: one line per step ("verify: ...").
# Exit (components/host/prelude.sh): 0 observed (whatever the observations say); EXIT_FAILED;
# EXIT_USAGE (nothing was run); EXIT_PRECONDITION (not run as root).
set -Eeuo pipefail
umask 022
# The shared prelude (components/host/prelude.sh: exit codes, output helpers, shared readers)
# comes ahead of this script on stdin; run from its file, the script sources it.
# shellcheck source=SCRIPTDIR/../host/prelude.sh
[ "${HH_PRELUDE:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/../host/prelude.sh"

readonly TOOL=verify
readonly SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
readonly DEFAULT_IMAGE=hardened-hosts/verify:busybox
readonly LABEL=org.hardened-hosts.verify.busybox-sha256
readonly MAX_LAST_ID=4294967294

action="" runtime="" user="" expect_range="" image="" docker_host="" auto_size="" expect_lines="" expect_lines_given=0
exp_start="" exp_count=""
cli_timeout="${HH_VERIFY_TIMEOUT:-120}"
# What this run observed and made, for the JSON and for cleanup (declared here, set by the
# functions below: the user, the engine, supervision, the test image, the probes, the containers).
run_id="" work="" started=() image_created=0 cleaned=0
containers_left=() cleanup_errors=() image_removed=0 tempdir_removed=0
uid="" gid="" group_gid="" home="" user_exists=0 run_as="" runner=""
cli="" engine_reachable=0 engine_version="" engine_info="" engine_error=""
declare -A timing=()
sup_systemd=0 sup_linger=null sup_unit_enabled=null
img_built=0 img_from="" img_busybox_version="" img_sha="" img_reused=0 img_error="" img_ready=0
probe_ran=0 probe_error="" uid_map=() gid_map=() id_inside="" bind_written=0 bind_uid="" bind_gid="" bind_error=""
root_dir_writable="" root_dir_message=""
proc_ran=0 proc_pid="" proc_found_by="" proc_uid="" proc_gid="" proc_error=""
priv_tried=0 priv_exit="" priv_message="" priv_reason=""
ctr_listed=0 ctr_error="" ctr_json="[]" ctr_count=0 ctr_hostns=0 ctr_privileged=0
kube_json=""

# A JSON value some other tool printed (docker/podman templates), or null when it is empty.
jraw_or_null() { if [ -n "$1" ]; then printf '%s' "$1"; else printf 'null'; fi; }

usage() {
  fail "$EXIT_USAGE" "usage: verify.sh observe --runtime docker-remap|docker-rootless|podman|podman-auto --user NAME --expect-range START:COUNT [--image IMAGE] [--docker-host URI] [--auto-size N]"
}

# ---------------------------------------------------------------------------------------------
# Arguments: all of them are checked before anything is read or run.
parse_args() {
  [ $# -ge 1 ] || usage
  action=$1; shift
  [ "$action" = observe ] || { action=""; usage; }
  local seen=" " opt val
  while [ $# -gt 0 ]; do
    opt=$1
    [[ "$opt" == --* ]] || fail "$EXIT_USAGE" "observe: unexpected argument '$opt'"
    [ $# -ge 2 ] || fail "$EXIT_USAGE" "observe: option $opt needs a value"
    val=$2; shift 2
    [[ "$seen" != *" $opt "* ]] || fail "$EXIT_USAGE" "observe: option $opt given twice"
    seen+="$opt "
    case "$opt" in
      --runtime) runtime=$val ;;
      --user) user=$val ;;
      --expect-range) expect_range=$val ;;
      --image) image=$val ;;
      --docker-host) docker_host=$val ;;
      --auto-size) auto_size=$val ;;
      --expect-lines) expect_lines=$val; expect_lines_given=1 ;;
      *) fail "$EXIT_USAGE" "observe: unknown option '$opt' (it takes --runtime --user --expect-range --image --docker-host --auto-size --expect-lines)" ;;
    esac
  done
  [ -n "$runtime" ] || fail "$EXIT_USAGE" "observe: --runtime docker-remap|docker-rootless|podman|podman-auto|kubelet-userns is required"
  case "$runtime" in docker-remap|docker-rootless|podman|podman-auto|kubelet-userns) ;; *) fail "$EXIT_USAGE" "--runtime '$runtime': expected docker-remap, docker-rootless, podman, podman-auto or kubelet-userns" ;; esac
  if [ "$runtime" = podman-auto ] || [ "$runtime" = kubelet-userns ]; then
    # kubelet-userns: the IDs per pod (kubelet's idsPerPod).
    [[ "$auto_size" =~ ^[1-9][0-9]{0,9}$ ]] || fail "$EXIT_USAGE" "--auto-size N (IDs per container or pod) is required with --runtime $runtime, not '$auto_size'"
  else
    [ -z "$auto_size" ] || fail "$EXIT_USAGE" "--auto-size is for --runtime podman-auto and kubelet-userns only"
  fi
  [ -n "$user" ] || fail "$EXIT_USAGE" "observe: --user NAME is required"
  [[ "$user" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || fail "$EXIT_USAGE" "--user '$user': expected a login name matching ^[a-z_][a-z0-9_-]{0,31}\$"
  [ "$user" != root ] || fail "$EXIT_USAGE" "--user root: the runtime's containers must not map to root"
  [ -n "$expect_range" ] || fail "$EXIT_USAGE" "observe: --expect-range START:COUNT is required"
  [[ "$expect_range" =~ ^(0|[1-9][0-9]{0,9}):([1-9][0-9]{0,9})$ ]] ||
    fail "$EXIT_USAGE" "--expect-range '$expect_range': expected START:COUNT (decimal, count > 0)"
  exp_start=${BASH_REMATCH[1]} exp_count=${BASH_REMATCH[2]}
  (( exp_start + exp_count - 1 <= MAX_LAST_ID )) ||
    fail "$EXIT_USAGE" "--expect-range '$expect_range': the range ends past the last valid ID $MAX_LAST_ID"
  local l
  for l in $expect_lines; do
    [[ "$l" =~ ^([a-z_][a-z0-9_-]{0,30}[a-z0-9_$-]?|[0-9]+):(0|[1-9][0-9]{0,9}):([1-9][0-9]{0,9})$ ]] ||
      fail "$EXIT_USAGE" "--expect-lines: '$l' is not OWNER:START:COUNT"
  done
  if [ -n "$image" ]; then
    # A reference as docker and podman accept it: no spaces, no leading '-', bounded length.
    [[ "$image" =~ ^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$ ]] ||
      fail "$EXIT_USAGE" "--image '$image': expected an image reference such as registry.example/busybox:1.36"
  fi
  if [ -n "$docker_host" ]; then
    case "$runtime" in podman|podman-auto) fail "$EXIT_USAGE" "--docker-host is for the docker runtimes, not $runtime" ;; esac
    [[ "$docker_host" =~ ^(unix|tcp|ssh|fd)://[A-Za-z0-9._/:@%+=,~-]+$ ]] ||
      fail "$EXIT_USAGE" "--docker-host '$docker_host': expected unix:///path, tcp://host:port, ssh://user@host or fd://"
  fi
  [[ "$cli_timeout" =~ ^[1-9][0-9]{0,3}$ ]] || fail "$EXIT_USAGE" "HH_VERIFY_TIMEOUT must be 1-9999 seconds, not '$cli_timeout'"
}

# ---------------------------------------------------------------------------------------------

now_ms() { local t; t=$(date +%s%N); printf '%s' "$(( t / 1000000 ))"; }

# The runtime's CLI, as the right account, with a clean environment and a time limit.
rt() {
  case "$runtime" in
    docker-remap)
      (cd / && env -i PATH="$SYS_PATH" HOME=/root LANG=C.UTF-8 DOCKER_HOST="$docker_host" \
        timeout "$cli_timeout" docker "$@") ;;
    docker-rootless) as_user env DOCKER_HOST="$docker_host" timeout "$cli_timeout" docker "$@" ;;
    podman) as_user timeout "$cli_timeout" podman "$@" ;;
    podman-auto)
      (cd / && env -i PATH="$SYS_PATH" HOME=/root LANG=C.UTF-8 PODMAN_IGNORE_CGROUPSV1_WARNING=1 \
        timeout "$cli_timeout" podman "$@") ;;
  esac
}
as_user() {
  local env=(HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/sh PATH="$SYS_PATH" LANG=C.UTF-8)
  [ ! -d "/run/user/$uid" ] || env+=(XDG_RUNTIME_DIR="/run/user/$uid")
  case "$runner" in
    runuser) (cd / && runuser -u "$user" -- env -i "${env[@]}" "$@") ;;
    setpriv) (cd / && setpriv --reuid="$uid" --regid="$gid" --init-groups env -i "${env[@]}" "$@") ;;
    *) return 127 ;;
  esac
}
# Removes a container this run started: docker kills at once with -f; podman needs --time 0.
rm_container() {
  case "$runtime" in podman|podman-auto) rt rm -f --time 0 "$1" ;; *) rt rm -f "$1" ;; esac
}
# The last non-empty line of a file, shortened: error messages for the JSON.
last_line() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | cut -c1-400 || true; }

cleanup() {
  [ "$cleaned" = 0 ] || return 0
  cleaned=1
  local name left=()
  for name in ${started[@]+"${started[@]}"}; do
    rm_container "$name" > /dev/null 2>&1 || true # most are gone already (--rm, removed after use)
  done
  if [ ${#started[@]} -gt 0 ]; then
    if mapfile -t left < <(rt ps -a --filter "name=hh-verify-$run_id-" --format '{{.Names}}' 2>/dev/null); then
      for name in ${left[@]+"${left[@]}"}; do [ -z "$name" ] || containers_left+=("$name"); done
    fi
    [ ${#containers_left[@]} = 0 ] || cleanup_errors+=("containers not removed: ${containers_left[*]}")
  fi
  if [ "$image_created" = 1 ]; then
    if rt rmi "$image" > /dev/null 2> "$work/rmi.err"; then image_removed=1
    else cleanup_errors+=("image $image: $(last_line "$work/rmi.err")")
    fi
  fi
  if [ -n "$work" ] && [ -d "$work" ]; then
    rm -rf --one-file-system -- "$work" 2>/dev/null || true
    if [ -d "$work" ]; then cleanup_errors+=("temp dir $work could not be removed"); else tempdir_removed=1; fi
  fi
  [ ${#cleanup_errors[@]} = 0 ] || say "cleanup: ${cleanup_errors[*]}"
  return 0
}

# ---------------------------------------------------------------------------------------------
# Observations.
observe_user() {
  local entry
  if entry=$(getent passwd "$user"); then
    IFS=: read -r _ _ uid gid _ home _ <<< "$entry"
    user_exists=1
  fi
  # The GID of the group of the user's name: getsubids -g counts subgid lines owned by it.
  group_gid=$(getent group "$user" 2>/dev/null | cut -d: -f3 || true)
  if [ "$runtime" = docker-remap ] || [ "$runtime" = podman-auto ] || [ "$runtime" = kubelet-userns ]; then run_as=root
  elif command -v runuser >/dev/null 2>&1; then runner=runuser; run_as="$user (runuser)"
  elif command -v setpriv >/dev/null 2>&1; then runner=setpriv; run_as="$user (setpriv)"
  fi
  say "user $user: $([ "$user_exists" = 1 ] && echo "uid $uid, gid $gid" || echo "does not exist")"
}

# Rootless modes on systemd: what keeps the runtime up across logouts and boots: lingering as
# logind reports it (and its flag file), the user unit's enablement link; no user manager needs
# to answer. null where it does not apply (no systemd, docker-remap, no user).
observe_supervision() {
  [ -d /run/systemd/system ] && sup_systemd=1
  [ "$sup_systemd" = 1 ] && [ "$runtime" != docker-remap ] && [ "$runtime" != podman-auto ] && [ "$runtime" != kubelet-userns ] && [ "$user_exists" = 1 ] || return 0
  # Lingering as logind sees it (the flag file alone can be there while logind does not linger).
  local logind=""
  command -v loginctl >/dev/null 2>&1 && logind=$(loginctl show-user "$user" -p Linger --value 2>/dev/null || true)
  if [ -e "/var/lib/systemd/linger/$user" ] && { [ -z "$logind" ] && ! command -v loginctl >/dev/null 2>&1 || [ "$logind" = yes ]; }; then
    sup_linger=true
  else
    sup_linger=false
  fi
  if [ "$runtime" = docker-rootless ]; then
    if [ -e "$home/.config/systemd/user/default.target.wants/docker.service" ]; then sup_unit_enabled=true; else sup_unit_enabled=false; fi
  fi
}

# subid_json FILE user|group: {"file","exists","userLines":[...],"overlapping":[...]}. User lines
# are those whose owner is NAME or NAME's UID (in subgid also the GID of NAME's group); overlapping
# lines are other owners' lines sharing an ID with a user line or with the expected range.
subid_json() {
  local file=$1 kind
  if [ ! -e "$file" ]; then
    printf '{"file":%s,"exists":false,"userLines":[],"overlapping":[],"userLineCount":0,"overlappingCount":0}' "$(jstr "$file")"
    return
  fi
  local -a mine=() others=()
  local nmine=0 nothers=0
  while IFS=$'\t' read -r kind line; do
    case "$kind" in
      user) nmine=$((nmine + 1)); [ "$nmine" -gt "$LIST_MAX" ] || mine+=("$line") ;;
      overlap) nothers=$((nothers + 1)); [ "$nothers" -gt "$LIST_MAX" ] || others+=("$line") ;;
    esac
  done < <(LC_ALL=C awk -v n="$user" -v u="$uid" -v g="$group_gid" -v kind="$2" -v es="$exp_start" -v ec="$exp_count" "$SHADOW_AWK"'
    # Entries as shadow reads them; lines of the user are those of its name or UID, in subgid
    # also those of the GID of its group (getsubids -g).
    !subid_entry($0) { next }
    { s = E_START; c = E_COUNT }
    E_OWNER == n || (u != "" && E_OWNER == u) || (kind == "group" && g != "" && E_OWNER == g) { print "user\t" $0; us[++m] = s; uc[m] = c; next }
    { o[++k] = $0; os[k] = s; oc[k] = c }
    END {
      us[++m] = es + 0; uc[m] = ec + 0
      for (i = 1; i <= k; i++)
        for (j = 1; j <= m; j++)
          if (oc[i] > 0 && uc[j] > 0 && os[i] < us[j] + uc[j] && us[j] < os[i] + oc[i]) { print "overlap\t" o[i]; break }
    }' "$file")
  # Past LIST_MAX lines, one last item says how many more there are (and is no line itself).
  [ "$nmine" -le "$LIST_MAX" ] || mine+=("(and $((nmine - LIST_MAX)) more lines)")
  [ "$nothers" -le "$LIST_MAX" ] || others+=("(and $((nothers - LIST_MAX)) more lines)")
  printf '{"file":%s,"exists":true,"userLines":%s,"overlapping":%s,"userLineCount":%s,"overlappingCount":%s}' "$(jstr "$file")" \
    "$(json_list ${mine[@]+"${mine[@]}"})" "$(json_list ${others[@]+"${others[@]}"})" "$nmine" "$nothers"
}

# managed_json: {"expected":N,"subuid":{"missing":[...],"missingCount":n},"subgid":{...}}: the
# --expect-lines that are not a line of the file exactly as written (removed by hand, changed,
# given to another owner), or null without --expect-lines.
managed_json() {
  [ "$expect_lines_given" = 1 ] || { printf 'null'; return; }
  local f name l n=0 out="" miss nmiss
  local -a lines=()
  read -r -a lines <<< "$expect_lines" || true
  for name in subuid subgid; do
    f=/etc/$name miss=() nmiss=0
    for l in ${lines[@]+"${lines[@]}"}; do
      if [ ! -e "$f" ] || ! grep -Fxq -- "$l" "$f"; then
        nmiss=$((nmiss + 1)); [ "$nmiss" -gt "$LIST_MAX" ] || miss+=("$l")
      fi
    done
    [ "$nmiss" -le "$LIST_MAX" ] || miss+=("(and $((nmiss - LIST_MAX)) more lines)")
    out+=$(printf ',"%s":{"missing":%s,"missingCount":%s}' "$name" "$(json_list ${miss[@]+"${miss[@]}"})" "$nmiss")
  done
  n=${#lines[@]}
  printf '{"expected":%s%s}' "$n" "$out"
}

observe_engine() {
  local fmt
  case "$runtime" in
    docker-remap) cli=docker; [ -n "$docker_host" ] || docker_host=${DOCKER_HOST:-unix:///var/run/docker.sock} ;;
    docker-rootless) cli=docker; [ -n "$docker_host" ] || docker_host=${uid:+unix:///run/user/$uid/docker.sock} ;;
    podman|podman-auto) cli=podman ;;
  esac
  # Rootful runtimes run as root: their user is the remap user or the pool owner, not a login.
  local rootful=0
  case "$runtime" in docker-remap|podman-auto) rootful=1 ;; esac
  if [ "$rootful" = 0 ] && [ "$user_exists" = 0 ]; then
    engine_error="user $user does not exist: cannot run $cli as that user"
  elif [ "$rootful" = 0 ] && [ -z "$runner" ]; then
    engine_error="neither runuser nor setpriv is available to run $cli as $user"
  elif ! command -v "$cli" >/dev/null 2>&1; then
    engine_error="no $cli command on this host (PATH $SYS_PATH)"
  fi
  [ -z "$engine_error" ] || { say "engine: $engine_error"; return 0; }
  if [ "$cli" = docker ]; then
    fmt='{"ServerVersion":{{json .ServerVersion}},"SecurityOptions":{{json .SecurityOptions}},"DockerRootDir":{{json .DockerRootDir}},'
    fmt+='"Driver":{{json .Driver}},"CgroupDriver":{{json .CgroupDriver}},"CgroupVersion":{{json .CgroupVersion}},'
    fmt+='"ContainersRunning":{{json .ContainersRunning}},"Warnings":{{json .Warnings}}}'
    if rt version --format '{{.Server.Version}}' > "$work/version" 2> "$work/version.err" &&
       rt info --format "$fmt" > "$work/info" 2> "$work/info.err"; then
      engine_reachable=1
    fi
  else
    # The keys podman info --format json uses, for the fields the checks read.
    fmt='{"host":{"security":{{json .Host.Security}},"ociRuntime":{"name":{{json .Host.OCIRuntime.Name}}},'
    fmt+='"cgroupVersion":{{json .Host.CgroupsVersion}},"idMappings":{{json .Host.IDMappings}}},'
    fmt+='"store":{"graphRoot":{{json .Store.GraphRoot}},"graphDriverName":{{json .Store.GraphDriverName}}},'
    fmt+='"version":{"Version":{{json .Version.Version}}}}'
    if rt version --format '{{.Client.Version}}' > "$work/version" 2> "$work/version.err" &&
       rt info --format "$fmt" > "$work/info" 2> "$work/info.err"; then
      engine_reachable=1
    fi
  fi
  if [ "$engine_reachable" = 1 ]; then
    engine_version=$(head -n 1 "$work/version")
    engine_info=$(tr -d '\n' < "$work/info")
    say "engine: $cli $engine_version answers${docker_host:+ at $docker_host}"
  else
    engine_error="$cli as $run_as failed: $(last_line "$work/version.err") $(last_line "$work/info.err")"
    engine_error=${engine_error% }
    say "engine: $engine_error"
  fi
}

# The test image: --image as given, or hardened-hosts/verify:busybox imported from the host's
# static busybox (a tar of busybox + its applet links), removed again by cleanup.
is_static() { # is_static FILE: ldd says it is not dynamic (no ldd: assume it may be)
  local out
  command -v ldd >/dev/null 2>&1 || return 0
  out=$(LC_ALL=C ldd "$1" 2>&1 || true)
  [[ "$out" == *"not a dynamic executable"* || "$out" == *"statically linked"* ]]
}
prepare_image() {
  if [ -n "$image" ]; then
    if rt image inspect "$image" >/dev/null 2> "$work/img.err"; then img_ready=1
    else img_error="image $image is not in $cli's local store (verify.sh never pulls): $(last_line "$work/img.err")"
    fi
    return 0
  fi
  image=$DEFAULT_IMAGE
  local candidates p tried=() label root applet
  candidates=${HH_VERIFY_BUSYBOX:-"/bin/busybox /usr/bin/busybox /sbin/busybox /usr/sbin/busybox $(command -v busybox || true)"}
  for p in $candidates; do
    tried+=("$p")
    if [ -f "$p" ] && [ -x "$p" ] && is_static "$p"; then img_from=$p; break; fi
  done
  if [ -z "$img_from" ]; then
    img_error="no static busybox on this host (looked at: ${tried[*]}): install busybox-static, or pass --image with an image that has sh, cat, id, touch and sleep"
    say "image: $img_error"
    return 0
  fi
  img_sha=$(sha256sum "$img_from" | cut -c1-64)
  img_busybox_version=$("$img_from" 2>&1 | head -n 1 | cut -c1-120 || true)
  # Reuse a tag this script made from the very same binary (a run killed before its cleanup).
  label=$(rt image inspect --format "{{index .Config.Labels \"$LABEL\"}}" "$image" 2>/dev/null || true)
  [ "$label" != "<no value>" ] || label=""
  if [ -n "$label" ] && [ "$label" = "$img_sha" ]; then
    img_reused=1 img_ready=1
    say "image: $image already holds $img_from (sha256 $img_sha): reused, kept"
    return 0
  fi
  if [ -z "$label" ] && rt image inspect "$image" >/dev/null 2>&1; then
    img_error="$image exists in $cli's store but was not made by verify.sh: not overwriting it; pass --image"
    say "image: $img_error"
    return 0
  fi
  root=$work/image-root
  mkdir -p "$root/bin" "$root/tmp"
  chmod 1777 "$root/tmp"
  cp "$img_from" "$root/bin/busybox"
  chmod 0755 "$root/bin/busybox"
  for applet in $("$img_from" --list 2>/dev/null); do
    [ "$applet" = busybox ] || [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  tar -C "$root" -cf "$work/busybox.tar" . || { img_error="tar of $img_from failed"; return 0; }
  # The tar goes in on stdin: the rootless CLI runs as the user, who cannot read our temp dir.
  if rt import --change "LABEL $LABEL=$img_sha" - "$image" < "$work/busybox.tar" > /dev/null 2> "$work/import.err"; then
    img_built=1 img_ready=1 image_created=1
    say "image: imported $image from $img_from ($img_busybox_version)"
  else
    img_error="$cli import of $img_from as $image failed: $(last_line "$work/import.err")"
    say "image: $img_error"
  fi
}

# One throw-away container: its uid_map/gid_map, a file written into a 0777 bind mount, and a
# write attempt into a root-owned 0755 dir.
# shellcheck disable=SC2016 # runs inside the container
readonly PROBE='echo @uid_map; cat /proc/self/uid_map; echo @gid_map; cat /proc/self/gid_map
echo @id; echo "$(id -u):$(id -g)"
echo @bind; if echo hardened-hosts > /hh/rw/written-by-container-root 2>/tmp/e; then echo written; else echo "failed: $(cat /tmp/e)"; fi
echo @rootdir; if touch /hh/root/probe 2>/tmp/e; then echo writable; else echo "refused: $(cat /tmp/e)"; fi
exit 0'
section() { awk -v s="@$1" '/^@/ { on = ($0 == s); next } on' "$2"; }
probe_container() {
  local name=hh-verify-$run_id-probe line out
  mkdir -m 0777 "$work/rw"; chmod 0777 "$work/rw"
  mkdir -m 0755 "$work/rootdir"; chmod 0755 "$work/rootdir"
  started+=("$name")
  if ! rt run --rm --pull never --network none --name "$name" \
      -v "$work/rw:/hh/rw" -v "$work/rootdir:/hh/root" "$image" sh -c "$PROBE" > "$work/probe.out" 2> "$work/probe.err"; then
    probe_error="$cli run failed: $(last_line "$work/probe.err")"
    say "probe: $probe_error"
    return 0
  fi
  probe_ran=1
  while read -r line; do [ -z "$line" ] || uid_map+=("$(echo "$line" | tr -s ' \t' '  ')"); done < <(section uid_map "$work/probe.out")
  while read -r line; do [ -z "$line" ] || gid_map+=("$(echo "$line" | tr -s ' \t' '  ')"); done < <(section gid_map "$work/probe.out")
  id_inside=$(section id "$work/probe.out" | head -n 1)
  out=$(section bind "$work/probe.out" | head -n 1)
  if [ "$out" = written ] && [ -e "$work/rw/written-by-container-root" ]; then
    bind_written=1
    bind_uid=$(stat -c %u "$work/rw/written-by-container-root")
    bind_gid=$(stat -c %g "$work/rw/written-by-container-root")
  else
    bind_error=${out:-no output}
  fi
  out=$(section rootdir "$work/probe.out" | head -n 1)
  if [ "$out" = writable ] || [ -e "$work/rootdir/probe" ]; then root_dir_writable=true; else root_dir_writable=false; fi
  root_dir_message=$out
  say "probe: uid_map ${uid_map[*]:-?}; bind-mount file owner ${bind_uid:-?}:${bind_gid:-?}; root-owned dir $([ "$root_dir_writable" = true ] && echo WRITABLE || echo refused)"
}

# A `sleep` container: its PID from inspect, its host UID/GID from /proc/PID/status (ps prints
# UIDs above 2^31 as negative numbers).
argv_is() { [ -r "/proc/$1/cmdline" ] && [ "$(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null)" = "$2 " ]; }
probe_process() {
  local name=hh-verify-$run_id-sleep secs=$(( 3600 + RANDOM % 3600 )) pid="" d
  started+=("$name")
  if ! rt run -d --pull never --network none --name "$name" "$image" sleep "$secs" > /dev/null 2> "$work/sleep.err"; then
    proc_error="$cli run -d failed: $(last_line "$work/sleep.err")"
    say "process: $proc_error"
    return 0
  fi
  proc_ran=1
  pid=$(rt inspect --format '{{.State.Pid}}' "$name" 2> "$work/inspect.err" || true)
  if [[ "$pid" =~ ^[1-9][0-9]*$ ]] && argv_is "$pid" "sleep $secs"; then
    proc_found_by=inspect
  else
    # Not a host PID (a runtime in its own PID namespace): find the exact argv on the host.
    pid=""
    for d in /proc/[0-9]*; do
      if argv_is "${d#/proc/}" "sleep $secs"; then pid=${d#/proc/}; proc_found_by=argv; break; fi
    done
  fi
  if [ -n "$pid" ]; then
    proc_pid=$pid
    proc_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    proc_gid=$(awk '/^Gid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    say "process: container pid $pid runs as host uid ${proc_uid:-?} gid ${proc_gid:-?}"
  else
    proc_error="the container's sleep process was not found on the host (inspect said '${pid:-$(last_line "$work/inspect.err")}')"
    say "process: $proc_error"
  fi
  rm_container "$name" > /dev/null 2>&1 || true
}

# podman-auto: two containers at once, started without --userns (containers.conf decides), both
# writing a file into one shared 0777 bind mount; their maps as the host sees them
# (/proc/PID/uid_map), their process UID/GID, their files' owners. The first also tries the
# root-owned dir, and stands in for the single-container probes (probe_*, proc_*).
auto_ran=0 auto_error="" auto_json="[]"
map_rows() { awk 'NF >= 3 { print $1, $2, $3 }' "$1" 2>/dev/null || true; }
probe_auto() {
  local n name secs pid i out rows_u rows_g pu pg fu fg first=1 names=() pids=()
  mkdir -m 0777 "$work/rw"; chmod 0777 "$work/rw"
  mkdir -m 0755 "$work/rootdir"; chmod 0755 "$work/rootdir"
  for n in a b; do
    name=hh-verify-$run_id-auto-$n
    secs=$(( 3600 + RANDOM % 3600 ))
    started+=("$name")
    if ! rt run -d --pull never --network none --name "$name" -v "$work/rw:/hh/rw" -v "$work/rootdir:/hh/root" \
        "$image" sh -c "echo hardened-hosts > /hh/rw/$n; exec sleep $secs" > /dev/null 2> "$work/auto-$n.err"; then
      auto_error="$cli run -d (container $n) failed: $(last_line "$work/auto-$n.err")"
      say "auto: $auto_error"
      return 0
    fi
    pid=$(rt inspect --format '{{.State.Pid}}' "$name" 2> "$work/inspect.err" || true)
    if ! [[ "$pid" =~ ^[1-9][0-9]*$ ]]; then
      auto_error="no host PID for container $n (inspect said '${pid:-$(last_line "$work/inspect.err")}')"
      say "auto: $auto_error"
      return 0
    fi
    names+=("$name"); pids+=("$pid")
  done
  for ((i = 0; i < 100; i++)); do
    [ -e "$work/rw/a" ] && [ -e "$work/rw/b" ] && break
    sleep 0.1
  done
  auto_ran=1
  auto_json="["
  for i in 0 1; do
    n=$([ "$i" = 0 ] && echo a || echo b) pid=${pids[$i]}
    rows_u=$(map_rows "/proc/$pid/uid_map") rows_g=$(map_rows "/proc/$pid/gid_map")
    pu=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    pg=$(awk '/^Gid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    fu="" fg=""
    if [ -e "$work/rw/$n" ]; then fu=$(stat -c %u "$work/rw/$n"); fg=$(stat -c %g "$work/rw/$n"); fi
    [ "$first" = 1 ] || auto_json+=","
    first=0
    local -a um=() gm=()
    mapfile -t um < <(printf '%s\n' "$rows_u" | grep . || true)
    mapfile -t gm < <(printf '%s\n' "$rows_g" | grep . || true)
    auto_json+="{\"name\":$(jstr "$n"),\"uidMap\":$(json_list ${um[@]+"${um[@]}"}),\"gidMap\":$(json_list ${gm[@]+"${gm[@]}"}),"
    auto_json+="\"hostUid\":$(jnum_or_null "$pu"),\"hostGid\":$(jnum_or_null "$pg"),\"fileWritten\":$(jbool "$([ -n "$fu" ] && echo 1 || echo 0)"),"
    auto_json+="\"fileUid\":$(jnum_or_null "$fu"),\"fileGid\":$(jnum_or_null "$fg")}"
    say "auto: container $n uid_map ${um[*]:-?}, gid_map ${gm[*]:-?}, process ${pu:-?}:${pg:-?}, file ${fu:-?}:${fg:-?}"
    if [ "$i" = 0 ]; then
      # The single-container observations, from the first one.
      probe_ran=1 uid_map=(${um[@]+"${um[@]}"}) gid_map=(${gm[@]+"${gm[@]}"})
      if [ -n "$fu" ]; then bind_written=1 bind_uid=$fu bind_gid=$fg; else bind_error="container a wrote no file into the bind mount"; fi
      proc_ran=1 proc_pid=$pid proc_found_by=inspect proc_uid=$pu proc_gid=$pg
      # shellcheck disable=SC2016 # runs inside the container
      out=$(rt exec "${names[0]}" sh -c 'if touch /hh/root/probe 2>/tmp/e; then echo writable; else echo "refused: $(cat /tmp/e)"; fi' 2>&1 || true)
      out=$(printf '%s\n' "$out" | head -n 1 | cut -c1-400)
      if [ "$out" = writable ] || [ -e "$work/rootdir/probe" ]; then root_dir_writable=true; else root_dir_writable=false; fi
      root_dir_message=$out
    fi
  done
  auto_json+="]"
  for name in "${names[@]}"; do rm_container "$name" > /dev/null 2>&1 || true; done
}

# --privileged under userns-remap: dockerd must refuse it. Tried with `true` only.
probe_privileged() {
  if [ "$runtime" != docker-remap ]; then
    priv_reason="only checked under docker-remap (rootless runtimes grant --privileged inside the user namespace)"
    return 0
  fi
  local name=hh-verify-$run_id-priv rc=0
  started+=("$name")
  rt run --rm --pull never --network none --privileged --name "$name" "$image" true > /dev/null 2> "$work/priv.err" || rc=$?
  priv_tried=1 priv_exit=$rc
  priv_message=$(grep -v '^[[:space:]]*$' "$work/priv.err" | grep -v "^Run '.* --help'" | head -n 1 | cut -c1-400 || true)
  say "privileged: exit $rc${priv_message:+: $priv_message}"
}

# Running containers and their userns mode (CIS 5.30: --userns=host), before ours start. Only the
# containers a check names are listed (--userns=host or --privileged, the first LIST_MAX of them),
# with the counts of all: the report stays small however many containers a host runs.
list_containers() {
  local ids=() first=1 id name mode priv pid listed=0
  if ! rt ps -q --no-trunc > "$work/ps.out" 2> "$work/ps.err"; then
    ctr_error="$cli ps failed: $(last_line "$work/ps.err")"
    say "containers: $ctr_error"
    return 0
  fi
  mapfile -t ids < <(grep . "$work/ps.out" || true)
  ctr_listed=1
  [ ${#ids[@]} -gt 0 ] || { say "containers: none running"; return 0; }
  if ! rt inspect --format '{{.Id}}|{{.Name}}|{{.HostConfig.UsernsMode}}|{{.HostConfig.Privileged}}|{{.State.Pid}}' "${ids[@]}" > "$work/inspect.out" 2> "$work/ps.err"; then
    # A container that stopped between ps and inspect: keep what inspect printed for the others.
    say "containers: inspect: $(last_line "$work/ps.err")"
  fi
  ctr_json="["
  while IFS='|' read -r id name mode priv pid; do
    [ -n "$id" ] || continue
    # Rootful Podman calls an opted-out container's mode "" (and an automatic one "private"):
    # what counts is whether its process is in the host's user namespace.
    if [ "$runtime" = podman-auto ] && [[ "$pid" =~ ^[1-9][0-9]*$ ]] && [ "$(map_rows "/proc/$pid/uid_map" | head -n 1)" = "0 0 4294967295" ]; then
      mode=host
    fi
    [[ "$name" != *hh-verify-"$run_id"-* ]] || continue
    ctr_count=$((ctr_count + 1))
    [ "$mode" != host ] || ctr_hostns=$((ctr_hostns + 1))
    [ "$priv" != true ] || ctr_privileged=$((ctr_privileged + 1))
    if { [ "$mode" != host ] && [ "$priv" != true ]; } || [ "$listed" -ge "$LIST_MAX" ]; then continue; fi
    listed=$((listed + 1))
    [ $first = 1 ] || ctr_json+=","
    first=0
    ctr_json+="{\"id\":$(jstr "${id:0:12}"),\"name\":$(jstr "$name"),\"usernsMode\":$(jstr "$mode"),\"privileged\":$(jbool "$priv")}"
  done < "$work/inspect.out"
  ctr_json+="]"
  say "containers: $ctr_count running, $ctr_hostns with --userns=host, $ctr_privileged privileged"
}

# kubelet-userns: kubelet and its pods as the host shows them (nothing is started: the pods are
# whatever kubelet runs). Sets kube_json:
#   {"running","pid","version","configDir","rootDir","getsubids":{"present","uid","gid"},
#    "dropIn":{"path","present","idsPerPod","maxPods"},"pods":[{"uid","name","pid","uidMap",
#    "gidMap","hostUid","recorded"}],"podCount"}
# A pod is found by its processes' cgroup (kubepods/.../pod<UID>/ with the cgroupfs driver,
# kubepods-...-pod<UID>.slice with systemd's); its maps are its oldest container process's
# /proc/PID/*_map (the sandbox and the containers share the pod's namespace; pause only when
# nothing else runs); its name is the hostname kubelet
# wrote into ROOT/pods/<UID>/etc-hosts (pods on the host network: none, the UID stands for it).
observe_kubelet() {
  local pid kpid="" kver="" kdir="" kroot=/var/lib/kubelet a prev="" gs_present=0 gs_u="" gs_g="" dropin d
  local drop_present=0 drop_ids="" drop_pods="" pods_json="" sep="" npods=0
  for pid in $(printf '%s\n' /proc/[0-9]* | sed 's#^/proc/##' | sort -n); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = kubelet ] || continue
    kpid=$pid; break
  done
  if [ -n "$kpid" ]; then
    kver=$("/proc/$kpid/exe" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)
    local -a args=()
    mapfile -d '' -t args < "/proc/$kpid/cmdline" || true
    for a in ${args[@]+"${args[@]}"}; do
      case "$prev" in --config-dir) kdir=$a ;; --root-dir) kroot=$a ;; esac
      case "$a" in --config-dir=*) kdir=${a#--config-dir=} ;; --root-dir=*) kroot=${a#--root-dir=} ;; esac
      prev=$a
    done
  fi
  if PATH=$SYS_PATH command -v getsubids >/dev/null 2>&1; then
    gs_present=1
    gs_u=$(PATH=$SYS_PATH getsubids "$user" 2>&1 | head -n 5 || true)
    gs_g=$(PATH=$SYS_PATH getsubids -g "$user" 2>&1 | head -n 5 || true)
  fi
  d=${kdir:-/etc/kubernetes/kubelet.conf.d}
  dropin="${d%/}/50-hardened-hosts-userns.conf"
  if [ -f "$dropin" ]; then
    drop_present=1
    drop_ids=$(awk '/^userNamespaces:/ { u = 1; next } /^[^ ]/ { u = 0 } u && $1 == "idsPerPod:" { print $2; exit }' "$dropin")
    drop_pods=$(awk '$1 == "maxPods:" { print $2; exit }' "$dropin")
  fi
  # Pods: the oldest process of each pod UID found in a kubepods cgroup, a container's before the
  # sandbox's pause (which runs as the image's user 65535, not as the pod's root).
  declare -A seen=()
  local cg podid hostu name hosts recorded
  local -a kpids=() pauses=()
  for pid in $(printf '%s\n' /proc/[0-9]* | sed 's#^/proc/##' | sort -n); do
    cg=$(cat "/proc/$pid/cgroup" 2>/dev/null || true)
    [[ "$cg" == *kubepods* ]] || continue
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = pause ]; then pauses+=("$pid"); else kpids+=("$pid"); fi
  done
  for pid in ${kpids[@]+"${kpids[@]}"} ${pauses[@]+"${pauses[@]}"}; do
    cg=$(cat "/proc/$pid/cgroup" 2>/dev/null || true)
    # API pods have UUIDs (systemd's driver writes them with _), static pods a 32-hex hash.
    podid=$(printf '%s' "$cg" | grep -oE 'pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})' | head -n 1 | cut -c4- | tr _ - || true)
    if [ -z "$podid" ] || [ -n "${seen[$podid]:-}" ]; then continue; fi
    seen[$podid]=1
    npods=$((npods + 1))
    [ "$npods" -le "$LIST_MAX" ] || continue
    local -a um=() gm=()
    mapfile -t um < <(map_rows "/proc/$pid/uid_map")
    mapfile -t gm < <(map_rows "/proc/$pid/gid_map")
    hostu=$(awk '/^Uid:/ { print $2; exit }' "/proc/$pid/status" 2>/dev/null || true)
    hosts="$kroot/pods/$podid/etc-hosts" name=""
    if [ -f "$hosts" ] && head -n 1 -- "$hosts" | grep -qx '# Kubernetes-managed hosts file.'; then
      name=$(awk 'NF >= 2 && $1 !~ /^#/ { n = $2 } END { print n }' "$hosts")
    fi
    recorded=0; [ ! -f "$kroot/pods/$podid/userns" ] || recorded=1
    pods_json+="$sep$(printf '{"uid":%s,"name":%s,"pid":%s,"uidMap":%s,"gidMap":%s,"hostUid":%s,"recorded":%s}' "$(jstr "$podid")" \
      "$(jstr_or_null "$name")" "$pid" "$(json_list ${um[@]+"${um[@]}"})" "$(json_list ${gm[@]+"${gm[@]}"})" "$(jnum_or_null "$hostu")" "$(jbool "$recorded")")"
    sep=,
  done
  say "kubelet: ${kpid:+pid $kpid, }${kver:-not running}; $npods pod(s) running; getsubids $user: ${gs_u:-n/a}"
  kube_json=$(printf '{"running":%s,"pid":%s,"version":%s,"configDir":%s,"rootDir":%s,"getsubids":{"present":%s,"uid":%s,"gid":%s},"dropIn":{"path":%s,"present":%s,"idsPerPod":%s,"maxPods":%s},"pods":[%s],"podCount":%s}' \
    "$(jbool "$([ -n "$kpid" ] && echo 1 || echo 0)")" "$(jnum_or_null "$kpid")" "$(jstr_or_null "$kver")" "$(jstr_or_null "$kdir")" "$(jstr "$kroot")" \
    "$(jbool "$gs_present")" "$(jstr_or_null "$gs_u")" "$(jstr_or_null "$gs_g")" "$(jstr "$dropin")" "$(jbool "$drop_present")" \
    "$(jnum_or_null "$drop_ids")" "$(jnum_or_null "$drop_pods")" "$pods_json" "$npods")
}

timed() { # timed KEY FUNCTION: runs it, records its milliseconds
  local t0; t0=$(now_ms)
  "$2"
  timing[$1]=$(( $(now_ms) - t0 ))
}

main() {
  parse_args "$@"
  [ "$(id -u)" = 0 ] || fail "$EXIT_PRECONDITION" "observe must run as root (directly or with sudo -n): it reads other users' processes and runs their runtimes"
  local t_start; t_start=$(now_ms)
  run_id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
  # Always under /tmp: the remapped root or the rootless user must traverse the path to the bind
  # mounts, which a private $TMPDIR (e.g. under /root) would not allow.
  work=$(mktemp -d /tmp/hh-verify.XXXXXX)
  # Traversable (not readable) by the remapped root / the rootless user, for the bind mounts.
  chmod 0711 "$work"
  trap cleanup EXIT
  trap 'exit 130' INT TERM HUP
  trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR
  say "observe: runtime $runtime, user $user, expected range $exp_start:$exp_count, run $run_id"

  observe_user
  observe_supervision
  local subuid subgid managed
  subuid=$(subid_json /etc/subuid user)
  subgid=$(subid_json /etc/subgid group)
  managed=$(managed_json)
  if [ "$runtime" = kubelet-userns ]; then
    # No container engine of ours to drive: kubelet's pods are observed as they run.
    timed probe observe_kubelet
    engine_error="kubelet-userns observes kubelet's pods, not a container engine"
  else
    timed engine observe_engine
  fi
  if [ "$engine_reachable" = 1 ]; then
    timed containers list_containers
    timed image prepare_image
    if [ "$img_ready" = 1 ] && [ "$runtime" = podman-auto ]; then
      timed probe probe_auto
      [ "$auto_ran" = 1 ] || probe_error=${probe_error:-$auto_error} proc_error=${proc_error:-$auto_error}
      priv_reason="not checked under podman-auto (a --privileged container still gets its own automatic namespace)"
    elif [ "$img_ready" = 1 ]; then
      timed probe probe_container
      timed process probe_process
      timed privileged probe_privileged
    fi
  fi
  timed cleanup cleanup

  local not_run="" image_json
  [ "$engine_reachable" = 1 ] || [ "$runtime" = kubelet-userns ] || not_run="the runtime did not answer: $engine_error"
  [ -n "$not_run" ] || [ "$img_ready" = 1 ] || not_run="no test image: $img_error"
  if [ "$img_ready" = 1 ] || [ -n "$img_error" ] || [ -n "$image" ]; then
    image_json=$(printf '{"name":%s,"builtOnHost":%s,"from":%s,"busyboxVersion":%s,"busyboxSha256":%s,"reused":%s,"removedAfter":%s,"error":%s}' \
      "$(jstr "${image:-$DEFAULT_IMAGE}")" "$(jbool "$img_built")" "$(jstr_or_null "$img_from")" "$(jstr_or_null "$img_busybox_version")" \
      "$(jstr_or_null "$img_sha")" "$(jbool "$img_reused")" "$(jbool "$image_removed")" "$(jstr_or_null "$img_error")")
  else
    image_json=null
  fi
  [ -z "$not_run" ] || probe_error=${probe_error:-$not_run} proc_error=${proc_error:-$not_run}
  if [ -n "$not_run" ] && [ "$runtime" = docker-remap ]; then priv_reason=${priv_reason:-$not_run}; fi
  [ "$ctr_listed" = 1 ] || ctr_error=${ctr_error:-$not_run}
  [ -z "$not_run" ] || auto_error=${auto_error:-$not_run}

  local total=$(( $(now_ms) - t_start )) k timings="" sep=""
  for k in engine containers image probe process privileged cleanup; do
    [ -z "${timing[$k]:-}" ] || { timings+="$sep\"$k\":${timing[$k]}"; sep=,; }
  done
  timings+="$sep\"total\":$total"
  say "observe: done in ${total} ms"

  printf '{"ok":true,"action":"observe","format":1,"runtime":%s,"expectedRange":{"start":%s,"count":%s},' \
    "$(jstr "$runtime")" "$exp_start" "$exp_count"
  printf '"host":{"hostname":%s,"kernel":%s},"observedAt":%s,"runAs":%s,' \
    "$(jstr "$(cat /proc/sys/kernel/hostname 2>/dev/null || hostname)")" "$(jstr "$(uname -r)")" "$(jstr "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" "$(jstr_or_null "$run_as")"
  printf '"user":{"name":%s,"exists":%s,"uid":%s,"gid":%s,"home":%s},' \
    "$(jstr "$user")" "$(jbool "$user_exists")" "$(jnum_or_null "$uid")" "$(jnum_or_null "$gid")" "$(jstr_or_null "$home")"
  printf '"engine":{"cli":%s,"dockerHost":%s,"reachable":%s,"version":%s,"info":%s,"error":%s},"image":%s,' \
    "$(jstr "$cli")" "$(jstr_or_null "$docker_host")" "$(jbool "$engine_reachable")" "$(jstr_or_null "$engine_version")" \
    "$(jraw_or_null "$engine_info")" "$(jstr_or_null "$engine_error")" "$image_json"
  printf '"probe":{"ran":%s,"error":%s,"uidMap":%s,"gidMap":%s,"idInside":%s,' \
    "$(jbool "$probe_ran")" "$(jstr_or_null "$probe_error")" "$(json_list ${uid_map[@]+"${uid_map[@]}"})" \
    "$(json_list ${gid_map[@]+"${gid_map[@]}"})" "$(jstr_or_null "$id_inside")"
  printf '"bindFile":{"written":%s,"hostUid":%s,"hostGid":%s,"error":%s},"rootOwnedDir":{"writable":%s,"message":%s}},' \
    "$(jbool "$bind_written")" "$(jnum_or_null "$bind_uid")" "$(jnum_or_null "$bind_gid")" "$(jstr_or_null "$bind_error")" \
    "${root_dir_writable:-null}" "$(jstr_or_null "$root_dir_message")"
  printf '"process":{"ran":%s,"pid":%s,"foundBy":%s,"hostUid":%s,"hostGid":%s,"error":%s},' \
    "$(jbool "$proc_ran")" "$(jnum_or_null "$proc_pid")" "$(jstr_or_null "$proc_found_by")" "$(jnum_or_null "$proc_uid")" \
    "$(jnum_or_null "$proc_gid")" "$(jstr_or_null "$proc_error")"
  printf '"privileged":{"tried":%s,"exitCode":%s,"message":%s,"notTriedBecause":%s},' \
    "$(jbool "$priv_tried")" "$(jnum_or_null "$priv_exit")" "$(jstr_or_null "$priv_message")" "$(jstr_or_null "$priv_reason")"
  printf '"containers":{"listed":%s,"running":%s,"count":%s,"hostNamespace":%s,"privileged":%s,"error":%s},"subuid":%s,"subgid":%s,' \
    "$(jbool "$ctr_listed")" "$ctr_json" "$ctr_count" "$ctr_hostns" "$ctr_privileged" "$(jstr_or_null "$ctr_error")" "$subuid" "$subgid"
  printf '"supervision":{"systemd":%s,"linger":%s,"unitEnabled":%s},"managed":%s,' "$(jbool "$sup_systemd")" "$sup_linger" "$sup_unit_enabled" "$managed"
  if [ "$runtime" = kubelet-userns ]; then
    printf '"kubelet":%s,"idsPerPod":%s,' "$kube_json" "$auto_size"
  fi
  if [ "$runtime" = podman-auto ]; then
    printf '"auto":{"size":%s,"ran":%s,"error":%s,"containers":%s},' "$auto_size" "$(jbool "$auto_ran")" "$(jstr_or_null "$auto_error")" "$auto_json"
  fi
  printf '"cleanup":{"containersLeft":%s,"imageRemoved":%s,"tempDirRemoved":%s,"errors":%s},"timingsMs":{%s}}\n' \
    "$(json_list ${containers_left[@]+"${containers_left[@]}"})" "$(jbool "$image_removed")" "$(jbool "$tempdir_removed")" \
    "$(json_list ${cleanup_errors[@]+"${cleanup_errors[@]}"})" "$timings"
}

# Children must not read stdin: with `bash -s` the rest of this script is on it.
main "$@" </dev/null
