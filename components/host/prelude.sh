# shellcheck shell=bash disable=SC2034 # everything here is defined for the script that follows
# The prelude of every host script. components/host/script.ts sends it ahead of the script on the
# same stdin (`bash -s -- ARGS`); a script run from its file sources it (tests, by hand):
#
#   # shellcheck source=SCRIPTDIR/../host/prelude.sh
#   [ "${HH_PRELUDE:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/../host/prelude.sh"
#
# It only defines things (nothing here runs a command or reads stdin: the script's text follows
# on it): the exit codes of every script, the output helpers, and the readers several scripts
# share. A script sets TOOL (the prefix of its stderr lines) before its first say.
HH_PRELUDE=1

# Exit codes: one table for every host script. components/host/exit-codes.ts reads these lines
# ("readonly EXIT_<NAME>=<code> # <meaning>") to word a failed step's error.
readonly EXIT_OK=0 # done
readonly EXIT_FAILED=1 # unexpected failure (stderr names the step)
readonly EXIT_USAGE=2 # bad arguments: nothing was read or written
readonly EXIT_PRECONDITION=3 # a precondition or a conflict with what the host holds: nothing was written
readonly EXIT_MALFORMED=4 # a file on the host is malformed or a dangling link: nothing was written
readonly EXIT_REJECTED=5 # the runtime's own validation rejected the new configuration: nothing was written
readonly EXIT_ROLLED_BACK=6 # the runtime did not come back after the change: the old configuration was put back and it serves again
readonly EXIT_BROKEN=7 # the runtime did not come back, and not after the rollback either: needs a person
readonly EXIT_PACKAGES=8 # packages are missing (and installing is off) or installing them failed
readonly EXIT_NOT_RUNNING=9 # the runtime did not come up as the user (its info command failed or is not rootless)
readonly EXIT_UNSUPPORTED=10 # the host cannot run this runtime as it is (user namespaces, /dev/net/tun, runtime dir, systemd user manager)

# Output that reaches Pulumi must be UTF-8 (the Command provider's outputs are protobuf strings:
# anything else fails the RPC after the script ran) and logged lines short (its log reader stops
# at a line over 64 KiB and the command never returns): host data (file lines, names) may be neither.
utf8_clean() { if command -v iconv >/dev/null 2>&1; then iconv -f UTF-8 -t UTF-8 -c 2>/dev/null || true; else LC_ALL=C tr -d '\200-\377'; fi; }
short() { local m=$1; [ "${#m}" -le 2000 ] || m="${m:0:2000}... (cut at 2000 characters)"; printf '%s' "$m" | utf8_clean; }
say() { printf '%s: %s\n' "$TOOL" "$(short "$*")" >&2; }
# Lists in a report name at most this many items (and count the rest): a report is one JSON line,
# and it must stay far from the 64 KiB a line may have in a Command provider's log reader.
readonly LIST_MAX=20

# JSON: strings escaped (control characters other than \n \r \t dropped) and UTF-8.
json_escape() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}; s=${s//$'\r'/\\r}
  printf '%s' "${s//[$'\001'-$'\037']/}" | utf8_clean
}
jstr() { printf '"%s"' "$(json_escape "$1")"; }
jstr_or_null() { if [ -n "$1" ]; then jstr "$1"; else printf 'null'; fi; }
jnum_or_null() { if [[ "$1" =~ ^-?[0-9]+$ ]]; then printf '%s' "$1"; else printf 'null'; fi; }
jbool() { if [ "$1" = yes ] || [ "$1" = true ] || [ "$1" = 1 ]; then printf 'true'; else printf 'false'; fi; }
json_list() { local first=1 s; printf '['; for s in "$@"; do [ $first = 1 ] || printf ','; first=0; jstr "$s"; done; printf ']'; }

# The one way a script fails: the message on stderr, then the failure report on stdout
# ({"ok":false,"action","exitCode","error"} and the members the script's optional fail_fields
# prints, as ',"name":value'), then exit CODE (one of the EXIT_ codes above).
fail() { # fail CODE MESSAGE...
  local code=$1 extra=""; shift
  trap - ERR
  say "error: $*"
  if declare -F fail_fields >/dev/null; then extra=$(fail_fields); fi
  printf '{"ok":false,"action":%s,"exitCode":%s,"error":%s%s}\n' "$(jstr_or_null "${action:-}")" "$code" "$(jstr "$*")" "$extra"
  exit "$code"
}
# For `trap 'on_error $? $LINENO "$BASH_COMMAND"' ERR` (set -E): a command that failed unexpectedly.
on_error() { fail "$EXIT_FAILED" "unexpected failure (exit $1) at line $2: $3"; }

