#!/usr/bin/env bash
# Host side of rootful Docker with userns-remap: reads the host's Docker setup, merges
# "userns-remap" (and caller-given daemon options) into daemon.json, restarts dockerd safely, and
# undoes all of it on destroy. Made to be run on a live host: every check happens before anything
# is touched, a restart that does not come back is rolled back, and the first original
# daemon.json is kept until destroy.
#
#   docker-remap.sh facts                 read-only: distro, init, docker, daemon.json, daemon state
#   docker-remap.sh plan   --user NAME [--options JSON] [--require-no-containers yes|no]
#                                         read-only: what apply would write and whom it would hide
#   docker-remap.sh apply  --user NAME [--options JSON] [--install yes|no]
#                                      [--require-no-containers yes|no] [--range START:COUNT]
#                                      [--stack P/S] [--take-over-remap yes|no] [--containers refuse|stop]
#   docker-remap.sh remove --user NAME [--delete-user yes|no]
#
# apply: NAME must already own a range in /etc/subuid and /etc/subgid (written beforehand by
# components/subids/subids-host.sh); the script creates the system user and group NAME when
# missing, merges {"userns-remap": NAME} + the --options object into daemon.json (every other key
# is kept; nothing is written when nothing changes), validates, restarts dockerd, waits for its
# API and checks that the daemon runs remapped to NAME. A daemon that does not come back is given
# its previous daemon.json again and restarted. --range, when given, must be NAME's first range in
# both files (the plan the caller wrote); a running daemon remapped to another range is restarted.
# Keys of earlier --options that this one no longer has are taken out again: back to the
# original daemon.json's value where it had the key, else removed (CONFIG.hardened-hosts.keys).
# Live workloads: a restart stops running containers, and a switch to another remapped root
# hides every container under the current one. --containers refuse (the default) refuses such an
# apply before anything is written, naming them; --containers stop does it, and the report's
# runningBefore (stopped when "restarted") and invisibleContainers record what it did.
# remove: puts the original daemon.json back (deletes it when apply created it), restarts the
# same way, drops our backup and marker files. The remap user is kept unless --delete-user yes,
# and even then only an account that apply itself created is deleted (see README.md).
#
# Files next to the daemon config (CONFIG below):
#   CONFIG.hardened-hosts.bak      the original CONFIG, copied the first time apply changes it
#   CONFIG.hardened-hosts.created  CONFIG did not exist before apply ("dir" inside: nor its folder)
#   CONFIG.hardened-hosts.user     "user NAME" / "group NAME" lines for accounts apply created
#   CONFIG.hardened-hosts.keys     the --options keys the last apply set, one a line
#   CONFIG.hardened-hosts.stack    the Pulumi project/stack whose apply owns the settings above
#                                  (--stack P/S): another stack's apply is refused naming it, and
#                                  another stack's remove leaves everything alone. Settings
#                                  written before stacks were named (no such file) are adopted.
#
# Environment:
#   HH_DOCKER_CONFIG         daemon config file (default /etc/docker/daemon.json)
#   DOCKER_HOST              the docker CLI's daemon address (tests use a private daemon)
#   HH_DOCKER_RESTART_HOOK   executable run instead of systemctl/service to restart dockerd
#   HH_DOCKER_LOG            dockerd's log file, quoted when a restart fails (default: the
#                            journal on systemd, /var/log/docker.log otherwise)
#   HH_DOCKER_WAIT           seconds to wait for the API after a restart (default 60)
#   HH_DOCKERD_FLAGS         the dockerd command line to check for flag/daemon.json duplicates,
#                            instead of reading it from the systemd unit or /etc/default/docker
#   HH_DOCKER_JSON_TOOL      python3 or jq: force the JSON tool (default: python3, else jq)
#
# stdout: one JSON object. stderr: one line per step ("docker-remap: ...").
# Exit (the table in components/host/prelude.sh): 0 ok; EXIT_FAILED; EXIT_USAGE;
# EXIT_PRECONDITION (nothing touched); EXIT_MALFORMED the existing daemon config is malformed
# or a dangling link (nothing touched); EXIT_REJECTED dockerd --validate rejected the new config
# (config untouched); EXIT_ROLLED_BACK the daemon did not come back after the restart: the
# previous config was put back and the daemon serves again; EXIT_BROKEN as that, but the daemon
# does not serve after the rollback either (needs a human); EXIT_PACKAGES installing failed.
set -euo pipefail
# The shared prelude (components/host/prelude.sh: exit codes, output helpers, shared readers)
# comes ahead of this script on stdin; run from its file, the script sources it.
# shellcheck source=SCRIPTDIR/../host/prelude.sh
[ "${HH_PRELUDE:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/../host/prelude.sh"
# Its part (components/host/script.ts SCRIPT_PARTS), sent ahead of it the same way.
# shellcheck source=SCRIPTDIR/docker-switch.sh
[ "${HH_DOCKER_SWITCH:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/docker-switch.sh"

# Hosts get this script on stdin (`bash -s -- ARGS`). bash parses a brace group whole before it
# runs it, and the group's stdin is /dev/null: no command below can read (eat) the script's rest.
{

readonly TOOL=docker-remap
config="${HH_DOCKER_CONFIG:-/etc/docker/daemon.json}"
backup="$config.hardened-hosts.bak"
created_marker="$config.hardened-hosts.created"
user_marker="$config.hardened-hosts.user"
keys_marker="$config.hardened-hosts.keys"
stack_marker="$config.hardened-hosts.stack"
wait_seconds="${HH_DOCKER_WAIT:-60}"
action=""
fail_extra="" # extra JSON members for the failure object, e.g. ',"rolledBack":true'

json_str() { if [ $# -eq 0 ] || [ -z "${1+x}" ]; then printf 'null'; else printf '"%s"' "$(json_escape "$1")"; fi; }
json_bool() { if [ "$1" = 1 ] || [ "$1" = true ]; then printf true; else printf false; fi; }
fail_fields() { printf '%s' "$fail_extra"; } # the prelude's fail adds these members
usage() {
  fail "$EXIT_USAGE" "usage: docker-remap.sh facts | plan --user NAME [--options JSON] [--require-no-containers yes|no] [--stack P/S] | apply --user NAME [--options JSON] [--install yes|no] [--require-no-containers yes|no] [--range START:COUNT] [--stack P/S] [--take-over-remap yes|no] [--containers refuse|stop] | remove --user NAME [--delete-user yes|no] [--stack P/S]"
}

# ---------------------------------------------------------------------------------------------
# Arguments: all of them are checked before anything is read or written.
parse_args() {
  local arg name value pair v seen
  [ $# -ge 1 ] || usage
  action=$1; shift
  case "$action" in facts|plan|apply|remove) ;; *) action=""; usage ;; esac
  user="" options="" install="" require_none="" delete_user="" want_range="" stack="" take_over="" containers_mode=refuse
  allowed=""
  case "$action" in
    facts) allowed="" ;;
    plan) allowed="--user --options --require-no-containers --stack --take-over-remap --containers" ;;
    apply) allowed="--user --options --install --require-no-containers --range --stack --take-over-remap --containers" ;;
    remove) allowed="--user --delete-user --stack" ;;
  esac
  seen=" "
  while [ $# -gt 0 ]; do
    arg=$1; shift
    name=${arg%%=*}
    if [[ "$arg" == --*=* ]]; then value=${arg#*=}
    elif [ $# -ge 1 ]; then value=$1; shift
    else value=""; [[ " $allowed " == *" $name "* ]] && fail "$EXIT_USAGE" "$name needs a value"
    fi
    [[ " $allowed " == *" $name "* ]] || fail "$EXIT_USAGE" "$action does not take '$name' (it takes: ${allowed:-no arguments})"
    [[ "$seen" == *" $name "* ]] && fail "$EXIT_USAGE" "$name given twice"
    seen+="$name "
    case "$name" in
      --user) user=$value ;;
      --options) options=$value ;;
      --install) install=$value ;;
      --require-no-containers) require_none=$value ;;
      --take-over-remap) take_over=$value ;;
      --containers)
        case "$value" in refuse|stop) containers_mode=$value ;; *) fail "$EXIT_USAGE" "--containers must be refuse or stop, not '$value'" ;; esac ;;
      --delete-user) delete_user=$value ;;
      --range) want_range=$value ;;
      --stack)
        [[ "$value" =~ ^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$ ]] || fail "$EXIT_USAGE" "--stack '$value': expected PROJECT/STACK (letters, digits, . _ -)"
        stack=$value ;;
    esac
  done
  for pair in "--install:$install" "--require-no-containers:$require_none" "--delete-user:$delete_user" "--take-over-remap:$take_over"; do
    v=${pair#*:}
    [ -z "$v" ] || [ "$v" = yes ] || [ "$v" = no ] || fail "$EXIT_USAGE" "${pair%%:*} must be yes or no, not '$v'"
  done
  install=${install:-no} require_none=${require_none:-no} delete_user=${delete_user:-no} take_over=${take_over:-no}
  if [ "$action" != facts ]; then
    [ -n "$user" ] || fail "$EXIT_USAGE" "$action needs --user NAME"
    # useradd's default NAME_REGEX, without the trailing '$' of Samba machine accounts.
    [[ "$user" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || fail "$EXIT_USAGE" "--user '$user': expected a user name matching ^[a-z_][a-z0-9_-]{0,31}\$"
    case "$user" in
      default) fail "$EXIT_USAGE" "--user default: dockerd reads \"default\" as its own dockremap user; pick another name" ;;
      root) fail "$EXIT_USAGE" "--user root: containers would map to root's subordinate IDs; pick a dedicated user" ;;
    esac
  fi
  [[ "$wait_seconds" =~ ^[1-9][0-9]{0,3}$ ]] || fail "$EXIT_USAGE" "HH_DOCKER_WAIT must be a number of seconds (1-9999), not '$wait_seconds'"
  case "$config" in /*) ;; *) fail "$EXIT_USAGE" "HH_DOCKER_CONFIG must be an absolute path, not '$config'" ;; esac
  hook=${HH_DOCKER_RESTART_HOOK:-}
  if [ -n "$hook" ] && { [ ! -f "$hook" ] || [ ! -x "$hook" ]; }; then
    fail "$EXIT_USAGE" "HH_DOCKER_RESTART_HOOK=$hook is not an executable file"
  fi
  [ -n "$options" ] || options="{}"
  [ -z "$want_range" ] || [[ "$want_range" =~ ^[0-9]{1,10}:[0-9]{1,10}$ ]] || fail "$EXIT_USAGE" "--range must be START:COUNT, not '$want_range'"
}


# ---------------------------------------------------------------------------------------------
# JSON: python3's json module when it works, else jq. Both give the same semantics: a config must
# be exactly one JSON object; "same" means equal values whatever the key order and formatting.
json_tool=""
pick_json_tool() {
  case "${HH_DOCKER_JSON_TOOL:-}" in
    python3|jq) json_tool=$HH_DOCKER_JSON_TOOL ;;
    "")
      if python3 -c 'import json' >/dev/null 2>&1; then json_tool=python3
      elif jq --version >/dev/null 2>&1; then json_tool=jq
      fi ;;
    *) fail "$EXIT_USAGE" "HH_DOCKER_JSON_TOOL must be python3 or jq, not '$HH_DOCKER_JSON_TOOL'" ;;
  esac
  if [ "$json_tool" = python3 ] && ! python3 -c 'import json' >/dev/null 2>&1; then json_tool=""; fi
  if [ "$json_tool" = jq ] && ! jq --version >/dev/null 2>&1; then json_tool=""; fi
  return 0
}

# shellcheck disable=SC2016 # $-expressions belong to python, not to the shell
readonly PY='
import json, sys

def kind(v):
    if isinstance(v, bool): return "boolean"
    if isinstance(v, (int, float)): return "number"
    if isinstance(v, str): return "string"
    if isinstance(v, list): return "array"
    if isinstance(v, dict): return "object"
    return "null"

def bad(msg):
    sys.stdout.write(msg + "\n"); sys.exit(1)

def reject_constant(c):
    raise ValueError("%s is not valid JSON" % c)

def finite_float(s):
    f = float(s)
    if f in (float("inf"), float("-inf")):
        raise ValueError("%s is out of range" % s)
    return f

def load_text(text, what):
    try:
        v = json.loads(text, parse_constant=reject_constant, parse_float=finite_float)
    except ValueError as e:
        bad("%s: %s" % (what, e))
    if not isinstance(v, dict):
        bad("%s: the top-level value is %s, not an object" % (what, kind(v)))
    return v

def load_file(path, what):
    if path == "-":
        return {}
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        bad("%s: not UTF-8: %s" % (what, e))
    return load_text(text, what)

def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if type(a) != type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b

def write(path, v):
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(v, indent=2, ensure_ascii=False) + "\n")

op, args = sys.argv[1], sys.argv[2:]
if op == "check":                      # check FILE WHAT
    load_file(args[0], args[1])
elif op == "check-text":               # check-text TEXT WHAT
    load_text(args[0], args[1])
elif op == "keys":                     # keys FILE WHAT
    for k in load_file(args[0], args[1]):
        print(k)
elif op == "text-keys":                # text-keys TEXT WHAT
    for k in load_text(args[0], args[1]):
        print(k)
elif op == "get":                      # get FILE WHAT KEY: raw string or JSON text; exit 3 if absent
    v = load_file(args[0], args[1])
    if args[2] not in v:
        sys.exit(3)
    x = v[args[2]]
    print(x if isinstance(x, str) else json.dumps(x))
elif op == "merge":                    # merge FILE WHAT OPTIONS USER OUT DROP ORIGINAL
    cur = load_file(args[0], args[1])
    new = dict(cur)
    orig = load_file(args[6], args[6]) if len(args) > 6 else {}
    for k in (json.loads(args[5]) if len(args) > 5 else []):
        if k in orig: new[k] = orig[k]
        else: new.pop(k, None)
    new.update(load_text(args[2], "--options"))
    new["userns-remap"] = args[3]
    write(args[4], new)
    print("same" if same(new, cur) else "changed")
elif op == "delkey":                   # delkey FILE WHAT KEY OUT
    cur = load_file(args[0], args[1])
    new = dict((k, v) for k, v in cur.items() if k != args[2])
    write(args[3], new)
    print("same" if same(new, cur) else "changed")
'
readonly JQ_ONE_OBJECT='if length != 1 then error("expected exactly one JSON value, found \(length)")
  elif (.[0] | type) != "object" then error("the top-level value is \(.[0] | type), not an object")
  elif ([.[0] | .. | numbers | select(isnan or isinfinite)] | length) > 0 then error("NaN or Infinity is not valid JSON")
  else .[0] end'

# json <op> <args...>: runs the op with the chosen tool; on a parse problem prints the message
# on stdout and returns 1.
json() {
  local op=$1; shift
  if [ "$json_tool" = python3 ]; then
    python3 -c "$PY" "$op" "$@"
    return
  fi
  local src out
  case "$op" in
    check|keys|get|merge|delkey) src=$1 ;;
    check-text|text-keys) src=- ;;
  esac
  # One call parses (and reports errors with the file's name); the op works on its output.
  if [ "$op" = check-text ] || [ "$op" = text-keys ]; then
    out=$(printf '%s' "$1" | jq -s "$JQ_ONE_OBJECT" 2>&1) || { printf '%s: %s\n' "$2" "${out#jq: error (at *): }"; return 1; }
  elif [ "$src" = - ]; then
    out='{}'
  else
    out=$(jq -s "$JQ_ONE_OBJECT" "$src" 2>&1) || { printf '%s: %s\n' "$2" "${out#jq: error (at *): }"; return 1; }
  fi
  case "$op" in
    check|check-text) ;;
    keys|text-keys) jq -r 'keys_unsorted[]' <<< "$out" ;;
    get) jq -e -r --arg k "$3" 'if has($k) then (.[$k] | if type == "string" then . else tojson end) else error("absent") end' <<< "$out" 2>/dev/null || return 3 ;;
    merge) # merge FILE WHAT OPTIONS USER OUT DROP ORIGINAL: DROP keys go back to ORIGINAL's value, or away
      local orig='{}' prog
      [ "${7:--}" = - ] || orig=$(jq -s "$JQ_ONE_OBJECT" "$7" 2>&1) || { printf '%s: %s\n' "$7" "${orig#jq: error (at *): }"; return 1; }
      # shellcheck disable=SC2016 # $-names are jq variables
      prog='reduce $d[] as $k (.; if ($b | has($k)) then .[$k] = $b[$k] else del(.[$k]) end) + $o + {"userns-remap": $u}'
      jq --indent 2 --argjson o "$3" --arg u "$4" --argjson d "${6:-[]}" --argjson b "$orig" "$prog" <<< "$out" > "$5"
      jq -r --argjson o "$3" --arg u "$4" --argjson d "${6:-[]}" --argjson b "$orig" "if ($prog) == . then \"same\" else \"changed\" end" <<< "$out" ;;
    delkey)
      jq --indent 2 --arg k "$3" 'del(.[$k])' <<< "$out" > "$4"
      jq -r --arg k "$3" 'if has($k) then "changed" else "same" end' <<< "$out" ;;
  esac
}

# ---------------------------------------------------------------------------------------------
# Facts about the host. Everything here is read-only (read_os_release: the prelude).
init_system=none
detect_init() {
  if [ -d /run/systemd/system ]; then init_system=systemd
  elif command -v openrc >/dev/null 2>&1 && [ -d /run/openrc ]; then init_system=openrc
  elif [ -x /etc/init.d/docker ] && [ "$(cat /proc/1/comm 2>/dev/null)" = init ]; then init_system=sysvinit
  else init_system=none
  fi
}

docker_installed=0 docker_version="" docker_major="" validate_supported=0 cli_installed=0
detect_docker() {
  docker_installed=0 docker_version="" docker_major="" validate_supported=0 cli_installed=0
  command -v docker >/dev/null 2>&1 && cli_installed=1
  local v
  if command -v dockerd >/dev/null 2>&1 && v=$(dockerd --version 2>/dev/null); then
    docker_installed=1
    # "Docker version 20.10.24+dfsg1, build 5d6db84"
    docker_version=$(sed -n 's/^Docker version \([^ ,]*\).*/\1/p' <<< "$v")
    docker_major=${docker_version%%.*}
    [[ "$docker_major" =~ ^[0-9]+$ ]] || docker_major=""
    # dockerd >= 23 has --validate; ask the binary rather than trusting the version number.
    if dockerd --help 2>&1 | grep -q -- '--validate'; then validate_supported=1; fi
  fi
  return 0
}

