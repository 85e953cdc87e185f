#!/usr/bin/env bash
# Host side of the kubelet-userns mode: prepares a Kubernetes node so that every pod with
# `hostUsers: false` gets its user namespace from the `kubelet` range the fleet ledger planned
# (KEP-127), never from kubelet's default 65536..2^32 (which overlaps useradd's ranges, rootless
# runtimes and the ledger's own pool). Installing kubelet, containerd or runc is not its job.
#
#   kubelet-userns.sh facts     read-only: the prerequisites and the kubelet as found (JSON)
#   kubelet-userns.sh apply --range START:COUNT --ids-per-pod N --max-pods M
#                           [--config-dir DIR] [--restart-kubelet yes|no] [--kubelet-unit NAME]
#                           [--install-getsubids yes|no]
#   kubelet-userns.sh remove [--config-dir DIR]
#
# apply, in this order (a refusal comes before anything is written):
#   0. getsubids missing on an apt host: uidmap is installed (unless --install-getsubids no);
#   1. prerequisites, every missing one named in one refusal (EXIT_UNSUPPORTED): Linux >= 6.3
#      (idmapped tmpfs), containerd >= 2.0 or CRI-O >= 1.25, runc >= 1.2 or crun >= 1.9,
#      getsubids (kubelet reads its range through it; Debian: uidmap), kubelet's root dir
#      (/var/lib/kubelet or its --root-dir) not on overlayfs (no idmapped mounts there: runc
#      fails every hostUsers:false container with EINVAL), kubelet >= 1.30 when installed;
#   2. a kubelet that runs must run with --config-dir DIR (else the drop-in is never read), and
#      no pod it recorded (ROOT/pods/*/userns) may lie outside START:COUNT or have another
#      length than N: kubelet refuses to start then ("id ... is out of range", "wrong user
#      namespace length"), so a move or an idsPerPod change is drain-first (EXIT_PRECONDITION);
#   3. the `kubelet` system account, created when missing (useradd --system: no subordinate
#      IDs of its own; recorded in /etc/kubelet-userns.hardened-hosts.user for destroy);
#   4. DIR/50-hardened-hosts-userns.conf, a KubeletConfiguration drop-in (maxPods M,
#      userNamespaces.idsPerPod N, featureGates.UserNamespacesSupport on kubelet 1.30-1.32),
#      written atomically, nothing written when it is already so;
#   5. getsubids kubelet and getsubids -g kubelet must print exactly "0: kubelet START COUNT"
#      (the line the subids step wrote before this step): else this run's writes are taken back
#      (EXIT_REJECTED);
#   6. kubelet reads its range once, at start: a running kubelet that started before the files
#      changed is restarted only with --restart-kubelet yes (systemctl restart UNIT); otherwise
#      the report says restartNeeded and verification proves nothing until it restarts.
# remove: deletes the drop-in and the folders apply created; a running kubelet is named (it keeps
# the range it read until it restarts; drain it first). The account goes with the subids step's
# remove (--delete-accounts), after our lines.
#
# stdout: one JSON object. stderr: one line per step ("kubelet-userns: ...").
set -euo pipefail
# shellcheck source=SCRIPTDIR/../host/prelude.sh
[ "${HH_PRELUDE:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/../host/prelude.sh"

{

readonly TOOL=kubelet-userns
readonly OWNER=kubelet
readonly DROPIN_NAME=50-hardened-hosts-userns.conf
readonly DROPIN_HEADER="# Written by hardened-hosts (kubelet-userns mode); pulumi destroy removes it."
readonly ACCOUNTS_RECORD=/etc/kubelet-userns.hardened-hosts.user
readonly DIRS_RECORD=/etc/kubelet-userns.hardened-hosts.dirs
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:${PATH:-}"

action="" range="" start="" count="" ids_per_pod="" max_pods="" config_dir="/etc/kubernetes/kubelet.conf.d"
restart="no" unit="kubelet" install="yes"
work=""
# Facts (detect).
kernel="" kernel_ok=0 cr_name="" cr_version="" cr_ok=0 oci_found=() oci_ok=0 getsubids_path=""
kubelet_path="" kubelet_version="" kubelet_pid="" kubelet_config_dir="" kubelet_root_dir="/var/lib/kubelet" root_fs=""
cgroup2=0
missing=() notes=() changed=() created_dirs=()
created_user=0 restart_needed=0 restarted=0

usage() {
  fail "$EXIT_USAGE" "usage: kubelet-userns.sh facts | apply --range START:COUNT --ids-per-pod N --max-pods M [--config-dir DIR] [--restart-kubelet yes|no] [--kubelet-unit NAME] | remove [--config-dir DIR]"
}

parse_args() {
  local arg name value allowed seen=" "
  [ $# -ge 1 ] || usage
  action=$1; shift
  case "$action" in
    facts) allowed="" ;;
    remove) allowed="--config-dir" ;;
    apply) allowed="--range --ids-per-pod --max-pods --config-dir --restart-kubelet --kubelet-unit --install-getsubids" ;;
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
      --range) range=$value ;;
      --ids-per-pod) ids_per_pod=$value ;;
      --max-pods) max_pods=$value ;;
      --config-dir) config_dir=$value ;;
      --restart-kubelet) restart=$value ;;
      --kubelet-unit) unit=$value ;;
      --install-getsubids) install=$value ;;
    esac
  done
  if ! [[ "$config_dir" =~ ^/[A-Za-z0-9._/-]*$ ]] || [[ "$config_dir" == *..* ]]; then fail "$EXIT_USAGE" "--config-dir must be an absolute path of letters, digits and ._/-, not '$config_dir'"; fi
  [ "$action" = apply ] || return 0
  [[ "$range" =~ ^([1-9][0-9]{0,9}):([1-9][0-9]{0,9})$ ]] || fail "$EXIT_USAGE" "--range must be START:COUNT, not '$range'"
  start=${BASH_REMATCH[1]} count=${BASH_REMATCH[2]}
  if ! [[ "$ids_per_pod" =~ ^[1-9][0-9]{0,9}$ ]] || (( ids_per_pod % 65536 != 0 )); then fail "$EXIT_USAGE" "--ids-per-pod must be a multiple of 65536, not '$ids_per_pod'"; fi
  [[ "$max_pods" =~ ^[1-9][0-9]{0,5}$ ]] || fail "$EXIT_USAGE" "--max-pods must be a whole number of at least 1, not '$max_pods'"
  # kubelet's own rules (pkg/kubelet/userns): start and count multiples of idsPerPod, start >=
  # idsPerPod, count >= idsPerPod x maxPods, inside the uint32 space.
  (( start % ids_per_pod == 0 && start >= ids_per_pod )) || fail "$EXIT_USAGE" "--range $range: the start must be a multiple of --ids-per-pod $ids_per_pod and at least $ids_per_pod"
  (( count % ids_per_pod == 0 && count >= ids_per_pod * max_pods )) || fail "$EXIT_USAGE" "--range $range: the count must be a multiple of $ids_per_pod and at least --ids-per-pod x --max-pods = $(( ids_per_pod * max_pods ))"
  (( start + count <= 4294967295 )) || fail "$EXIT_USAGE" "--range $range: must end below 4294967295"
  case "$restart" in yes|no) ;; *) fail "$EXIT_USAGE" "--restart-kubelet must be yes or no, not '$restart'" ;; esac
  case "$install" in yes|no) ;; *) fail "$EXIT_USAGE" "--install-getsubids must be yes or no, not '$install'" ;; esac
  [[ "$unit" =~ ^[A-Za-z0-9_.@-]{1,100}$ ]] || fail "$EXIT_USAGE" "--kubelet-unit '$unit': not a unit name"
}