# Verification (verify.sh) builds its throw-away test image from a static busybox on the host
# (it never pulls): a minimal host has none, so apply --install yes installs one, as it installs
# the runtime. A dynamic busybox does not do (the image has no libc).
find_static_busybox() {
  local p out
  for p in /bin/busybox /usr/bin/busybox /sbin/busybox /usr/sbin/busybox; do
    [ -x "$p" ] || continue
    command -v ldd >/dev/null 2>&1 || { echo "$p"; return; }
    out=$(LC_ALL=C ldd "$p" 2>&1 || true)
    if [[ "$out" == *"not a dynamic executable"* || "$out" == *"statically linked"* ]]; then echo "$p"; return; fi
  done
}

# How the host's own tools read /etc/subuid, /etc/subgid, /etc/passwd and /etc/group, as awk
# functions for the scripts' awk programs (subids-host.sh, verify.sh); the differential tests
# hold them to the hosts' getsubids and getent on generated files. Run with LC_ALL=C: lengths
# are bytes, as in C.
# BEGIN shadow-awk
readonly SHADOW_AWK='
  # strtoul(3): leading isspace, one sign, then base 0 (0x hex, 0 octal, else decimal) or 10;
  # the whole string must be the number and fit 64 bits (ERANGE otherwise), a negative value
  # wraps (2^64 - v). Exact to 2^64 with two 32-bit halves (awk numbers are doubles). Returns 1
  # and sets SV (the value; exact below 2^53), SV_HI (its high 32 bits), SV_TEXT (its exact
  # decimal digits) and SV_NEG (1: a "-" before a non-zero number), or returns 0.
  function strtoul(s, base,   neg, i, c) {
    sub(/^[ \t\n\r\f\v]+/, "", s)
    neg = 0
    if (s ~ /^[-+]/) { neg = (substr(s, 1, 1) == "-"); s = substr(s, 2) }
    if (base == 0) {
      if (s ~ /^0[xX][0-9a-fA-F]+$/) { base = 16; s = substr(s, 3) }
      else if (s ~ /^0/) base = 8
      else base = 10
    }
    if (base == 16 ? s !~ /^[0-9a-fA-F]+$/ : base == 8 ? s !~ /^[0-7]+$/ : s !~ /^[0-9]+$/) return 0
    s = tolower(s); SV_HI = 0; SV = 0
    for (i = 1; i <= length(s); i++) {
      SV = SV * base + index("0123456789abcdef", substr(s, i, 1)) - 1
      c = int(SV / 4294967296); SV -= c * 4294967296
      SV_HI = SV_HI * base + c
      if (SV_HI >= 4294967296) return 0
    }
    SV_NEG = neg && (SV_HI > 0 || SV > 0)
    if (SV_NEG) {
      SV_HI = 4294967295 - SV_HI; SV = 4294967296 - SV
      if (SV == 4294967296) { SV = 0; SV_HI++ }
    }
    SV_TEXT = u64text(SV_HI, SV)
    SV = SV_HI * 4294967296 + SV
    return 1
  }
  # The decimal digits of hi * 2^32 + lo, exactly: base-10^6 limbs, multiplied by 2^16 twice.
  function u64text(hi, lo,   d, n, i, k, c, t) {
    if (hi == 0) return sprintf("%.0f", lo)
    n = 0; t = hi
    while (t > 0) { d[++n] = t % 1000000; t = int(t / 1000000) }
    for (k = 0; k < 2; k++) {
      c = 0
      for (i = 1; i <= n; i++) { t = d[i] * 65536 + c; d[i] = t % 1000000; c = int(t / 1000000) }
      while (c > 0) { d[++n] = c % 1000000; c = int(c / 1000000) }
    }
    c = lo
    for (i = 1; i <= n || c > 0; i++) { t = (i <= n ? d[i] : 0) + c; d[i] = t % 1000000; c = int(t / 1000000); if (i > n) n = i }
    t = sprintf("%.0f", d[n])
    for (i = n - 1; i >= 1; i--) t = t sprintf("%06d", d[i])
    return t
  }
  # A /etc/subuid or /etc/subgid line as shadow reads it (commonio_open, subordinate_parse): no
  # NIS line ("+"/"-" first), under 1024 bytes, the first three ":"-separated fields non-empty
  # (more are ignored), start and count as getulong reads them (strtoul base 0, all of it).
  # Returns 1 and sets E_OWNER, E_START, E_COUNT and E_NEG, or returns 0 (the line is no entry).
  # shadow 4.13 (bookworm) wraps a negative number (-1 is 2^64-1); 4.17 (trixie) refuses a "-"
  # before a non-zero number: such a line (E_NEG) is an entry to the first only, and we read it
  # as one, so a range one of them sees is never missed.
  function subid_entry(l,   f) {
    if (l ~ /^[-+]/ || length(l) >= 1024) return 0
    if (split(l, f, ":") < 3 || f[1] == "" || f[2] == "" || f[3] == "") return 0
    if (!strtoul(f[2], 0)) return 0
    E_START = SV; E_START_TEXT = SV_TEXT; E_NEG = SV_NEG
    if (!strtoul(f[3], 0)) return 0
    E_COUNT = SV; E_COUNT_TEXT = SV_TEXT; E_OWNER = f[1]; E_NEG = E_NEG || SV_NEG
    return 1
  }
  # An /etc/passwd (kind "user") or /etc/group ("group") line as glibc nss_files reads it:
  # leading isspace skipped, empty and "#" lines ignored, NIS "+"/"-" names no account (getpwuid
  # never answers with them); the ID (3rd field) and in passwd the GID (4th) base-10 strtoul
  # numbers up to 2^32-1, else the line is skipped. Returns 1 and sets A_NAME, A_ID, or returns 0.
  function account(l, kind,   f, n) {
    sub(/^[ \t\n\r\f\v]+/, "", l)
    if (l == "" || l ~ /^[#+-]/) return 0
    n = split(l, f, ":")
    if (n < 3 || !strtoul(f[3], 10) || SV_HI > 0) return 0
    A_ID = SV
    if (kind == "user" && (n < 4 || !strtoul(f[4], 10) || SV_HI > 0)) return 0
    A_NAME = f[1]
    return 1
  }
'
# END shadow-awk

# ---------------------------------------------------------------------------------------------
# Host actions several scripts take (docker-remap.sh, podman-auto.sh).
# The distribution, from os-release (read_os_release sets these).
distro_id="" distro_version="" distro_like=""
# Packages install_packages installed in this run (reports list them).
installed_packages=()
read_os_release() {
  local f=/etc/os-release
  [ -r "$f" ] || f=/usr/lib/os-release
  [ -r "$f" ] || return 0
  distro_id=$(sed -n 's/^ID=//p' "$f" | tr -d '"'"'" | head -n 1)
  distro_version=$(sed -n 's/^VERSION_ID=//p' "$f" | tr -d '"'"'" | head -n 1)
  distro_like=$(sed -n 's/^ID_LIKE=//p' "$f" | tr -d '"'"'" | head -n 1)
}

# Files: atomic writes (temp file in the same folder, owner and mode of the file it replaces).
# A write that fails (no space left, say) leaves DEST as it was and no temp file: put_file returns
# non-zero with PUT_FILE_ERROR saying why ("no space left on /etc/docker"), for the caller to undo
# its earlier steps and fail naming it.
PUT_FILE_ERROR=""
put_file() { # put_file SRC DEST [REFERENCE]: DEST gets SRC's bytes atomically; a symlink DEST stays a link, its target is written
  local src=$1 dest=$2 ref=${3:-$2} tmp err
  PUT_FILE_ERROR=""
  [ -L "$dest" ] && dest=$(readlink -f -- "$dest")
  if ! tmp=$(mktemp "${dest%/*}/.${dest##*/}.hh.XXXXXX" 2>&1); then
    PUT_FILE_ERROR="cannot create a temp file in ${dest%/*}: ${tmp##*: }"; return 1
  fi
  if ! err=$( { cat -- "$src" > "$tmp"; } 2>&1 ); then
    rm -f -- "$tmp"
    case "$err" in
      *"No space left"*) PUT_FILE_ERROR="no space left on ${dest%/*}" ;;
      *) PUT_FILE_ERROR="writing ${dest} failed: ${err##*: }" ;;
    esac
    return 1
  fi
  if [ -e "$ref" ]; then
    chmod --reference="$ref" "$tmp" || { rm -f -- "$tmp"; PUT_FILE_ERROR="chmod of a temp file in ${dest%/*} failed"; return 1; }
    chown --reference="$ref" "$tmp" 2>/dev/null || true
  else
    chmod 0644 "$tmp"
  fi
  mv -f -- "$tmp" "$dest" || { rm -f -- "$tmp"; PUT_FILE_ERROR="renaming a temp file onto $dest failed"; return 1; }
}