# The daemon as daemon_state (docker-switch.sh, a part of this script) last saw it.
daemon_running=0 daemon_version="" security_options="null" root_dir="" running_names=() all_names=()
daemon_ping() { [ -n "$(timeout 10 docker info --format '{{.ServerVersion}}' 2>/dev/null || true)" ]; }

# The flags dockerd is started with, as the init system would start it. dockerd refuses to start
# when a setting is both a flag and a daemon.json key, so these are checked against the config.
flags_source="" flags_text="" flag_keys=() flag_config_file=""
env_file_var() { # env_file_var FILE VAR: its last assignment, one level of quotes removed
  [ -r "$1" ] || return 0
  sed -n "s/^[[:space:]]*\(export[[:space:]]\{1,\}\)\{0,1\}$2=//p" "$1" | tail -n 1 |
    sed -e 's/^"\(.*\)"[[:space:]]*$/\1/' -e "s/^'\(.*\)'[[:space:]]*\$/\\1/"
}
flag_key() { # the daemon.json key a dockerd flag sets ("" for flags that are not config keys)
  case "$1" in
    -H|--host) echo hosts ;;
    -D) echo debug ;;
    -l) echo log-level ;;
    -G) echo group ;;
    -b) echo bridge ;;
    -s) echo storage-driver ;;
    -g|--graph) echo data-root ;;
    -p) echo pidfile ;;
    --log-opt) echo log-opts ;;
    --storage-opt) echo storage-opts ;;
    --exec-opt) echo exec-opts ;;
    --label) echo labels ;;
    --insecure-registry) echo insecure-registries ;;
    --registry-mirror) echo registry-mirrors ;;
    --authorization-plugin) echo authorization-plugins ;;
    --add-runtime) echo runtimes ;;
    --default-address-pool) echo default-address-pools ;;
    --dns-opt) echo dns-opts ;;
    --default-ulimit) echo default-ulimits ;;
    --node-generic-resource) echo node-generic-resources ;;
    --cluster-store-opt) echo cluster-store-opts ;;
    --config-file|--validate|--help|--version) echo "" ;;
    --*) echo "${1#--}" ;;
    *) echo "" ;;
  esac
}
detect_flags() {
  flags_source="" flags_text="" flag_keys=() flag_config_file=""
  if [ -n "${HH_DOCKERD_FLAGS+x}" ]; then
    flags_source="HH_DOCKERD_FLAGS"; flags_text=$HH_DOCKERD_FLAGS
  elif [ "$init_system" = systemd ] && command -v systemctl >/dev/null 2>&1; then
    local argv envs files f var val
    argv=$(systemctl show docker.service -p ExecStart 2>/dev/null | sed -n 's/.*argv\[\]=\([^;]*\);.*/\1/p' | tail -n 1)
    flags_source="systemd unit docker.service"
    envs=$(systemctl show docker.service -p Environment 2>/dev/null | sed 's/^Environment=//')
    files=$(systemctl show docker.service -p EnvironmentFiles 2>/dev/null | sed -n 's/^EnvironmentFiles=\([^ ]*\).*/\1/p')
    # Expand $VAR / ${VAR} the way the unit would: Environment= first, then EnvironmentFile=s.
    local whole n=0
    while [[ "$argv" =~ \$\{?([A-Za-z_][A-Za-z0-9_]*)\}? ]] && (( n++ < 20 )); do
      whole=${BASH_REMATCH[0]} var=${BASH_REMATCH[1]} val=""
      [[ " $envs " =~ [[:space:]]$var=([^[:space:]]*) ]] && val=${BASH_REMATCH[1]}
      for f in $files; do
        [ -r "$f" ] || continue
        local v; v=$(env_file_var "$f" "$var")
        if [ -n "$v" ]; then val=$v; flags_source+=", $f"; fi
      done
      argv=${argv//"$whole"/$val}
    done
    flags_text=$argv
  else
    local f var
    for f in /etc/default/docker:DOCKER_OPTS /etc/conf.d/docker:DOCKER_OPTS /etc/sysconfig/docker:OPTIONS; do
      var=${f#*:} f=${f%%:*}
      [ -r "$f" ] || continue
      flags_source+="${flags_source:+, }$f ($var)"
      flags_text+="${flags_text:+ }$(env_file_var "$f" "$var")"
    done
  fi
  local -a words
  read -r -a words <<< "$flags_text" || true
  local i w name key
  for (( i = 0; i < ${#words[@]}; i++ )); do
    w=${words[i]}; w=${w#\"}; w=${w%\"}; w=${w#\'}; w=${w%\'}
    [[ "$w" == -* ]] || continue
    name=${w%%=*}
    if [ "$name" = --config-file ]; then
      if [[ "$w" == *=* ]]; then flag_config_file=${w#*=}; else flag_config_file=${words[i + 1]:-}; fi
    fi
    key=$(flag_key "$name")
    [ -z "$key" ] || [[ " ${flag_keys[*]:-} " == *" $key "* ]] || flag_keys+=("$key")
  done
  return 0
}
duplicates_of() { # duplicates_of KEY...: the given keys that a dockerd flag also sets
  local k out=()
  for k in "$@"; do [[ " ${flag_keys[*]:-} " == *" $k "* ]] && out+=("$k"); done
  printf '%s\n' "${out[@]+"${out[@]}"}"
}

# The current daemon config: config_state is absent, valid or invalid (config_error says why).
config_state="" config_error="" config_keys=() config_remap="" config_has_remap=0
read_config() {
  config_state="" config_error="" config_keys=() config_remap="" config_has_remap=0
  if [ -L "$config" ] && [ ! -e "$config" ]; then
    config_state=invalid; config_error="$config is a symlink to $(readlink -- "$config"), which does not exist: fix the link or remove it"; return 0
  fi
  if [ ! -e "$config" ]; then config_state=absent; return 0; fi
  [ -f "$config" ] || { config_state=invalid; config_error="$config is not a regular file"; return 0; }
  [ -n "$json_tool" ] || { config_state=unknown; return 0; }
  local msg
  if [ "$(head -c 3 -- "$config" | od -An -tx1 | tr -d ' \n')" = efbbbf ]; then
    config_state=invalid; config_error="$config starts with a UTF-8 byte order mark (dockerd 20.10 does not start with one): remove its first 3 bytes (EF BB BF)"; return 0
  fi
  if ! msg=$(json check "$config" "$config"); then config_state=invalid; config_error=$msg; return 0; fi
  config_state=valid
  mapfile -t config_keys < <(json keys "$config" "$config")
  if config_remap=$(json get "$config" "$config" userns-remap); then config_has_remap=1; else config_remap=""; fi
  return 0
}

# Subordinate ranges: lines "NAME:START:COUNT" (dockerd 20.10 looks the user and group up by name).
subid_first() { # subid_first FILE NAME -> "START COUNT" of the first range, or nothing
  [ -r "$1" ] || return 0
  awk -F: -v n="$2" '$1 == n && $2 ~ /^[0-9]+$/ && $3 ~ /^[1-9][0-9]*$/ { printf "%s %s\n", $2, $3; exit }' "$1"
}

# ---------------------------------------------------------------------------------------------
# Restarting dockerd, waiting for it, and reading what it said.
restart_method=""
pick_restart_method() {
  if [ -n "$hook" ]; then restart_method=hook
  elif [ "$init_system" = systemd ]; then restart_method=systemd
  elif [ "$init_system" = openrc ] && command -v rc-service >/dev/null 2>&1; then restart_method=openrc
  elif [ "$init_system" = sysvinit ] && command -v service >/dev/null 2>&1; then restart_method=sysvinit
  else restart_method=""
  fi
}
log_file="" log_offset=0 log_since=0
mark_log() {
  log_since=$(date +%s)
  log_file=${HH_DOCKER_LOG:-}
  if [ -z "$log_file" ] && [ "$restart_method" != systemd ]; then log_file=/var/log/docker.log; fi
  log_offset=0
  if [ -n "$log_file" ] && [ -f "$log_file" ]; then log_offset=$(stat -c %s "$log_file"); fi
}
daemon_log() { # what the daemon logged since mark_log (last 20 lines)
  if [ -n "$log_file" ]; then
    [ -r "$log_file" ] && tail -c +"$(( log_offset + 1 ))" "$log_file" | tail -n 20
  elif command -v journalctl >/dev/null 2>&1; then
    # dockerd's own lines first (systemd's "Failed with result" lines explain nothing); then the
    # unit's, when dockerd logged nothing (e.g. it could not be executed).
    local own
    own=$(journalctl _SYSTEMD_UNIT=docker.service --since "@$log_since" --no-pager -n 20 -o cat 2>/dev/null || true)
    if [ -n "$own" ]; then printf '%s\n' "$own"
    else journalctl -u docker.service --since "@$log_since" --no-pager -n 20 -o cat 2>/dev/null
    fi
  fi
  return 0
}
# The lines that explain a failure: plain lines and level=error/fatal ones, else the last line.
daemon_error_text() {
  local lines picked
  lines=$(daemon_log)
  # dockerd's reason for exiting ("failed to start daemon: ...") says it all when present.
  picked=$(grep -E 'failed to start daemon|level=fatal' <<< "$lines" | tail -n 1 || true)
  [ -n "$picked" ] || picked=$(grep -v -E '^time="[^"]*" level=(info|warning|debug)' <<< "$lines" | grep -v '^[[:space:]]*$' | tail -n 5 || true)
  [ -n "$picked" ] || picked=$(tail -n 1 <<< "$lines")
  printf '%s' "${picked:-(the daemon logged nothing${log_file:+ in $log_file})}"
}
# Commands that may start dockerd get "9>&-": a daemon must not inherit (and hold forever) the
# lock on fd 9.
restart_docker() { # restart_docker: 0 when the API answers again within HH_DOCKER_WAIT
  mark_log
  local rc=0 deadline
  case "$restart_method" in
    hook) say "restarting docker: $hook"; "$hook" </dev/null >&2 9>&- || rc=$? ;;
    systemd)
      say "restarting docker: systemctl restart docker.service"
      # A failed start may have used up StartLimitBurst: clear it so the rollback can start.
      systemctl reset-failed docker.service >/dev/null 2>&1 || true
      systemctl restart docker.service </dev/null >&2 9>&- || rc=$? ;;
    openrc) say "restarting docker: rc-service docker restart"; rc-service docker restart </dev/null >&2 9>&- || rc=$? ;;
    sysvinit) say "restarting docker: service docker restart"; service docker restart </dev/null >&2 9>&- || rc=$? ;;
  esac
  deadline=$(( $(date +%s) + wait_seconds ))
  # The restart command failed (systemctl: the start job failed): a short grace only.
  [ "$rc" -eq 0 ] || { say "restart command exited $rc"; deadline=$(( $(date +%s) + (wait_seconds < 2 ? wait_seconds : 2) )); }
  say "waiting up to $(( deadline - $(date +%s) ))s for the docker API"
  while :; do
    daemon_ping && return 0
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------
# Installing (install_packages, put_file and lock_config: the prelude).
install_docker() {
  local pkg=""
  case " $distro_id $distro_like " in
    *" debian "*|*" ubuntu "*) pkg=docker.io ;;
    *" amzn "*) pkg=docker ;;
    *" fedora "*|*" rhel "*|*" centos "*)
      # RHEL proper ships podman-docker as "docker": only a real dockerd package will do.
      local p pm=dnf
      command -v dnf >/dev/null 2>&1 || pm=yum
      for p in docker-ce moby-engine; do
        if "$pm" -q info "$p" >/dev/null 2>&1; then pkg=$p; break; fi
      done
      [ -n "$pkg" ] || fail "$EXIT_PACKAGES" "no docker-ce or moby-engine package is available on $distro_id $distro_version: add Docker's repository (https://download.docker.com/linux/) first" ;;
    *) fail "$EXIT_PACKAGES" "installing docker on '$distro_id' is not supported: install it by hand" ;;
  esac
  install_packages "$pkg" || fail "$EXIT_PACKAGES" "installing $pkg failed (see the package manager's output above)"
  # Debian from trixie on ships the CLI as docker-cli, which docker.io only recommends.
  if [ "$pkg" = docker.io ] && ! command -v docker >/dev/null 2>&1; then
    install_packages docker-cli || fail "$EXIT_PACKAGES" "installing docker-cli failed (see the package manager's output above)"
  fi
  detect_docker
  [ "$docker_installed" = 1 ] || fail "$EXIT_PACKAGES" "$pkg is installed but there is no working dockerd"
  if [ "$init_system" = systemd ]; then systemctl enable docker.service </dev/null >&2 9>&- || true; fi
}