# ---------------------------------------------------------------------------------------------
# Facts (read-only).

# version_at_least A B: dotted version A >= B (numeric fields; missing ones are 0).
version_at_least() {
  local a b i x y
  IFS=. read -r -a a <<< "$1"; IFS=. read -r -a b <<< "$2"
  for i in 0 1 2; do
    x=${a[$i]:-0} y=${b[$i]:-0}; x=${x%%[!0-9]*} y=${y%%[!0-9]*}
    (( 10#${x:-0} > 10#${y:-0} )) && return 0
    (( 10#${x:-0} < 10#${y:-0} )) && return 1
  done
  return 0
}

# The first dotted version in TEXT's first line. (No `| head` on a tool's output: with pipefail
# a tool still writing when head exits fails the pipeline with SIGPIPE, 141.)
first_version() { # first_version TEXT
  local l=${1%%$'\n'*}
  if [[ "$l" =~ ([0-9]+\.[0-9]+(\.[0-9]+)?) ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi
}

detect_kubelet() {
  local pid args a prev=""
  kubelet_path=$(command -v kubelet 2>/dev/null || true)
  kubelet_version=""
  if [ -n "$kubelet_path" ]; then kubelet_version=$(first_version "$("$kubelet_path" --version 2>/dev/null || true)"); fi
  kubelet_pid="" kubelet_config_dir="" kubelet_root_dir=/var/lib/kubelet
  # The oldest process whose executable is named kubelet (/proc: no procps on minimal hosts).
  for pid in $(printf '%s\n' /proc/[0-9]* | sed 's#^/proc/##' | sort -n); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = kubelet ] || continue
    kubelet_pid=$pid; break
  done
  [ -n "$kubelet_pid" ] || return 0
  if [ -z "$kubelet_version" ] && [ -x "/proc/$kubelet_pid/exe" ]; then
    kubelet_version=$(first_version "$("/proc/$kubelet_pid/exe" --version 2>/dev/null || true)")
  fi
  mapfile -d '' -t args < "/proc/$kubelet_pid/cmdline" || true
  for a in "${args[@]}"; do
    case "$prev" in
      --config-dir) kubelet_config_dir=$a ;;
      --root-dir) kubelet_root_dir=$a ;;
    esac
    case "$a" in
      --config-dir=*) kubelet_config_dir=${a#--config-dir=} ;;
      --root-dir=*) kubelet_root_dir=${a#--root-dir=} ;;
    esac
    prev=$a
  done
}

detect() {
  local v bin d
  kernel=$(uname -r)
  kernel_ok=0; version_at_least "$kernel" 6.3 && kernel_ok=1
  cr_name="" cr_version="" cr_ok=0
  if command -v containerd >/dev/null 2>&1; then
    # "containerd github.com/containerd/containerd/v2 v2.2.10 <commit>": the third word.
    v=$(containerd --version 2>/dev/null || true); v=${v%%$'\n'*}; read -r _ _ v _ <<< "$v" || true
    cr_name=containerd cr_version=$(first_version "${v:-}")
    version_at_least "${cr_version:-0}" 2.0 && cr_ok=1
  fi
  if [ "$cr_ok" = 0 ] && command -v crio >/dev/null 2>&1; then
    v=$(first_version "$(crio --version 2>/dev/null || true)")
    if [ -z "$cr_name" ] || version_at_least "${v:-0}" 1.25; then cr_name=cri-o cr_version=$v; fi
    version_at_least "${v:-0}" 1.25 && cr_ok=1
  fi
  oci_found=() oci_ok=0
  for bin in runc crun; do
    command -v "$bin" >/dev/null 2>&1 || continue
    v=$(first_version "$("$bin" --version 2>/dev/null || true)")
    oci_found+=("$bin ${v:-?}")
    if [ "$bin" = runc ] && version_at_least "${v:-0}" 1.2; then oci_ok=1; fi
    if [ "$bin" = crun ] && version_at_least "${v:-0}" 1.9; then oci_ok=1; fi
  done
  getsubids_path=$(command -v getsubids 2>/dev/null || true)
  detect_kubelet
  d=$kubelet_root_dir
  while [ ! -e "$d" ] && [ "$d" != / ]; do d=$(dirname -- "$d"); done
  root_fs=$(stat -f -c %T -- "$d" 2>/dev/null || echo unknown)
  cgroup2=0; [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null || true)" = cgroup2fs ] && cgroup2=1
  missing=()
  [ "$kernel_ok" = 1 ] || missing+=("Linux >= 6.3 (idmapped tmpfs mounts), this host runs $kernel")
  if [ "$cr_ok" = 0 ]; then
    if [ -n "$cr_name" ]; then missing+=("containerd >= 2.0 or CRI-O >= 1.25, found $cr_name ${cr_version:-of unknown version}")
    else missing+=("containerd >= 2.0 or CRI-O >= 1.25, found neither"); fi
  fi
  if [ "$oci_ok" = 0 ]; then
    if [ ${#oci_found[@]} -gt 0 ]; then missing+=("runc >= 1.2 or crun >= 1.9, found ${oci_found[*]}")
    else missing+=("runc >= 1.2 or crun >= 1.9, found neither"); fi
  fi
  [ -n "$getsubids_path" ] || missing+=("getsubids (kubelet reads its range with it; Debian and Ubuntu: package uidmap, RHEL: shadow-utils-subid)")
  [ "$root_fs" != overlayfs ] || missing+=("kubelet's root dir $kubelet_root_dir on a filesystem with idmapped mounts (it is on overlayfs: runc fails hostUsers:false pods with EINVAL); put it on ext4, xfs, btrfs or tmpfs")
  if [ -n "$kubelet_version" ] && ! version_at_least "$kubelet_version" 1.30; then
    missing+=("kubelet >= 1.30 (user namespaces for pods), found $kubelet_version")
  fi
  return 0
}

facts_json() {
  printf '{"kernel":%s,"kernelOk":%s,"containerRuntime":%s,"containerRuntimeOk":%s,"ociRuntimes":%s,"ociRuntimeOk":%s,"getsubids":%s,"rootDir":%s,"rootDirFs":%s,"cgroup2":%s,"kubelet":{"path":%s,"version":%s,"pid":%s,"configDir":%s},"missing":%s}' \
    "$(jstr "$kernel")" "$(jbool "$kernel_ok")" "$(jstr_or_null "${cr_name:+$cr_name $cr_version}")" "$(jbool "$cr_ok")" \
    "$(json_list ${oci_found[@]+"${oci_found[@]}"})" "$(jbool "$oci_ok")" "$(jstr_or_null "$getsubids_path")" \
    "$(jstr "$kubelet_root_dir")" "$(jstr "$root_fs")" "$(jbool "$cgroup2")" "$(jstr_or_null "$kubelet_path")" \
    "$(jstr_or_null "$kubelet_version")" "$(jnum_or_null "$kubelet_pid")" "$(jstr_or_null "$kubelet_config_dir")" \
    "$(json_list ${missing[@]+"${missing[@]}"})"
}

# ---------------------------------------------------------------------------------------------
# apply

# The drop-in's text. featureGates only where the version needs it (1.30-1.32: beta, off by
# default; 1.33-1.35 beta on by default; GA and locked from 1.36, where setting it is refused).
render_dropin() {
  printf '%s\n' "$DROPIN_HEADER"
  printf '# The pods'"'"' user namespaces come from the kubelet line of /etc/subuid and /etc/subgid (%s:%s).\n' "$start" "$count"
  printf 'apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n'
  printf 'maxPods: %s\n' "$max_pods"
  if [ -n "$kubelet_version" ] && ! version_at_least "$kubelet_version" 1.33; then
    printf 'featureGates:\n  UserNamespacesSupport: true\n'
  else
    printf 'userNamespaces:\n  idsPerPod: %s\n' "$ids_per_pod"
  fi
}

# Pods kubelet recorded (ROOT/pods/UID/userns) that the new range or idsPerPod would strand.
stranded_pods() {
  local f host len uid
  for f in "$kubelet_root_dir"/pods/*/userns; do
    [ -f "$f" ] || continue
    uid=${f%/userns}; uid=${uid##*/}
    host=$(grep -oE '"uidMappings":\[\{[^]]*' "$f" | grep -oE '"hostId":[0-9]+' | head -n 1 | cut -d: -f2 || true)
    len=$(grep -oE '"uidMappings":\[\{[^]]*' "$f" | grep -oE '"length":[0-9]+' | head -n 1 | cut -d: -f2 || true)
    [[ "$host" =~ ^[0-9]+$ && "$len" =~ ^[0-9]+$ ]] || continue
    if (( host < start || host + len > start + count )); then echo "pod $uid at $host (+$len) is outside $start:$count"
    elif (( len != ids_per_pod )); then echo "pod $uid has $len IDs, not idsPerPod $ids_per_pod"
    fi
  done
}

undo() { # takes back what this run wrote (the account, the drop-in, the folders)
  local d
  if [ "${dropin_backup:-}" = none ]; then rm -f -- "$dropin"
  elif [ -n "${dropin_backup:-}" ]; then put_file "$dropin_backup" "$dropin" || true
  fi
  if [ "$created_user" = 1 ]; then delete_account user "$OWNER" || true; rm -f -- "$ACCOUNTS_RECORD"; fi
  for (( i=${#created_dirs[@]}-1; i>=0; i-- )); do d=${created_dirs[$i]}; rmdir -- "$d" 2>/dev/null || true; done
  [ ${#created_dirs[@]} -eq 0 ] || rm -f -- "$DIRS_RECORD"
}

cmd_apply() {
  local dropin new line_u line_g want stranded d mtime kstart
  lock_config
  # getsubids is the one package this mode installs (apt: uidmap), when --install-getsubids yes.
  if [ -z "$getsubids_path" ] && [ "$install" = yes ] && command -v apt-get >/dev/null 2>&1; then
    read_os_release
    install_packages uidmap || fail "$EXIT_PACKAGES" "installing uidmap (getsubids) failed (nothing else was written)"
    detect
  fi
  say "apply: range $start:$count for $OWNER, idsPerPod $ids_per_pod, maxPods $max_pods, drop-in in $config_dir"
  say "prerequisites: kernel $kernel, ${cr_name:-no CRI runtime} ${cr_version}, OCI ${oci_found[*]:-none}, getsubids ${getsubids_path:-missing}, kubelet ${kubelet_version:-not installed}${kubelet_pid:+ (pid $kubelet_pid)}, $kubelet_root_dir on $root_fs"
  if [ ${#missing[@]} -gt 0 ]; then
    fail "$EXIT_UNSUPPORTED" "this host cannot give pods user namespaces from the kubelet range; missing: $(printf '%s; ' "${missing[@]}" | sed 's/; $//') (nothing was written)"
  fi
  if [ -n "$kubelet_version" ] && ! version_at_least "$kubelet_version" 1.33 && [ "$ids_per_pod" != 65536 ]; then
    fail "$EXIT_UNSUPPORTED" "kubelet $kubelet_version has no userNamespaces.idsPerPod (from 1.33): only 65536 IDs per pod, not $ids_per_pod (nothing was written)"
  fi
  if [ -n "$kubelet_pid" ]; then
    [ -n "$kubelet_config_dir" ] || fail "$EXIT_PRECONDITION" "kubelet (pid $kubelet_pid) runs without --config-dir: a drop-in would never be read; start it with --config-dir=$config_dir (nothing was written)"
    [ "${kubelet_config_dir%/}" = "${config_dir%/}" ] || fail "$EXIT_PRECONDITION" "kubelet (pid $kubelet_pid) reads its drop-ins from $kubelet_config_dir, not $config_dir: set the mode's configDir to it (nothing was written)"
  fi
  stranded=$(stranded_pods)
  [ -z "$stranded" ] || fail "$EXIT_PRECONDITION" "kubelet would refuse to start with this range (drain the node and remove the pods' directories first): $(printf '%s' "$stranded" | head -n 5 | tr '\n' ';' | sed 's/;$//') (nothing was written)"
  if [ "$cgroup2" = 0 ] && [ -n "$kubelet_version" ] && version_at_least "$kubelet_version" 1.35; then
    notes+=("cgroup v1 host: kubelet $kubelet_version refuses it unless its configuration says failCgroupV1: false (not set by this mode)")
  fi

  dropin="$config_dir/$DROPIN_NAME"
  if [ -e "$dropin" ] && [ "$(head -n 1 -- "$dropin")" != "$DROPIN_HEADER" ]; then
    fail "$EXIT_PRECONDITION" "$dropin exists and was not written by hardened-hosts: move it away (nothing was written)"
  fi
  trap 'say "error: putting back what this run wrote"; undo' ERR
  # 3. The account (a system account: no subordinate IDs of its own from useradd).
  if ! getent passwd "$OWNER" >/dev/null; then
    say "creating the system account $OWNER (useradd --system)"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$OWNER" >&2
    created_user=1
    { [ ! -f "$ACCOUNTS_RECORD" ] || cat -- "$ACCOUNTS_RECORD"; printf 'user %s\ngroup %s\n' "$OWNER" "$OWNER"; } | sort -u > "$work/record"
    put_file "$work/record" "$ACCOUNTS_RECORD"
    changed+=("/etc/passwd")
  fi
  # 4. The drop-in (and its folders).
  d=$config_dir
  local todo=()
  while [ ! -d "$d" ]; do todo=("$d" ${todo[@]+"${todo[@]}"}); d=$(dirname -- "$d"); done
  for d in ${todo[@]+"${todo[@]}"}; do mkdir -m 0755 -- "$d"; created_dirs+=("$d"); done
  if [ ${#created_dirs[@]} -gt 0 ]; then
    { [ ! -f "$DIRS_RECORD" ] || cat -- "$DIRS_RECORD"; printf '%s\n' "${created_dirs[@]}"; } > "$work/dirs"
    put_file "$work/dirs" "$DIRS_RECORD"
  fi
  new="$work/dropin"
  render_dropin > "$new"
  dropin_backup=""
  if [ -f "$dropin" ] && cmp -s "$new" "$dropin"; then
    say "$dropin: already as wanted"
  else
    if [ -f "$dropin" ]; then cp -p -- "$dropin" "$work/dropin.before"; dropin_backup="$work/dropin.before"; else dropin_backup=none; fi
    put_file "$new" "$dropin" || fail "$EXIT_FAILED" "$PUT_FILE_ERROR"
    say "wrote $dropin (maxPods $max_pods, idsPerPod $ids_per_pod)"
    changed+=("$dropin")
  fi
  # 5. What kubelet will read.
  want="0: $OWNER $start $count"
  line_u=$(getsubids "$OWNER" 2>&1 || true)
  line_g=$(getsubids -g "$OWNER" 2>&1 || true)
  if [ "$line_u" != "$want" ] || [ "$line_g" != "$want" ]; then
    trap - ERR; undo
    fail "$EXIT_REJECTED" "getsubids $OWNER printed '$(printf '%s' "$line_u" | tr '\n' '|')' and getsubids -g $OWNER '$(printf '%s' "$line_g" | tr '\n' '|')', not exactly '$want': kubelet would refuse them (this run's writes were taken back)"
  fi
  say "getsubids: $want (subuid and subgid)"
  trap - ERR
  # 6. A running kubelet read its range when it started.
  if [ -n "$kubelet_pid" ]; then
    kstart=$(stat -c %Y "/proc/$kubelet_pid" 2>/dev/null || echo 0)
    mtime=$(stat -c %Y /etc/subuid /etc/subgid "$dropin" 2>/dev/null | sort -n | tail -n 1)
    if (( ${mtime:-0} >= kstart )); then restart_needed=1; fi
    if [ "$restart_needed" = 1 ] && [ "$restart" = yes ]; then
      say "restarting kubelet ($unit): it reads the range only at start"
      systemctl restart "$unit" >&2 || fail "$EXIT_FAILED" "systemctl restart $unit failed"
      sleep 3
      detect_kubelet
      [ -n "$kubelet_pid" ] || fail "$EXIT_FAILED" "kubelet did not come back after systemctl restart $unit (journalctl -u $unit says why; the files stay as written)"
      restarted=1 restart_needed=0
    elif [ "$restart_needed" = 1 ]; then
      say "warning: kubelet (pid $kubelet_pid) started before these files changed and keeps its old range until it restarts (restartKubelet: true lets this mode restart $unit)"
    fi
  else
    say "no kubelet runs: the node is prepared; kubelet reads the range when it starts (with --config-dir=$config_dir)"
  fi
  printf '{"ok":true,"action":"apply","owner":"%s","range":{"start":%s,"count":%s},"idsPerPod":%s,"maxPods":%s,"dropIn":%s,"changed":%s,"createdUser":%s,"restartNeeded":%s,"restarted":%s,"notes":%s,"facts":%s}\n' \
    "$OWNER" "$start" "$count" "$ids_per_pod" "$max_pods" "$(jstr "$dropin")" "$(json_list ${changed[@]+"${changed[@]}"})" \
    "$(jbool "$created_user")" "$(jbool "$restart_needed")" "$(jbool "$restarted")" "$(json_list ${notes[@]+"${notes[@]}"})" "$(facts_json)"
}

cmd_remove() {
  local dropin="$config_dir/$DROPIN_NAME" removed=() d
  lock_config
  if [ -f "$dropin" ] && [ "$(head -n 1 -- "$dropin")" = "$DROPIN_HEADER" ]; then
    rm -f -- "$dropin"; removed+=("$dropin"); say "removed $dropin"
  else
    say "remove: no drop-in of ours at $dropin"
  fi
  if [ -f "$DIRS_RECORD" ]; then
    while IFS= read -r d; do
      [ -n "$d" ] || continue
      if rmdir -- "$d" 2>/dev/null; then removed+=("$d"); say "removed the folder $d (apply had created it)"; else say "kept $d (not empty)"; fi
    done < <(sort -r -- "$DIRS_RECORD")
    rm -f -- "$DIRS_RECORD"
  fi
  if [ -n "$kubelet_pid" ]; then
    notes+=("kubelet (pid $kubelet_pid) still runs with the range it read at start; drain the node before it restarts (without the kubelet line it uses its default range, or refuses to start while the account exists)")
    say "warning: ${notes[-1]}"
  fi
  printf '{"ok":true,"action":"remove","removed":%s,"notes":%s}\n' "$(json_list ${removed[@]+"${removed[@]}"})" "$(json_list ${notes[@]+"${notes[@]}"})"
}

main() {
  parse_args "$@"
  [ "$action" = facts ] || [ "$(id -u)" = 0 ] || fail "$EXIT_PRECONDITION" "$action must run as root (directly or with sudo -n)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  detect
  case "$action" in
    facts) printf '{"ok":true,"action":"facts","facts":%s}\n' "$(facts_json)" ;;
    apply) cmd_apply ;;
    remove) cmd_remove ;;
  esac
}

main "$@"
} </dev/null