# Why FILE is not one JSON object (dockerd's daemon.json), or nothing: a UTF-8 byte order mark is
# a problem (dockerd 20.10 does not start with one); python3's json module, else jq, reads the
# rest. Nothing either when neither tool is here (the runtime step installs or refuses then).
json_object_problem() { # json_object_problem FILE
  local f=$1 out
  if [ "$(head -c 3 -- "$f" | od -An -tx1 | tr -d ' \n')" = efbbbf ]; then
    echo "it starts with a UTF-8 byte order mark (dockerd 20.10 does not start with one): remove its first 3 bytes (EF BB BF)"; return 0
  fi
  # One python3 start (~30 ms), no probe first: exit 3 is ours (the answer is printed), anything
  # else means no usable python3, and jq is asked instead.
  local rc=0
  out=$(python3 -c '
import json, sys
try:
    v = json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))
except (ValueError, UnicodeDecodeError) as e:
    print(e); sys.exit(3)
if not isinstance(v, dict): print("the top-level value is not an object"); sys.exit(3)
sys.exit(3)' "$f" </dev/null 2>/dev/null) || rc=$?
  if [ "$rc" = 3 ]; then
    printf '%s' "${out%%$'\n'*}"
  elif jq --version </dev/null >/dev/null 2>&1; then
    out=$(jq -s 'if length != 1 then error("expected exactly one JSON value, found \(length)") elif (.[0] | type) != "object" then error("the top-level value is \(.[0] | type), not an object") else empty end' "$f" </dev/null 2>&1) || printf '%s\n' "${out#jq: error (at *): }" | head -n 1
  fi
  return 0
}

