# shellcheck shell=bash disable=SC2034 # the globals are read by the scripts this is a part of
# What switching dockerd to userns-remap USER would do to the workloads already on the host, and
# when that is refused (issue 28). A part (components/host/script.ts SCRIPT_PARTS) of
# docker-remap.sh, which refuses before it writes, and of subids-host.sh, whose --docker-config
# preflight refuses the same switch before the subids step writes anything: a host the runtime
# step would refuse is left as found. Functions only; needs the prelude.
HH_DOCKER_SWITCH=1

# The daemon, through the docker CLI (DOCKER_HOST decides which daemon): sets daemon_running,
# daemon_version, security_options, root_dir, running_names and all_names.
daemon_state() {
  daemon_running=0 daemon_version="" security_options="null" root_dir="" running_names=() all_names=()
  command -v docker >/dev/null 2>&1 || return 0
  local out
  out=$(timeout 15 docker info --format '{{.ServerVersion}}{{"\t"}}{{json .SecurityOptions}}{{"\t"}}{{.DockerRootDir}}' 2>/dev/null) || out=""
  IFS=$'\t' read -r daemon_version security_options root_dir <<< "$out" || true
  if [ -z "$daemon_version" ]; then daemon_version="" security_options="null" root_dir=""; return 0; fi
  daemon_running=1
  mapfile -t running_names < <(timeout 15 docker ps --format '{{.Names}}' 2>/dev/null || true)
  mapfile -t all_names < <(timeout 15 docker ps -a --format '{{.Names}}' 2>/dev/null || true)
  return 0
}
userns_active() { [[ "$security_options" == *'"name=userns"'* ]]; }
# The daemon (daemon_state) serves remapped, under <data-root>/START.START (the remap user's range).
remapped_at() { [ "$daemon_running" = 1 ] && userns_active && [[ "$root_dir" == */"$1.$1" ]]; }

# json_string_member FILE KEY: a top-level member of a JSON object file (a string as itself,
# anything else as JSON); status 3 when it is absent or the file does not parse. python3, else jq.
json_string_member() {
  local rc=0 out
  out=$(python3 -c '
import json, sys
try:
    v = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
except (ValueError, UnicodeDecodeError, OSError):
    sys.exit(3)
if not isinstance(v, dict) or sys.argv[2] not in v: sys.exit(3)
m = v[sys.argv[2]]
print(m if isinstance(m, str) else json.dumps(m))' "$1" "$2" </dev/null 2>/dev/null) || rc=$?
  if [ "$rc" = 0 ]; then printf '%s' "$out"; return 0; fi
  [ "$rc" = 3 ] || ! jq --version </dev/null >/dev/null 2>&1 || {
    jq -e -r -s --arg k "$2" 'if length == 1 and (.[0] | type) == "object" and (.[0] | has($k)) then (.[0][$k] | if type == "string" then . else tojson end) else error("absent") end' "$1" </dev/null 2>/dev/null && return 0
  }
  return 3
}

# remap_set_before CONFIG USER: the userns-remap user an operator set in CONFIG before
# hardened-hosts did (the original's, in our backup; or CONFIG's own when we never wrote it),
# unless it is USER; empty when none.
remap_set_before() {
  local c=$1 src="" v=""
  if [ -e "$c.hardened-hosts.bak" ]; then src=$c.hardened-hosts.bak
  elif [ ! -e "$c.hardened-hosts.created" ] && [ -e "$c" ]; then src=$c
  fi
  [ -z "$src" ] || v=$(json_string_member "$src" userns-remap) || v=""
  [ "$v" = "$2" ] || printf '%s' "$v"
}

# foreign_remap_refusal CONFIG USER TAKE_OVER: why switching from an operator's remap (TAKE_OVER
# not yes) is refused, naming the containers it would hide (daemon_state first); nothing when not.
foreign_remap_refusal() {
  local was
  was=$(remap_set_before "$1" "$2")
  [ -n "$was" ] && [ "$3" != yes ] || return 0
  printf '%s\n' "$1 already remaps Docker to \"$was\" (set before hardened-hosts, not by it): switching to $2 moves dockerd to another root and hides what runs under that one (${#all_names[@]} container(s)${all_names[0]:+: ${all_names[*]}}); ask for it explicitly (takeOverRemap, --take-over-remap yes)"
}

# containers_refusal MODE STOP_COUNT HIDE_COUNT NAMES_STOPPED NAMES_HIDDEN: why MODE refuse
# refuses a restart that stops running containers or a switch that hides existing ones; nothing
# when MODE is stop or nothing would be stopped or hidden.
containers_refusal() {
  [ "$1" = refuse ] && { [ "$2" -gt 0 ] || [ "$3" -gt 0 ]; } || return 0
  printf '%s\n' "the switch would stop $2 running container(s)${4:+ ($4)} and hide $3 container(s)${5:+ ($5)} under the current root; ask for it explicitly (existingContainers: stop, --containers stop)"
}

# switch_refusals CONFIG USER START CONTAINERS TAKE_OVER: the refusals (one a line) of switching
# dockerd to USER whose range starts at START, as the runtime step would find them: an operator's
# remap not taken over; a daemon not yet remapped there restarts (stopping what runs) onto another
# root (hiding every container) unless CONTAINERS is stop.
switch_refusals() {
  daemon_state
  foreign_remap_refusal "$1" "$2" "$5"
  [ "$daemon_running" = 1 ] && ! remapped_at "$3" || return 0
  containers_refusal "$4" "${#running_names[@]}" "${#all_names[@]}" "${running_names[*]+"${running_names[*]}"}" "${all_names[*]+"${all_names[*]}"}"
}