# ---------------------------------------------------------------------------------------------
# What every action starts from: the distribution, the init system, Docker, a JSON tool.
detect_host() {
  read_os_release
  detect_init
  detect_docker
  pick_json_tool
}

# facts: read-only JSON about the host.
cmd_facts() {
  read_config
  daemon_state
  detect_flags
  raw="null"
  if [ -f "$config" ] && [ -r "$config" ]; then raw=$(cat "$config"; printf x); raw=$(json_str "${raw%x}"); fi
  dups=()
  [ "$config_state" != valid ] || mapfile -t dups < <(duplicates_of "${config_keys[@]+"${config_keys[@]}"}" | grep . || true)
  config_dir=${config%/*}
  default_root=/var/lib/docker
  [ "$config_state" != valid ] || default_root=$(json get "$config" "$config" data-root 2>/dev/null || echo /var/lib/docker)
  validate_json=false; [ "$validate_supported" = 1 ] && validate_json=true
  major_json=${docker_major:-null}
  valid_json=null
  case "$config_state" in valid) valid_json=true ;; invalid) valid_json=false ;; esac
  remap_json=null; [ "$config_has_remap" = 1 ] && remap_json=$(json_str "$config_remap")
  say "facts: $distro_id $distro_version, init $init_system, dockerd ${docker_version:-absent}, daemon $([ "$daemon_running" = 1 ] && echo running || echo "not answering"), $config: $config_state"
  printf '{"ok":true,"action":"facts","distro":{"id":%s,"version":%s,"like":%s},"init":%s,' \
    "$(json_str "$distro_id")" "$(json_str "$distro_version")" "$(json_str "$distro_like")" "$(json_str "$init_system")"
  printf '"docker":{"installed":%s,"version":%s,"major":%s,"validateSupported":%s,"cli":%s},' \
    "$(json_bool "$docker_installed")" "$( [ -n "$docker_version" ] && json_str "$docker_version" || echo null)" "$major_json" "$validate_json" "$(json_bool "$cli_installed")"
  printf '"jsonTool":%s,' "$( [ -n "$json_tool" ] && json_str "$json_tool" || echo null)"
  printf '"config":{"path":%s,"exists":%s,"dirExists":%s,"raw":%s,"valid":%s,"error":%s,"keys":%s,"usernsRemap":%s,"backup":%s,"createdByUs":%s},' \
    "$(json_str "$config")" "$(json_bool "$([ -e "$config" ] && echo 1 || echo 0)")" "$(json_bool "$([ -d "$config_dir" ] && echo 1 || echo 0)")" \
    "$raw" "$valid_json" "$( [ -n "$config_error" ] && json_str "$config_error" || echo null)" \
    "$(json_list "${config_keys[@]+"${config_keys[@]}"}")" "$remap_json" \
    "$( [ -e "$backup" ] && json_str "$backup" || echo null)" "$(json_bool "$([ -e "$created_marker" ] && echo 1 || echo 0)")"
  userns_json=false; userns_active && userns_json=true
  printf '"daemon":{"running":%s,"version":%s,"securityOptions":%s,"usernsActive":%s,"dockerRootDir":%s,"runningContainers":%s,"runningContainerNames":%s,"containers":%s},' \
    "$(json_bool "$daemon_running")" "$( [ -n "$daemon_version" ] && json_str "$daemon_version" || echo null)" "$security_options" "$userns_json" \
    "$( [ -n "$root_dir" ] && json_str "$root_dir" || echo null)" "${#running_names[@]}" \
    "$(json_list "${running_names[@]+"${running_names[@]}"}")" "${#all_names[@]}"
  printf '"dataRoot":%s,' "$(json_str "$default_root")"
  printf '"flags":{"source":%s,"args":%s,"keys":%s,"configFile":%s,"duplicates":%s}}\n' \
    "$( [ -n "$flags_source" ] && json_str "$flags_source" || echo null)" "$(json_str "$flags_text")" \
    "$(json_list "${flag_keys[@]+"${flag_keys[@]}"}")" "$( [ -n "$flag_config_file" ] && json_str "$flag_config_file" || echo null)" \
    "$(json_list "${dups[@]+"${dups[@]}"}")"
}

# ---------------------------------------------------------------------------------------------
# plan / apply / remove need a JSON tool. apply --install yes may install jq for it.
need_json_tool() {
  if [ -z "$json_tool" ]; then
    if [ "$action" = apply ] && [ "$install" = yes ]; then
      install_packages jq || fail "$EXIT_PACKAGES" "installing jq failed: neither python3 (with its json module) nor jq is available"
      pick_json_tool
    fi
    [ -n "$json_tool" ] || fail "$EXIT_PRECONDITION" "neither python3 (with its json module) nor jq is available to read $config safely: install one of them (apply --install yes installs jq)"
  fi
  say "$action: JSON tool $json_tool"
}

# --options: a JSON object, without userns-remap (this script sets that).
check_options() {
  local msg k
  msg=$(json check-text "$options" "--options") || fail "$EXIT_USAGE" "${msg:-"--options: not a JSON object"}"
  mapfile -t option_keys < <(json text-keys "$options" "--options")
  for k in "${option_keys[@]+"${option_keys[@]}"}"; do
    [ "$k" != userns-remap ] || fail "$EXIT_USAGE" "--options must not set userns-remap: this script sets it to --user"
  done
}

# remove: the previous daemon.json back (or ours taken out), Docker restarted, the user deleted if asked.
cmd_remove() {
  lock_config
  local owner
  owner=$(settings_owner)
  if [ -n "$stack" ] && [ -n "$owner" ] && [ "$owner" != "$stack" ]; then
    # Another stack's settings: this stack's destroy never touches them.
    say "remove: $config's settings belong to stack $owner, not $stack: left alone"
    printf '{"ok":true,"action":"remove","config":%s,"restored":"nothing","changed":false,"restarted":false,"userDeleted":false,"userKept":%s,"securityOptions":null,"usernsActive":null,"dockerRootDir":null,"ownedBy":%s}\n' \
      "$(json_str "$config")" "$(json_str "the settings belong to stack $owner")" "$(json_str "$owner")"
    return 0
  fi
  read_config
  [ "$config_state" != invalid ] || { [ -e "$backup" ] || [ -e "$created_marker" ]; } ||
    fail "$EXIT_MALFORMED" "$config is malformed and there is no hardened-hosts backup to restore: $config_error"
  plan="nothing"
  if [ -e "$created_marker" ]; then
    if [ -e "$config" ]; then plan=delete; else plan=drop-backup; fi
  elif [ -e "$backup" ]; then
    if [ -e "$config" ] && cmp -s "$backup" "$config"; then plan=drop-backup; else plan=restore; fi
  elif [ "$config_state" = valid ] && [ "$config_has_remap" = 1 ] && [ "$config_remap" = "$user" ]; then
    plan=delkey # no backup (removed by hand?): take out our key only
  fi
  if [ "$config_state" = valid ] && [ "$config_has_remap" = 1 ] && [ "$config_remap" != "$user" ]; then
    say "note: $config has userns-remap \"$config_remap\", not \"$user\""
  fi
  detect_docker
  changed=0 restarted=0
  case "$plan" in
    nothing|drop-backup) say "remove: nothing to restore in $config" ;; # markers go below
    *)
      [ "$docker_installed" = 1 ] || say "note: dockerd is not installed; restoring $config without a restart"
      pick_restart_method
      if [ "$docker_installed" = 1 ] && [ -z "$restart_method" ]; then
        fail "$EXIT_PRECONDITION" "no way to restart docker here (init: $init_system): set HH_DOCKER_RESTART_HOOK"
      fi ;;
  esac
  [ "$plan" != delkey ] || json delkey "$config" "$config" userns-remap "$work/new" >/dev/null
  previous_existed=0
  if [ -e "$config" ]; then cp -p "$config" "$work/previous"; previous_existed=1; fi
  dir_created=0; grep -qx dir "$created_marker" 2>/dev/null && dir_created=1
  case "$plan" in
    delete) rm -f "$config"; say "remove: deleted $config (hardened-hosts had created it)"; changed=1 ;;
    restore) put_file "$backup" "$config" "$backup"; say "remove: restored $config from $backup"; changed=1 ;;
    delkey) put_file "$work/new" "$config"; say "remove: no backup found; removed userns-remap from $config"; changed=1 ;;
  esac
  if [ "$changed" = 1 ] && [ "$docker_installed" = 1 ]; then
    if restart_docker; then
      restarted=1
    else
      err=$(daemon_error_text)
      say "docker did not come back: putting the previous $config back"
      if [ "$previous_existed" = 1 ]; then put_file "$work/previous" "$config"; else rm -f "$config"; fi
      if restart_docker; then
        fail_extra=',"rolledBack":true,"daemonServing":true'
        fail "$EXIT_ROLLED_BACK" "docker did not come back with the restored $config; the previous config is back in place and docker serves again. dockerd said: $err"
      fi
      fail_extra=',"rolledBack":true,"daemonServing":false'
      fail "$EXIT_BROKEN" "docker did not come back with the restored $config, nor after putting the previous config back: docker is DOWN. dockerd said: $err / after rollback: $(daemon_error_text)"
    fi
  fi
  # The remap user: kept unless asked, and only ever deleted when apply created it.
  user_deleted=0 user_kept_reason=""
  created_user=0 created_group=0
  grep -qx "user $user" "$user_marker" 2>/dev/null && created_user=1
  grep -qx "group $user" "$user_marker" 2>/dev/null && created_group=1
  if [ "$delete_user" = yes ]; then
    if [ "$created_user" = 1 ] && getent passwd "$user" >/dev/null; then
      # The subids lines stay (userdel would drop them): the subids step's remove takes them.
      delete_account user "$user" || fail "$EXIT_FAILED" "userdel $user failed"
      user_deleted=1; say "remove: deleted user $user"
    elif getent passwd "$user" >/dev/null; then user_kept_reason="user $user existed before apply"
    fi
    if [ "$created_group" = 1 ] && getent group "$user" >/dev/null; then delete_account group "$user" || say "note: groupdel $user failed"; fi
  elif getent passwd "$user" >/dev/null; then
    user_kept_reason="--delete-user is not yes"
  fi
  # The accounts record stays while an account it lists exists (a later remove --delete-user yes
  # still knows it may delete it); backup and created marker go now.
  if ! { [ "$created_user" = 1 ] && getent passwd "$user" >/dev/null; } && ! { [ "$created_group" = 1 ] && getent group "$user" >/dev/null; }; then
    rm -f "$user_marker"
  fi
  rm -f "$backup" "$created_marker" "$keys_marker" "$stack_marker"
  if [ "$dir_created" = 1 ] && [ -d "${config%/*}" ]; then
    if rmdir "${config%/*}" 2>/dev/null; then say "remove: removed ${config%/*} (hardened-hosts had created it)"; fi
  fi
  if [ "$restarted" = 1 ]; then detect_docker; daemon_state; fi
  userns_json=null
  if [ "$restarted" = 1 ]; then userns_json=false; userns_active && userns_json=true; fi
  printf '{"ok":true,"action":"remove","config":%s,"restored":%s,"changed":%s,"restarted":%s,"userDeleted":%s,"userKept":%s,"securityOptions":%s,"usernsActive":%s,"dockerRootDir":%s}\n' \
    "$(json_str "$config")" "$(json_str "$plan")" "$(json_bool "$changed")" "$(json_bool "$restarted")" "$(json_bool "$user_deleted")" \
    "$( [ -n "$user_kept_reason" ] && json_str "$user_kept_reason" || echo null)" "$( [ "$restarted" = 1 ] && echo "$security_options" || echo null)" \
    "$userns_json" "$( [ "$restarted" = 1 ] && [ -n "$root_dir" ] && json_str "$root_dir" || echo null)"
}

# ---------------------------------------------------------------------------------------------
# Which stack owns the daemon settings: the stack marker's content, "" when none is recorded.
settings_owner() { if [ -f "$stack_marker" ]; then head -n 1 -- "$stack_marker"; fi; }
# Another stack owns them: apply refuses, naming it (one stack owns a host's dockerd settings).
refuse_foreign_owner() {
  local owner
  owner=$(settings_owner)
  [ -n "$stack" ] && [ -n "$owner" ] && [ "$owner" != "$stack" ] || return 0
  fail "$EXIT_PRECONDITION" "$config's userns-remap and keys are managed by stack $owner (recorded in $stack_marker), not $stack: one stack owns a host's Docker daemon settings; destroy it there first, or leave this host's runtime to it: nothing changed"
}

# ---------------------------------------------------------------------------------------------
# Room to write, checked before the first write: the config's folder must hold the new config,
# the backup of the old one and the records (64 KiB of slack); /etc must hold the accounts' files
# again when the remap user or group is to be created (useradd writes each file anew).
free_kib() { df -Pk -- "$1" 2>/dev/null | awk 'NR == 2 && $4 ~ /^[0-9]+$/ { print $4 }'; }
check_room() {
  local dir need free f target
  target=$config; [ -L "$config" ] && target=$(readlink -f -- "$config")
  dir=${target%/*}
  while [ ! -d "$dir" ] && [ "$dir" != / ] && [ -n "$dir" ]; do dir=${dir%/*}; done
  need=$(( $(stat -c %s "$work/new") + 65536 ))
  [ ! -e "$config" ] || [ -e "$backup" ] || need=$(( need + $(stat -L -c %s "$config") ))
  free=$(free_kib "${dir:-/}")
  if [ -n "$free" ] && (( free * 1024 < need )); then
    fail "$EXIT_PRECONDITION" "no space left on ${dir:-/}: $free KiB free, $(( (need + 1023) / 1024 )) KiB needed to write $config and its backup: nothing changed"
  fi
  if ! getent passwd "$user" >/dev/null || ! getent group "$user" >/dev/null; then
    need=65536
    for f in /etc/passwd /etc/shadow /etc/group /etc/gshadow; do [ ! -e "$f" ] || need=$(( need + 2 * $(stat -L -c %s "$f") )); done
    free=$(free_kib /etc)
    if [ -n "$free" ] && (( free * 1024 < need )); then
      fail "$EXIT_PRECONDITION" "no space left on /etc: $free KiB free, $(( (need + 1023) / 1024 )) KiB needed to create the account $user: nothing changed"
    fi
  fi
  return 0
}

# ---------------------------------------------------------------------------------------------
# plan and apply: every check first; the globals it sets are what apply_change acts on.
plan_change() {
  t_start=$(date +%s.%N)
  [ "$action" = plan ] || lock_config
  refuse_foreign_owner
  [ "$docker_installed" = 1 ] || [ "$install" = yes ] || [ "$action" = plan ] ||
    fail "$EXIT_PRECONDITION" "docker is not installed (no working dockerd): pass --install yes to install it"

  read -r uid_start uid_count <<< "$(subid_first /etc/subuid "$user")" || true
  read -r gid_start gid_count <<< "$(subid_first /etc/subgid "$user")" || true
  [ -n "${uid_start:-}" ] || fail "$EXIT_PRECONDITION" "$user has no range in /etc/subuid: write its subordinate IDs first (subids-host.sh apply $user:START:65536)"
  [ -n "${gid_start:-}" ] || fail "$EXIT_PRECONDITION" "$user has no range in /etc/subgid: write its subordinate IDs first (subids-host.sh apply $user:START:65536)"
  if [ -n "$want_range" ] && { [ "$uid_start:$uid_count" != "$want_range" ] || [ "$gid_start:$gid_count" != "$want_range" ]; }; then
    fail "$EXIT_PRECONDITION" "$user's first range is subuid $uid_start:$uid_count, subgid $gid_start:$gid_count, not the planned $want_range: write the planned lines first (subids-host.sh apply)"
  fi
  (( uid_count >= 65536 && gid_count >= 65536 )) || say "note: $user's first range is smaller than 65536 IDs (subuid $uid_count, subgid $gid_count): images with higher IDs will not unpack"
  say "$action: $user maps to subuid $uid_start+$uid_count, subgid $gid_start+$gid_count"

  read_config
  case "$config_state" in
    invalid) fail "$EXIT_MALFORMED" "$config is malformed, nothing was changed: $config_error" ;;
    absent) src=- ;;
    *) src=$config ;;
  esac
  # A userns-remap someone else set (in the original daemon.json: our backup's, or the file's
  # when we never wrote it) is an operator's remap with its own containers: taken over only when
  # asked (--take-over-remap yes); the report records it ("tookOver").
  took_over=$(remap_set_before "$config" "$user")
  if [ -n "$took_over" ] && [ "$take_over" != yes ]; then
    daemon_state
    fail "$EXIT_PRECONDITION" "$(foreign_remap_refusal "$config" "$user" "$take_over"): nothing changed"
  fi
  [ -z "$took_over" ] || say "$action: taking over the userns-remap to \"$took_over\" (asked for)"
  # Keys an earlier apply set that --options no longer has.
  drop_keys=()
  if [ -f "$keys_marker" ]; then
    while IFS= read -r k; do
      [ -n "$k" ] || continue
      [[ " ${option_keys[*]+"${option_keys[*]}"} " == *" $k "* ]] || drop_keys+=("$k")
    done < "$keys_marker"
  fi
  drop_json=$(printf '%s\n' "${drop_keys[@]+"${drop_keys[@]}"}" | awk 'BEGIN { printf "[" } NF { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); printf "%s\"%s\"", (n++ ? "," : ""), $0 } END { printf "]" }')
  original=-; [ ! -e "$backup" ] || original=$backup
  [ ${#drop_keys[@]} -eq 0 ] || say "$action: no longer managed, back to the original or removed: ${drop_keys[*]}"
  merge_result=$(json merge "$src" "$config" "$options" "$user" "$work/new" "$drop_json" "$original") || fail "$EXIT_MALFORMED" "$merge_result"
  changed=0; [ "$merge_result" = changed ] && changed=1
  [ "$config_state" != absent ] || changed=1
  say "$action: $config $([ "$changed" = 1 ] && echo "needs changes" || echo "already as wanted")"
  mapfile -t new_keys < <(json keys "$work/new" "$work/new")
  [ "$action" != apply ] || check_room

  installed=0
  if [ "$docker_installed" != 1 ] && [ "$action" = apply ]; then
    install_docker
    installed=1
  fi
  if [ "$action" = apply ] && [ "$install" = yes ] && [ -z "$(find_static_busybox)" ]; then
    case " $distro_id $distro_like " in
      *" debian "*|*" ubuntu "*) bb=busybox-static ;;
      *) bb=busybox ;;
    esac
    install_packages "$bb" || fail "$EXIT_PACKAGES" "installing $bb (verification's test image) failed"
    [ -n "$(find_static_busybox)" ] || say "warning: $bb gave no static busybox: verification needs an --image on this host"
  fi

  detect_flags
  mapfile -t dups < <(duplicates_of "${new_keys[@]}" | grep . || true)
  if [ ${#dups[@]} -gt 0 ]; then
    fail "$EXIT_PRECONDITION" "dockerd is started with flags that set $(IFS=,; echo "${dups[*]}") (from ${flags_source:-?}: $flags_text); dockerd refuses to start when a setting is both a flag and in $config: remove the flag or leave the key out of --options"
  fi
  if [ -n "$flag_config_file" ] && [ "$flag_config_file" != "$config" ]; then
    fail "$EXIT_PRECONDITION" "dockerd is started with --config-file $flag_config_file (from $flags_source), not $config: set HH_DOCKER_CONFIG=$flag_config_file"
  fi

  daemon_state
  remapped_to_user=0
  if [ "$daemon_running" = 1 ] && userns_active && [[ "$root_dir" == */"$uid_start.$gid_start" ]]; then remapped_to_user=1; fi
  restart_needed=0
  if [ "$changed" = 1 ] || [ "$remapped_to_user" = 0 ]; then restart_needed=1; fi
  invisible=()
  if [ "$restart_needed" = 1 ] && [ "$remapped_to_user" = 0 ] && [ ${#all_names[@]} -gt 0 ]; then
    invisible=("${all_names[@]}")
    say "note: the daemon's root becomes <data-root>/$uid_start.$gid_start: ${#all_names[@]} container(s) and all images under the current root stop being visible: ${all_names[*]}"
  fi
  if [ "$restart_needed" = 1 ] && [ ${#running_names[@]} -gt 0 ]; then
    say "note: the restart stops ${#running_names[@]} running container(s): ${running_names[*]}"
    [ "$require_none" != yes ] || fail "$EXIT_PRECONDITION" "--require-no-containers yes and ${#running_names[@]} container(s) run: ${running_names[*]}; nothing was changed"
  fi
  # --containers refuse: no switch that stops running containers or hides existing ones, naming
  # them (stop: do it, the report's runningBefore and invisibleContainers record it).
  if [ "$action" = apply ] && [ "$restart_needed" = 1 ]; then
    refusal=$(containers_refusal "$containers_mode" "${#running_names[@]}" "${#invisible[@]}" "${running_names[*]+"${running_names[*]}"}" "${invisible[*]+"${invisible[*]}"}")
    [ -z "$refusal" ] || fail "$EXIT_PRECONDITION" "$refusal: nothing changed"
  fi
  pick_restart_method
  [ "$restart_needed" = 0 ] || [ -n "$restart_method" ] || [ "$action" = plan ] ||
    fail "$EXIT_PRECONDITION" "no way to restart docker here (init: $init_system, no systemd, service or rc-service): set HH_DOCKER_RESTART_HOOK"
}

# plan: what apply would do, as JSON.
report_plan() {
  local new_text
  new_text=$(cat "$work/new"; printf x)
  printf '{"ok":true,"action":"plan","config":%s,"changed":%s,"restartNeeded":%s,"dockerInstalled":%s,"newConfig":%s,"runningContainers":%s,"invisibleContainers":%s,"expectedRootSuffix":%s,"tookOver":%s}\n' \
    "$(json_str "$config")" "$(json_bool "$changed")" "$(json_bool "$restart_needed")" "$(json_bool "$docker_installed")" "$(json_str "${new_text%x}")" \
    "$(json_list "${running_names[@]+"${running_names[@]}"}")" "$(json_list "${invisible[@]+"${invisible[@]}"}")" "$(json_str "$uid_start.$gid_start")" \
    "$( [ -n "$took_over" ] && json_str "$took_over" || echo null)"
}

# ---------------------------------------------------------------------------------------------
# apply: the remap user and group (system accounts, no home, no login, no subordinate IDs of
# their own: the ranges come from subids-host.sh).
apply_change() {
  user_created=0
  made_dir=0 made_backup=0 made_marker=0 wrote_config=0 made_stack_marker=0 config_dir=${config%/*}
  : > "$work/accounts"
  # A step that fails midway: everything this run did is undone (the config, its backup and
  # marker, the accounts it created, a folder it made, temp files), then the failure names why.
  undo_apply() { # undo_apply REASON
    local reason=$1 kind name
    say "error: $reason: undoing this run"
    if [ "$wrote_config" = 1 ]; then
      if [ "$config_state" = absent ]; then rm -f "$config"; else put_file "$work/previous" "$config" || say "undo: could not put $config back: $PUT_FILE_ERROR"; fi
    fi
    [ "$made_backup" = 0 ] || rm -f "$backup"
    [ "$made_marker" = 0 ] || rm -f "$created_marker"
    [ "$made_stack_marker" = 0 ] || rm -f "$stack_marker"
    if [ -s "$work/accounts" ]; then
      while read -r kind name; do
        case "$kind" in
          user|group) delete_account "$kind" "$name" || say "undo: deleting $kind $name failed" ;;
        esac
      done < <(tac "$work/accounts")
      # Our record of them: back to what it was before this run.
      if [ -e "$work/user_marker.before" ]; then cat "$work/user_marker.before" > "$user_marker" 2>/dev/null || true; else rm -f "$user_marker"; fi
    fi
    rm -f -- "$config_dir/.${config##*/}.hh."* 2>/dev/null || true
    [ "$made_dir" = 0 ] || rmdir "$config_dir" 2>/dev/null || true
    fail "$EXIT_FAILED" "$reason: nothing changed (this run's writes and accounts were undone)"
  }
  [ ! -e "$user_marker" ] || cp -p "$user_marker" "$work/user_marker.before"
  if ! getent group "$user" >/dev/null; then
    groupadd --system "$user" >&2 || undo_apply "groupadd --system $user failed"
    echo "group $user" >> "$work/accounts"
    say "apply: created group $user"
  fi
  if ! getent passwd "$user" >/dev/null; then
    subuid_before=$(cksum < /etc/subuid 2>/dev/null || true)
    nologin=/usr/sbin/nologin; [ -x "$nologin" ] || nologin=/sbin/nologin
    useradd --system --no-create-home --shell "$nologin" --gid "$user" \
      -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$user" >&2 || undo_apply "useradd --system $user failed"
    [ "$(cksum < /etc/subuid 2>/dev/null || true)" = "$subuid_before" ] || say "warning: useradd changed /etc/subuid"
    echo "user $user" >> "$work/accounts"
    user_created=1
    say "apply: created system user $user"
  fi
  [ "$(id -u "$user")" != 0 ] || fail "$EXIT_PRECONDITION" "user $user has UID 0: refusing to remap to it"
  user_uid=$(id -u "$user") user_gid=$(getent group "$user" | cut -d: -f3)

  validated_by="JSON syntax only (dockerd ${docker_version:-?} has no --validate)"
  if [ "$changed" = 1 ] && [ "$validate_supported" = 1 ]; then
    if ! vmsg=$(dockerd --validate --config-file "$work/new" 2>&1); then
      fail "$EXIT_REJECTED" "dockerd --validate rejects the new $config (nothing was written): $vmsg"
    fi
    validated_by="dockerd --validate"
  fi

  if [ "$changed" = 1 ]; then
    if [ ! -d "$config_dir" ]; then
      mkdir -p "$config_dir" 2>/dev/null || undo_apply "cannot create $config_dir"
      chmod 0755 "$config_dir"; made_dir=1
    fi
    if [ "$config_state" = absent ]; then
      if [ ! -e "$created_marker" ]; then
        made_marker=1
        { if [ "$made_dir" = 1 ]; then echo dir > "$created_marker"; else : > "$created_marker"; fi; } 2>/dev/null ||
          undo_apply "no space left on $config_dir (writing $created_marker failed)"
      fi
    elif [ ! -e "$backup" ] && [ ! -e "$created_marker" ]; then
      # The first change only: destroy must find the true original.
      made_backup=1
      put_file "$config" "$backup" "$config" || undo_apply "$PUT_FILE_ERROR"
      say "apply: kept the original as $backup"
    fi
    [ "$config_state" = absent ] || cp -p "$config" "$work/previous"
    put_file "$work/new" "$config" || undo_apply "$PUT_FILE_ERROR"
    wrote_config=1
    say "apply: wrote $config"
  fi
  if [ -n "$stack" ] && [ "$(settings_owner)" != "$stack" ] && { [ -e "$backup" ] || [ -e "$created_marker" ] || [ "$wrote_config" = 1 ]; }; then
    # This stack owns the settings it wrote (or adopts those written before stacks were named).
    [ -d "$config_dir" ] || { mkdir -p "$config_dir" 2>/dev/null || undo_apply "cannot create $config_dir"; chmod 0755 "$config_dir"; made_dir=1; }
    made_stack_marker=1
    printf '%s\n' "$stack" > "$work/stack"
    put_file "$work/stack" "$stack_marker" || undo_apply "$PUT_FILE_ERROR (recording the owning stack)"
  fi
  if [ -s "$work/accounts" ]; then
    # The accounts this run created, for remove --delete-user yes and the subids step's remove
    # (kept even if the restart fails: they are recorded as ours).
    if [ ! -d "$config_dir" ]; then
      mkdir -p "$config_dir" 2>/dev/null || undo_apply "cannot create $config_dir"
      chmod 0755 "$config_dir"; made_dir=1
    fi
    { cat "$user_marker" 2>/dev/null || true; cat "$work/accounts"; } > "$work/user_marker.new"
    put_file "$work/user_marker.new" "$user_marker" || undo_apply "$PUT_FILE_ERROR (recording the accounts created)"
  fi

  rollback() { # put the config as it was before this run
    if [ "$changed" = 1 ]; then
      if [ "$config_state" = absent ]; then rm -f "$config"; else put_file "$work/previous" "$config"; fi
      [ "$made_backup" = 0 ] || rm -f "$backup"
      [ "$made_marker" = 0 ] || rm -f "$created_marker"
      [ "$made_dir" = 0 ] || [ -e "$user_marker" ] || rmdir "$config_dir" 2>/dev/null || true
    fi
  }
  restart_failed() { # restart_failed REASON
    local reason=$1 err
    err=$(daemon_error_text)
    if [ "$changed" = 1 ]; then
      say "docker did not come back: putting the previous $config back"
      rollback
      if restart_docker; then
        fail_extra=',"rolledBack":true,"daemonServing":true'
        fail "$EXIT_ROLLED_BACK" "$reason; $config was restored and docker serves again with it. dockerd said: $err"
      fi
      fail_extra=',"rolledBack":true,"daemonServing":false'
      fail "$EXIT_BROKEN" "$reason, and docker does not serve after $config was restored either: docker is DOWN. dockerd said: $err / after rollback: $(daemon_error_text)"
    fi
    fail_extra=',"rolledBack":false,"daemonServing":false'
    fail "$EXIT_ROLLED_BACK" "$reason ($config was not changed by this run). dockerd said: $err"
  }

  restarted=0
  running_before=("${running_names[@]+"${running_names[@]}"}")
  if [ "$restart_needed" = 1 ]; then
    restart_docker || restart_failed "docker did not come back after the restart with the new $config"
    restarted=1
    daemon_state
    if ! userns_active || [[ "$root_dir" != */"$uid_start.$gid_start" ]]; then
      restart_failed "docker restarted but does not run remapped to $user (security options $security_options, root $root_dir): does it read $config?"
    fi
    say "apply: docker serves with userns-remap $user, root $root_dir"
  else
    say "apply: nothing to do"
  fi
  # The keys this apply manages, for the next apply to take out the ones it drops.
  if [ ${#option_keys[@]} -gt 0 ]; then
    printf '%s\n' "${option_keys[@]}" > "$work/keys"
    put_file "$work/keys" "$keys_marker"
  else
    rm -f "$keys_marker"
  fi
  seconds=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  printf '{"ok":true,"action":"apply","config":%s,"changed":%s,"restarted":%s,"installed":%s,"jsonTool":%s,"validatedBy":%s,' \
    "$(json_str "$config")" "$(json_bool "$changed")" "$(json_bool "$restarted")" "$(json_bool "$installed")" "$(json_str "$json_tool")" "$(json_str "$validated_by")"
  printf '"backup":%s,"user":{"name":%s,"uid":%s,"gid":%s,"created":%s,"subuid":{"start":%s,"count":%s},"subgid":{"start":%s,"count":%s}},' \
    "$( [ -e "$backup" ] && json_str "$backup" || echo null)" "$(json_str "$user")" "$user_uid" "$user_gid" "$(json_bool "$user_created")" \
    "$uid_start" "$uid_count" "$gid_start" "$gid_count"
  printf '"runningBefore":%s,"invisibleContainers":%s,"tookOver":%s,"securityOptions":%s,"dockerRootDir":%s,"seconds":%s}\n' \
    "$(json_list "${running_before[@]+"${running_before[@]}"}")" "$(json_list "${invisible[@]+"${invisible[@]}"}")" \
    "$( [ -n "$took_over" ] && json_str "$took_over" || echo null)" "$security_options" "$(json_str "$root_dir")" "$seconds"
}

main() {
  parse_args "$@"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  detect_host
  case "$action" in
    facts) cmd_facts ;;
    remove) need_json_tool; cmd_remove ;;
    plan) need_json_tool; check_options; plan_change; report_plan ;;
    apply) need_json_tool; check_options; plan_change; apply_change ;;
  esac
}

main "$@"
} </dev/null