# Deleting an account (userdel, groupdel) without touching /etc/subuid and /etc/subgid: shadow's
# userdel also drops the user's subordinate ranges (and leaves /etc/subuid- behind), but those lines
# belong to the subids step, which removes them itself. The two files (and their "-" backups) are
# given their bytes back when userdel changed them. Returns userdel's status.
delete_account() { # delete_account user|group NAME
  local kind=$1 name=$2 f rc=0 snap
  snap=$(mktemp -d)
  for f in /etc/subuid /etc/subgid /etc/subuid- /etc/subgid-; do
    if [ -e "$f" ]; then cp -p -- "$f" "$snap/${f##*/}"; fi
  done
  if [ "$kind" = user ]; then userdel "$name" >&2 || rc=$?; else groupdel "$name" >&2 || rc=$?; fi
  for f in /etc/subuid /etc/subgid /etc/subuid- /etc/subgid-; do
    if [ -e "$snap/${f##*/}" ]; then
      cmp -s "$snap/${f##*/}" "$f" || put_file "$snap/${f##*/}" "$f" "$snap/${f##*/}" || say "could not give $f its bytes back: $PUT_FILE_ERROR"
    else
      rm -f -- "$f"
    fi
  done
  rm -rf -- "$snap"
  return "$rc"
}

lock_config() { # one apply/remove at a time per host
  command -v flock >/dev/null 2>&1 || return 0
  local dir=/run/lock
  [ -d "$dir" ] && [ -w "$dir" ] || dir=/tmp
  exec 9>> "$dir/hardened-hosts-$TOOL.lock"
  flock -w 300 9 || fail "$EXIT_PRECONDITION" "another $TOOL.sh run holds $dir/hardened-hosts-$TOOL.lock"
}

install_packages() { # install_packages PKG...: the distribution's package manager
  say "installing: $*"
  case " $distro_id $distro_like " in
    *" debian "*|*" ubuntu "*)
      # apt waits for the dpkg lock (another apt, or an earlier run of ours whose SSH session was
      # cut while apt went on, may hold it); a dpkg cut in the middle is finished first.
      if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "$@" </dev/null >&2 9>&-; then
        if [ -n "$(dpkg --audit 2>/dev/null)" ]; then
          say "dpkg was interrupted earlier: dpkg --configure -a"
          DEBIAN_FRONTEND=noninteractive dpkg --configure -a </dev/null >&2 9>&- || return 1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -q </dev/null >&2 9>&- || true
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "$@" </dev/null >&2 9>&- || return 1
      fi ;;
    *)
      if command -v dnf >/dev/null 2>&1; then dnf install -y "$@" </dev/null >&2 9>&- || return 1
      elif command -v yum >/dev/null 2>&1; then yum install -y "$@" </dev/null >&2 9>&- || return 1
      else say "no apt-get, dnf or yum on this host"; return 1
      fi ;;
  esac
  installed_packages+=("$@")
}
