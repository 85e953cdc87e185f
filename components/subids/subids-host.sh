#!/usr/bin/env bash
# Host side of the subordinate-ID plan: checks and writes our managed block in /etc/subuid and
# /etc/subgid, or removes it. Mirrors components/subids/format.ts (the tests run both on the
# same inputs and compare bytes).
#
#   subids-host.sh check  OWNER:START:COUNT... [OPTIONS]   read-only: conflicts as JSON, exit 3 if any
#   subids-host.sh apply  OWNER:START:COUNT... [OPTIONS]   check, then write both files (nothing if conflicts)
#   subids-host.sh remove [--stack PROJECT/STACK] [--delete-accounts RECORD]
#                                                remove our block (pulumi destroy); then delete the
#                                                accounts RECORD lists ("user NAME" / "group NAME"
#                                                lines, docker-remap.sh's record of the accounts it
#                                                created) that nothing else uses
#   subids-host.sh show                          read-only: the files as this script reads them,
#                                                as JSON (entries, accounts; for diagnosis and the
#                                                differential tests against the host's own tools)
#
# OPTIONS (check and apply, before or after the entries):
#   --stack P/S           the Pulumi project and stack this block belongs to: its markers name it
#                         ("# BEGIN hardened-hosts managed block of P/S (do not edit)"). Another
#                         stack's block is foreign: its lines are other owners' lines (an overlap,
#                         or the same range, is refused naming that stack; two stacks never share
#                         a range), and this stack's remove never touches it. A block with the
#                         markers of before (no stack named) is read as this stack's own when the
#                         file has none of its own, and gets its markers on the next apply.
#   --system NAME         NAME may be a system account (the userns-remap user or a pool owner the
#                         project makes): any other owner that is an existing account with a UID
#                         below login.defs' UID_MIN (default 1000), UID 65534 (nobody), or a numeric
#                         owner below UID_MIN is refused. Repeatable.
#   --docker-config PATH  the daemon.json the runtime step merges into next (userns-remap hosts):
#                         checked here, before this script writes anything, so a host whose
#                         daemon.json the next step would refuse is left as found: when it exists,
#                         it must be a regular file holding one JSON object, with no UTF-8 byte order
#                         mark (dockerd refuses one), and its folder must have room for it twice;
#                         with --stack, no other stack may own its settings (PATH.hardened-hosts.stack).
#                         With one --system owner (the remap user the runtime step switches dockerd
#                         to), what that step refuses is refused here first: an operator's remap
#                         unless --take-over-remap yes, and (--containers refuse, the default)
#                         containers the switch would stop or hide.
#   --containers refuse|stop, --take-over-remap yes|no   the runtime step's own settings (above)
# Before writing, the folders of both files must have room for the new text (with its backup);
# a write that fails anyway leaves no temp file and the files as they were.
#
# The same entries go into subuid and subgid: an owner gets identical UID and GID ranges.
# A conflict is a planned range that overlaps a line outside our block (unless it is the very
# same owner:start:count, which is reported as "present" and not written twice), another range
# of the same owner outside our block, or a real account's UID (passwd) / group's GID (group).
# HH_ETC (default /etc) names the directory holding subuid, subgid, passwd and group; tests use it.
#
# stdout: one JSON object (a refused plan: {"ok":false,...,"conflicts","present"}). stderr: one
# line per step. Exit (components/host/prelude.sh): 0 ok; EXIT_USAGE bad arguments;
# EXIT_PRECONDITION conflicts (nothing written); EXIT_MALFORMED the files' markers are damaged
# (nothing written).
set -euo pipefail
# The shared prelude (components/host/prelude.sh: exit codes, output helpers, shared readers)
# comes ahead of this script on stdin; run from its file, the script sources it.
# shellcheck source=SCRIPTDIR/../host/prelude.sh
[ "${HH_PRELUDE:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/../host/prelude.sh"
# Its part (components/host/script.ts SCRIPT_PARTS): what the runtime step refuses on a userns-remap host.
# shellcheck source=SCRIPTDIR/../docker/docker-switch.sh
[ "${HH_DOCKER_SWITCH:-}" = 1 ] || . "$(dirname -- "${BASH_SOURCE[0]}")/../docker/docker-switch.sh"
readonly TOOL=subids

# The markers of a block written without --stack (and by every version before stacks were named).
readonly LEGACY_BEGIN="# BEGIN hardened-hosts managed block (do not edit)"
readonly LEGACY_END="# END hardened-hosts managed block"
readonly LEGACY_END_NL="# END hardened-hosts managed block (final newline added)"
# Ours: with --stack PROJECT/STACK the markers name the stack ("... managed block of p/s ..."),
# so that several stacks' blocks live side by side in one file (set_markers).
BEGIN_MARK=$LEGACY_BEGIN END_MARK=$LEGACY_END END_MARK_NL=$LEGACY_END_NL
readonly MAX_LAST_ID=4294967294 # uid 4294967295 is (uid_t)-1, never valid
etc="${HH_ETC:-/etc}"
# The owned list (our lines, one file per kind) lets us find our lines again after useradd has
# moved our markers. Tests that set HH_ETC keep it next to their files.
state="${HH_STATE_DIR:-}"
if [ -z "$state" ]; then
  if [ -n "${HH_ETC:-}" ]; then state="$HH_ETC/.hardened-hosts"; else state=/var/lib/hardened-hosts/subids; fi
fi


# Globals: action, entries and planned are set by parse_args; work by main; conflicts, present
# and repaired by plan_files; changed by write_files. The reports read them.
action="" planned="" work="" docker_config="" write_error="" accounts_record="" stack="" containers_mode=refuse take_over=no
deleted_accounts=() kept_accounts=()
entries=() conflicts=() present=() changed=() repaired=() system_owners=()

usage() { fail "$EXIT_USAGE" "usage: subids-host.sh check|apply [--stack P/S] [--system NAME]... [--docker-config PATH [--containers refuse|stop] [--take-over-remap yes|no]] OWNER:START:COUNT... | remove [--stack P/S] [--delete-accounts RECORD] | show"; }

# --stack P/S: Pulumi project and stack names (no ':' and no blank: a marker must never read as an
# entry, nor as another marker).
set_stack() {
  [[ "$1" =~ ^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$ ]] || fail "$EXIT_USAGE" "--stack '$1': expected PROJECT/STACK (letters, digits, . _ -)"
  stack=$1
  BEGIN_MARK="# BEGIN hardened-hosts managed block of $stack (do not edit)"
  END_MARK="# END hardened-hosts managed block of $stack"
  END_MARK_NL="# END hardened-hosts managed block of $stack (final newline added)"
}
# The owned list of this stack's lines (one per file kind): "NAME.owned" without --stack (and
# before stacks), "NAME.<project>+<stack>.owned" with it.
owned_list() { if [ -n "$stack" ]; then printf '%s/%s.%s.owned' "$state" "$1" "${stack//\//+}"; else printf '%s/%s.owned' "$state" "$1"; fi; }

# Every argument is checked before anything is read or written. Owner: a login name (as useradd
# accepts by default) or a numeric UID; numbers: plain decimal, no leading zeros.
parse_args() {
  local arg start count
  [ $# -ge 1 ] || usage
  action=$1; shift
  if [ "$action" = remove ]; then
    while [ $# -ge 1 ] && [[ "$1" == --* ]]; do
      [ $# -ge 2 ] || fail "$EXIT_USAGE" "$1 needs a value"
      case "$1" in
        --delete-accounts)
          [[ "$2" == /* ]] || fail "$EXIT_USAGE" "--delete-accounts needs an absolute PATH"
          accounts_record=$2 ;;
        --stack) set_stack "$2" ;;
        *) fail "$EXIT_USAGE" "remove does not take '$1' (it takes --stack P/S, --delete-accounts PATH)" ;;
      esac
      shift 2
    done
  fi
  if [ "$action" = check ] || [ "$action" = apply ]; then
    # Options may come before or after the entries (HostSubids puts the entries first, so that a
    # preview, which shortens long values, shows them).
    local rest=()
    while [ $# -ge 1 ]; do
      [[ "$1" == --* ]] || { rest+=("$1"); shift; continue; }
      case "$1" in
        --stack)
          [ $# -ge 2 ] || fail "$EXIT_USAGE" "--stack needs PROJECT/STACK"
          set_stack "$2"; shift 2 ;;
        --system)
          [ $# -ge 2 ] || fail "$EXIT_USAGE" "--system needs a NAME"
          [[ "$2" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || fail "$EXIT_USAGE" "--system '$2': expected a login name"
          system_owners+=("$2"); shift 2 ;;
        --docker-config)
          [ $# -ge 2 ] || fail "$EXIT_USAGE" "--docker-config needs a PATH"
          [[ "$2" == /* ]] || fail "$EXIT_USAGE" "--docker-config '$2': expected an absolute path"
          docker_config=$2; shift 2 ;;
        --containers)
          case "${2:-}" in refuse|stop) ;; *) fail "$EXIT_USAGE" "--containers must be refuse or stop" ;; esac
          containers_mode=$2; shift 2 ;;
        --take-over-remap)
          case "${2:-}" in yes|no) ;; *) fail "$EXIT_USAGE" "--take-over-remap must be yes or no" ;; esac
          take_over=$2; shift 2 ;;
        *) fail "$EXIT_USAGE" "$action does not take '$1' (it takes --stack P/S, --system NAME, --docker-config PATH, --containers refuse|stop, --take-over-remap yes|no)" ;;
      esac
    done
    set -- ${rest[@]+"${rest[@]}"}
  fi
  case "$action" in
    check|apply) [ $# -ge 1 ] || fail "$EXIT_USAGE" "$action needs at least one OWNER:START:COUNT" ;;
    remove|show) [ $# -eq 0 ] || fail "$EXIT_USAGE" "$action takes no entries" ;;
    *) usage ;;
  esac
  for arg in "$@"; do
    if [[ ! "$arg" =~ ^([a-z_][a-z0-9_-]{0,30}[a-z0-9_$-]?|[0-9]+):(0|[1-9][0-9]{0,9}):([1-9][0-9]{0,9})$ ]]; then
      fail "$EXIT_USAGE" "entry '$arg': expected OWNER:START:COUNT (owner a login name or UID, decimal numbers, count > 0)"
    fi
    start=${BASH_REMATCH[2]} count=${BASH_REMATCH[3]}
    if (( start + count - 1 > MAX_LAST_ID )); then
      fail "$EXIT_USAGE" "entry '$arg': range ends at $(( start + count - 1 )), past the last valid ID $MAX_LAST_ID"
    fi
    entries+=("$arg")
  done
  planned="${entries[*]:-}"
}


# One awk program does the reading: it parses a subuid/subgid file like shadow does (lines
# outside our block with three ':'-separated fields and numeric 2nd/3rd are entries; anything
# else is kept verbatim), checks the plan against it and the account IDs, and renders the new text.
# Our lines are the block's. When the markers are damaged (useradd re-sorts /etc/subuid and moves
# every comment line, our markers included, to the end) or gone, our lines are recognised from the
# owned list this script keeps on the host instead, and the block is rebuilt at the end of the file.
# Output: "conflict\t<message>", "present\t<entry>", "repaired\t<message>", "marker\t<message>"
# lines, then "text" followed by the new file content.
plan_file() { # plan_file <file> <kind: user|group> <action> <display name> <owned list> <1: that list is of before stacks>
  local file=$1 kind=$2 act=$3 display=$4 ownedf=$5
  LC_ALL=C awk -v planned="$planned" -v act="$act" -v ownedf="$ownedf" -v pwfile="$work/passwd" -v grfile="$work/group" \
      -v hadnl="$(has_final_newline "$file")" -v kind="$kind" -v fname="$display" \
      -v B="$BEGIN_MARK" -v E="$END_MARK" -v ENL="$END_MARK_NL" -v legacyown="$6" \
      -v LB="$LEGACY_BEGIN" -v LE="$LEGACY_END" -v LENL="$LEGACY_END_NL" "$SHADOW_AWK"'
    function overl(s1, c1, s2, c2) { return s1 < s2 + c2 && s2 < s1 + c1 }
    # Where a foreign line sits: inside another stack'"'"'s block ("of P/S"), one from before stacks
    # were named, or outside every block ("").
    function inblock(i) { return blk[i] == "" ? "" : " of " (blk[i] == "-" ? "a hardened-hosts block that names no stack" : "stack " blk[i] "'"'"'s block") }
    # mawk prints numbers past 2^31 as 2.14748e+09: numbers are printed with %.0f, exact to 2^53.
    function num(x) { return sprintf("%.0f", x) }
    function rng(j) { return num(ps[j]) "-" num(ps[j] + pc[j] - 1) }
    # Accounts: the IDs the range must not contain (users for subuid, groups for subgid), and
    # the first UID (GID) of each name, as getpwnam (getgrnam) would answer.
    BEGIN {
      while ((getline l < pwfile) > 0) if (account(l, "user")) {
        if (kind == "user") { aid[++nids] = A_ID; aname[nids] = A_NAME }
        if (!(A_NAME in uidof)) uidof[A_NAME] = num(A_ID)
      }
      while ((getline l < grfile) > 0) if (account(l, "group")) {
        if (kind == "group") { aid[++nids] = A_ID; aname[nids] = A_NAME }
        if (!(A_NAME in gidof)) gidof[A_NAME] = num(A_ID)
      }
    }
    # Lines of the planned owner j: its name, or its UID (getsubids, newuidmap, Docker and
    # containers/storage all read those too); in subgid also the GID of its group (getsubids -g).
    function owns(o, j) {
      return o == po[j] || (po[j] in uidof && o == uidof[po[j]]) || (kind == "group" && po[j] in gidof && o == gidof[po[j]])
    }
    { lines[++n] = $0 }
    END {
      np = split(planned, pl, " ")
      for (i = 1; i <= np; i++) { split(pl[i], p, ":"); po[i] = p[1]; ps[i] = p[2] + 0; pc[i] = p[3] + 0 }
      begin = 0; endl = 0; addednl = 0; nb = 0; ne = 0
      for (i = 1; i <= n; i++) {
        if (lines[i] == B) { nb++; begin = i }
        else if (lines[i] == E || lines[i] == ENL) { ne++; endl = i; addednl = (lines[i] == ENL) }
      }
      # With --stack and no block of our own yet: a block with the markers of before stacks were
      # named is ours (an upgrade), and gets our markers when it is written.
      if (LB != B && nb == 0 && ne == 0) {
        lb = 0; le = 0
        for (i = 1; i <= n; i++) {
          if (lines[i] == LB) { lb++; lbeg = i }
          else if (lines[i] == LE || lines[i] == LENL) { le++; lend = i; laddednl = (lines[i] == LENL) }
        }
        if (lb == 1 && le == 1 && lbeg < lend) { begin = lbeg; endl = lend; addednl = laddednl; nb = 1; ne = 1 }
      }
      nown = 0
      while ((getline l < ownedf) > 0) if (l != "") { own[l] = 1; nown++ }
      intact = (nb == 0 && ne == 0) || (nb == 1 && ne == 1 && begin < endl)
      recover = !intact || (nb == 0 && nown > 0)
      if (recover && nown == 0) {
        print "marker\t" fname ": damaged hardened-hosts markers (BEGIN " nb "x, END " ne "x) and no owned list to recognise our lines: fix the file by hand"
        exit
      }
      for (i = 1; i <= n; i++) {
        if (recover) ours[i] = (lines[i] == B || lines[i] == E || lines[i] == ENL || (lines[i] in own) || (legacyown && (lines[i] == LB || lines[i] == LE || lines[i] == LENL)))
        else ours[i] = (begin && i >= begin && i <= endl)
        if (recover && ours[i]) nours++
      }
      # Other blocks: each line outside ours is attributed to the block it sits in, if any.
      cur = ""
      for (i = 1; i <= n; i++) {
        if (ours[i]) continue
        if (index(lines[i], "# BEGIN hardened-hosts managed block") == 1) {
          cur = lines[i]; sub(/^# BEGIN hardened-hosts managed block (of )?/, "", cur); sub(/ ?\(do not edit\)$/, "", cur)
          if (cur == "") cur = "-"
          continue
        }
        if (index(lines[i], "# END hardened-hosts managed block") == 1) { cur = ""; continue }
        blk[i] = cur
      }
      if (recover) { print "repaired\t" fname ": markers were moved (useradd re-sorts this file); recognised " nours " of our lines from the owned list"; begin = 0 }
      for (i = 1; i <= n; i++) {
        if (ours[i]) continue
        if (!subid_entry(lines[i])) continue
        fs = E_START; fc = E_COUNT
        for (j = 1; j <= np; j++) {
          mine = owns(E_OWNER, j)
          if (mine && fs == ps[j] && fc == pc[j] && blk[i] == "") { if (!present[j]) print "present\t" pl[j]; present[j] = 1; continue }
          if (mine && fs == ps[j] && fc == pc[j])
            print "conflict\t" fname ": planned " pl[j] " is line " i inblock(i) ": two stacks never share a range (give this stack another pool, or the owner another name)"
          else if (fc > 0 && overl(fs, fc, ps[j], pc[j]))
            print "conflict\t" fname ": planned " po[j] " " rng(j) " overlaps line " i " (" lines[i] ")" inblock(i)
          else if (mine)
            print "conflict\t" fname ": " po[j] (E_OWNER == po[j] ? "" : " (" (kind == "group" ? "UID or GID " : "UID ") E_OWNER ")") \
              " already has another range on line " i " (" lines[i] ")" inblock(i) "; remove it or plan that range"
        }
      }
      for (k = 1; k <= nids; k++)
        for (j = 1; j <= np; j++)
          if (aid[k] >= ps[j] && aid[k] < ps[j] + pc[j])
            print "conflict\t" fname ": planned " po[j] " " rng(j) " contains " kind " " aname[k] " (" num(aid[k]) ")"
      # Render: entries sorted by start (then owner), skipping the ones already present.
      m = 0
      if (act == "apply") for (j = 1; j <= np; j++) if (!present[j]) order[++m] = j
      for (x = 2; x <= m; x++) for (y = x; y > 1; y--) {
        a1 = order[y - 1]; b1 = order[y]
        if (ps[a1] > ps[b1] || (ps[a1] == ps[b1] && po[a1] > po[b1])) { order[y - 1] = b1; order[y] = a1 } else break
      }
      # Collect the output lines (appending to one string would be quadratic in mawk), then
      # decide the final newline the way format.ts does.
      no = 0; nl = hadnl
      if (begin) {
        for (i = 1; i < begin; i++) outl[++no] = lines[i]
        if (m > 0) { outl[++no] = B; for (x = 1; x <= m; x++) outl[++no] = pl[order[x]]; outl[++no] = (addednl ? ENL : E) }
        for (i = endl + 1; i <= n; i++) outl[++no] = lines[i]
        if (endl == n) nl = (m > 0) ? 1 : !addednl
      } else {
        kept = 0
        for (i = 1; i <= n; i++) if (!ours[i]) { outl[++no] = lines[i]; kept++ }
        # After a repair the file always ends in a newline (shadow wants one anyway).
        if (recover) nl = 1
        if (m > 0) {
          outl[++no] = B
          for (x = 1; x <= m; x++) outl[++no] = pl[order[x]]
          outl[++no] = (kept > 0 && !nl) ? ENL : E
          nl = 1
        }
      }
      print "text"
      for (k = 1; k < no; k++) print outl[k]
      if (no > 0) printf "%s%s", outl[no], (nl ? "\n" : "")
    }' "$file"
}

# awk reads the last line whether or not it ends in "\n"; we must know which, to give the bytes back.
has_final_newline() {
  [ -s "$1" ] || { echo 1; return; }
  if [ "$(tail -c 1 "$1" | od -An -tx1 | tr -d ' ')" = "0a" ]; then echo 1; else echo 0; fi
}

# Atomic replace: temp file in the same directory, same owner and mode, then rename; the
# previous version is kept next to it as <file>.hardened-hosts.bak. A symlinked file (config
# management keeps its copy elsewhere) stays a link: its target is the file written.
write_atomically() { # write_atomically <file> <new text file>; non-zero (write_error says why) when a step fails
  local file=$1 new=$2 err
  # Backups and markers stay next to the name in /etc; put_file (the prelude) writes the bytes
  # to the link's target, with the file's owner and mode.
  if [ -e "$file" ]; then
    err=$(cp -p -- "$file" "$file.hardened-hosts.bak" 2>&1) || { write_error="backing up $file failed: ${err##*: }"; return 1; }
  else
    err=$( { : > "$file.hardened-hosts.created"; } 2>&1) || { write_error="marking $file as created failed: ${err##*: }"; return 1; } # destroy deletes a file we created
  fi
  put_file "$new" "$file" || { write_error=$PUT_FILE_ERROR; return 1; }
}

# Keeps the owned list equal to the lines inside the new file's block (empty: list removed).
record_owned() { # record_owned <name> <new file text>; non-zero (write_error) when the list cannot be written
  local list tmp
  list=$(owned_list "$1")
  tmp="$work/$1.owned"
  awk -v B="$BEGIN_MARK" -v E="$END_MARK" -v ENL="$END_MARK_NL" \
    '$0 == B { inb = 1; next } $0 == E || $0 == ENL { inb = 0; next } inb { print }' "$2" > "$tmp"
  if [ -s "$tmp" ]; then
    if ! cmp -s "$tmp" "$list" 2>/dev/null; then
      mkdir -p "$state" 2>/dev/null || { write_error="cannot create $state"; return 1; }
      put_file "$tmp" "$list" || { write_error=$PUT_FILE_ERROR; return 1; }
    fi
  elif [ -e "$list" ]; then
    rm -f "$list"
  fi
  # An adopted block of before stacks: its list goes once no such block is left in the file.
  if [ -n "$stack" ] && [ -e "$state/$1.owned" ] && ! grep -qxF -- "$LEGACY_BEGIN" "$2"; then rm -f -- "$state/$1.owned"; fi
  if [ ! -s "$tmp" ] && [ -d "$state" ]; then
    rmdir "$state" 2>/dev/null || true
    [ -n "${HH_STATE_DIR:-}${HH_ETC:-}" ] || rmdir /var/lib/hardened-hosts 2>/dev/null || true
  fi
  return 0
}

# Before the first write: a copy of every path write_files may change (absent ones noted), so a
# write that fails midway can put them all back (rollback).
snapshot_paths() {
  local name p n=0
  mkdir -p "$work/undo"
  : > "$work/undo/list"
  for name in subuid subgid; do
    for p in "$etc/$name" "$etc/$name.hardened-hosts.bak" "$etc/$name.hardened-hosts.created" "$state/$name.owned" "$(owned_list "$name")"; do
      [ -L "$p" ] && p=$(readlink -f -- "$p")
      n=$(( n + 1 ))
      if [ -e "$p" ]; then cp -p -- "$p" "$work/undo/$n"; printf '%s\t%s\n' "$n" "$p"; else printf '%s\t%s\n' - "$p"; fi >> "$work/undo/list"
    done
  done
}
rollback() {
  local n p
  while IFS=$'\t' read -r n p; do
    if [ "$n" = - ]; then rm -f -- "$p"
    elif ! cmp -s "$work/undo/$n" "$p"; then put_file "$work/undo/$n" "$p" "$work/undo/$n" || say "rollback: could not put $p back: $PUT_FILE_ERROR"
    fi
  done < "$work/undo/list"
  # Temp files of a write that failed (put_file removes its own; these are of a killed run).
  rm -f -- "$etc"/.subuid.hh.* "$etc"/.subgid.hh.* 2>/dev/null || true
  rmdir "$state" 2>/dev/null || true
}

# The accounts: the files as nss_files reads them, then (on the host itself, not under HH_ETC)
# whatever else the host's name services enumerate (LDAP, systemd, ...). getent's listing alone
# is not enough: it stops at the first entry it cannot print (a ':' in a shell field).
load_accounts() {
  local db
  for db in passwd group; do
    { cat "$etc/$db" 2>/dev/null || true
      [ -n "${HH_ETC:-}" ] || timeout 30 getent "$db" 2>/dev/null || true; } > "$work/$db"
  done
}

# show: every entry of subuid and subgid ([line, owner, start, count, negative]) and every
# account ([line, name, ID]) exactly as the programs above read them.
cmd_show() {
  show_json() { # show_json <file> <reader: subid|user|group>
    LC_ALL=C awk -v reader="$2" "$SHADOW_AWK"'
      function jstr(s,   i, c, o) {
        o = ""
        for (i = 1; i <= length(s); i++) {
          c = substr(s, i, 1)
          if (c == "\\" || c == "\"") o = o "\\" c
          else if (c == "\t") o = o "\\t"
          else if (c == "\r") o = o "\\r"
          else if (c < " ") o = o "?"
          else o = o c
        }
        return "\"" o "\""
      }
      function num(x) { return sprintf("%.0f", x) }
      BEGIN { printf "[" }
      reader == "subid" && subid_entry($0) { printf "%s[%d,%s,\"%s\",\"%s\",%d]", (n++ ? "," : ""), NR, jstr(E_OWNER), E_START_TEXT, E_COUNT_TEXT, E_NEG }
      reader != "subid" && account($0, reader) { printf "%s[%d,%s,%s]", (n++ ? "," : ""), NR, jstr(A_NAME), num(A_ID) }
      END { printf "]" }' "$1"
  }
  src_of() { if [ -e "$1" ]; then printf '%s' "$1"; else printf /dev/null; fi; }
  printf '{"ok":true,"action":"show","subuid":%s,"subgid":%s,"users":%s,"groups":%s}\n' \
    "$(show_json "$(src_of "$etc/subuid")" subid | utf8_clean)" "$(show_json "$(src_of "$etc/subgid")" subid | utf8_clean)" \
    "$(show_json "$work/passwd" user | utf8_clean)" "$(show_json "$work/group" group | utf8_clean)"
}

# Reads both files against the plan: findings into the globals, the new texts into $work/NAME.new.
plan_files() {
  local name file kind src ownedf tag msg legacy
  for name in subuid subgid; do
    file="$etc/$name"
    kind=user; [ "$name" = subgid ] && kind=group
    src="$file"; [ -e "$file" ] || src=/dev/null
    say "$action: reading $file"
    # Our own list; with --stack and none yet, the list of before stacks (an upgrade adopts it).
    ownedf=$(owned_list "$name") legacy=0
    if [ ! -e "$ownedf" ] && [ -n "$stack" ] && [ -e "$state/$name.owned" ]; then ownedf="$state/$name.owned" legacy=1; fi
    [ -e "$ownedf" ] || ownedf=/dev/null
    plan_file "$src" "$kind" "$action" "$name" "$ownedf" "$legacy" > "$work/$name.out"
    # File text follows the "text" line; everything before it is findings.
    sed -n '/^text$/q;p' "$work/$name.out" > "$work/$name.findings"
    sed '0,/^text$/d' "$work/$name.out" > "$work/$name.new"
    if grep -q '^marker' "$work/$name.findings"; then
      fail "$EXIT_MALFORMED" "$(sed -n 's/^marker\t//p' "$work/$name.findings")"
    fi
    while IFS=$'\t' read -r tag msg; do
      case "$tag" in
        conflict) conflicts+=("$msg") ;;
        present) present+=("$name:$msg") ;;
        repaired) repaired+=("$msg"); say "$msg" ;;
      esac
    done < "$work/$name.findings"
  done
}

# No subordinate IDs for system accounts: a planned owner that is an existing account with a UID
# below login.defs' UID_MIN (or 65534, nobody), or a numeric owner below UID_MIN, is a conflict,
# unless --system names it (the remap user is a system account by design). Root never.
check_system_owners() {
  local uid_min owners="" e
  uid_min=$(awk '$1 == "UID_MIN" && $2 ~ /^[0-9]+$/ { v = $2 } END { print v + 0 }' "$etc/login.defs" 2>/dev/null || true)
  [[ "${uid_min:-0}" =~ ^[1-9][0-9]*$ ]] || uid_min=1000
  for e in "${entries[@]}"; do owners+="${e%%:*} "; done
  # One awk for every owner: passwd is read once, the first line of a name counts (getpwnam).
  LC_ALL=C awk -v owners="$owners" -v min="$uid_min" -v sys=" ${system_owners[*]+"${system_owners[*]}"} " "$SHADOW_AWK"'
    BEGIN {
      while ((getline l < ARGV[1]) > 0) if (account(l, "user") && !(A_NAME in uidof)) uidof[A_NAME] = A_ID
      n = split(owners, os, " ")
      for (i = 1; i <= n; i++) {
        o = os[i]
        if (o ~ /^[0-9]+$/) {
          if (o + 0 == 0) print "owner " o " is UID 0 (root): root never gets subordinate IDs"
          else if (o + 0 < min || o + 0 == 65534) print "owner " o " is a system UID (below UID_MIN " min " in login.defs, or 65534): system accounts get no subordinate IDs"
          continue
        }
        if (!(o in uidof)) continue
        uid = uidof[o]
        if (uid == 0) print "owner " o " is a root account (UID 0): it never gets subordinate IDs"
        else if ((uid < min || uid == 65534) && index(sys, " " o " ") == 0)
          print "owner " o " is a system account (UID " sprintf("%.0f", uid) ", below UID_MIN " min " in login.defs" (uid == 65534 ? ", or the overflow UID nobody" : "") "): system accounts get no subordinate IDs; pick another name"
      }
    }' "$work/passwd"
}

# Room to write: the folder of each file must hold the new text and the backup of the old one
# (plus 64 KiB of slack); else nothing is written and the error names the folder.
free_kib() { df -Pk -- "$1" 2>/dev/null | awk 'NR == 2 && $4 ~ /^[0-9]+$/ { print $4 }'; }
need_room() { # need_room DIR BYTES WHAT
  local dir=$1 bytes=$2 what=$3 free
  free=$(free_kib "$dir")
  [ -n "$free" ] || return 0 # df cannot tell (no df): the write itself is checked
  if (( free * 1024 < bytes + 65536 )); then
    conflicts+=("no space left on $dir: $free KiB free, $(( (bytes + 65536 + 1023) / 1024 )) KiB needed to write $what")
  fi
}
check_room() {
  local name file bytes dir
  for name in subuid subgid; do
    file="$etc/$name"
    [ -e "$work/$name.new" ] || continue
    cmp -s "$work/$name.new" "$( [ -e "$file" ] && echo "$file" || echo /dev/null)" && continue
    bytes=$(( $(stat -c %s "$work/$name.new") + $( [ -e "$file" ] && stat -L -c %s "$file" || echo 0) ))
    dir=$(dirname -- "$(readlink -f -- "$file" 2>/dev/null || echo "$file")")
    need_room "$dir" "$bytes" "$file"
  done
}

# --docker-config: the daemon.json the next step (docker-remap.sh) merges into, checked before
# anything is written here, so that a host the next step refuses is left as found.
check_docker_config() {
  local c=$docker_config dir msg
  [ -n "$c" ] || return 0
  if [ -L "$c" ] && [ ! -e "$c" ]; then conflicts+=("$c is a symlink to $(readlink -- "$c"), which does not exist: fix the link or remove it"); return 0; fi
  dir=$(dirname -- "$(readlink -f -- "$c" 2>/dev/null || echo "$c")")
  # Another stack's settings: the runtime step would refuse them (docker-remap.sh --stack).
  local owner=""
  [ ! -f "$c.hardened-hosts.stack" ] || owner=$(head -n 1 -- "$c.hardened-hosts.stack")
  if [ -n "$stack" ] && [ -n "$owner" ] && [ "$owner" != "$stack" ]; then
    conflicts+=("$c's userns-remap and keys are managed by stack $owner, not $stack: one stack owns a host's Docker daemon settings")
  fi
  if [ -e "$c" ]; then
    if [ ! -f "$c" ]; then conflicts+=("$c is not a regular file"); return 0; fi
    if [ "$(head -c 3 -- "$c" | od -An -tx1 | tr -d ' \n')" = efbbbf ]; then
      conflicts+=("$c starts with a UTF-8 byte order mark (dockerd 20.10 does not start with one): remove its first 3 bytes (EF BB BF)")
      return 0
    fi
    msg=$(json_object_problem "$c") || true
    [ -z "$msg" ] || conflicts+=("$c is malformed: $msg")
    need_room "$dir" "$(( 2 * $(stat -L -c %s "$c") ))" "$c and its backup"
  elif [ -d "$dir" ]; then
    need_room "$dir" 4096 "$c"
  fi
}

# --docker-config with one --system owner (HostSubids on a userns-remap host: the remap user):
# the runtime step next switches dockerd to that owner's planned range. What it would refuse (an
# operator's remap not taken over, containers it would stop or hide: docker-switch.sh) is refused
# here, before this step writes anything (--containers, --take-over-remap: the runtime step's own).
check_remap_switch() {
  [ -n "$docker_config" ] && [ ${#system_owners[@]} -eq 1 ] || return 0
  local e start="" msg
  for e in "${entries[@]}"; do
    [ "${e%%:*}" != "${system_owners[0]}" ] || { start=${e#*:}; start=${start%%:*}; break; }
  done
  [ -n "$start" ] || return 0
  while IFS= read -r msg; do [ -z "$msg" ] || conflicts+=("$msg"); done < <(switch_refusals "$docker_config" "${system_owners[0]}" "$start" "$containers_mode" "$take_over")
}

# A plan that conflicts with the host is refused, nothing written. The first LIST_MAX conflicts
# are named, then how many more: thousands of overlapping lines must not make a report (or an
# error message) of megabytes.
refuse_conflicts() {
  local c more total=${#conflicts[@]}
  [ "$total" -gt 0 ] || return 0
  if [ "$total" -gt "$LIST_MAX" ]; then
    more=$(( total - LIST_MAX ))
    conflicts=("${conflicts[@]:0:LIST_MAX}" "(and $more more conflicts)")
  fi
  for c in "${conflicts[@]}"; do say "conflict: $c"; done
  if [ "$total" -eq 1 ]; then fail "$EXIT_PRECONDITION" "${conflicts[0]}: nothing changed"; fi
  # The error is what a run shows (host work logs no progress lines): the count, the first, and
  # how to see the others (the report's conflicts: the first LIST_MAX).
  fail "$EXIT_PRECONDITION" "$total conflicts with the host, nothing changed; the first: ${conflicts[0]}${more:+ (the report lists $LIST_MAX; $more more not listed)}"
}
# The failure report names the conflicts and the entries already present.
fail_fields() { printf ',"conflicts":%s,"present":%s,"changed":[]' "$(json_list "${conflicts[@]}")" "$(json_list "${present[@]}")"; }

# Writes the new texts (apply, remove); a file whose text did not change is left alone.
write_files() {
  local name file current
  write_error=""
  snapshot_paths
  for name in subuid subgid; do
    file="$etc/$name"
    current=/dev/null; [ -e "$file" ] && current="$file"
    record_owned "$name" "$work/$name.new" || write_failed
    if cmp -s "$current" "$work/$name.new"; then
      say "$action: $file unchanged"
      continue
    fi
    if [ "$action" = remove ] && [ ! -s "$work/$name.new" ] && [ -e "$file.hardened-hosts.created" ]; then
      rm -f "$file" "$file.hardened-hosts.created" "$file.hardened-hosts.bak"
      say "remove: deleted $file (hardened-hosts had created it)"
    else
      write_atomically "$file" "$work/$name.new" || write_failed
      say "$action: wrote $file"
      # The backup and created marker are the file's, not one stack's: they go with the last block.
      if [ "$action" = remove ] && ! grep -q '^# BEGIN hardened-hosts managed block' "$work/$name.new"; then
        rm -f "$file.hardened-hosts.bak" "$file.hardened-hosts.created"
      fi
    fi
    changed+=("$file")
  done
}
# A write failed midway: every file back as it was, then the failure names the cause.
write_failed() {
  say "error: $write_error: putting the files back"
  rollback
  changed=()
  fail "$EXIT_FAILED" "$write_error: nothing changed (the files were put back as they were)"
}

# remove --delete-accounts RECORD: the accounts the runtime step created (and recorded), deleted
# once our lines are gone, when nothing else uses them: a user is kept while a process runs as it,
# while it still has a subordinate range (someone else's line), or while the daemon.json the
# record sits beside still names it (userns-remap); a group while it is a user's primary group.
# Deleted ones leave the record (gone when empty); /etc/subuid and /etc/subgid keep their bytes.
delete_recorded_accounts() {
  local kind name config_of why uid tmp
  [ -n "$accounts_record" ] && [ -f "$accounts_record" ] || return 0
  config_of=${accounts_record%.hardened-hosts.user}
  # Another stack's Docker settings (and accounts): never this stack's to delete.
  local settings_owner=""
  [ ! -f "$config_of.hardened-hosts.stack" ] || settings_owner=$(head -n 1 -- "$config_of.hardened-hosts.stack")
  if [ -n "$stack" ] && [ -n "$settings_owner" ] && [ "$settings_owner" != "$stack" ]; then
    kept_accounts+=("$(tr '\n' ' ' < "$accounts_record" | sed 's/ $//'): recorded by stack $settings_owner")
    say "remove: the accounts in $accounts_record belong to stack $settings_owner: left alone"
    return 0
  fi
  tmp="$work/record.new"; : > "$tmp"
  while read -r kind name; do
    [ -n "$name" ] || continue
    why=""
    case "$kind" in
      user)
        if ! getent passwd "$name" >/dev/null; then continue; fi
        uid=$(id -u "$name")
        # /proc, not ps: a minimal host has no procps (zombies do not count).
        if { cat /proc/[0-9]*/status 2>/dev/null || true; } | awk -v u="$uid" '/^Name:/ { z = 0 } /^State:/ { z = ($2 == "Z") } /^Uid:/ && !z && ($2 == u || $3 == u) { f = 1 } END { exit !f }'; then why="processes run as $name"
        elif awk -F: -v n="$name" '$1 == n { f = 1 } END { exit !f }' "$etc/subuid" "$etc/subgid" 2>/dev/null; then why="$name still has a subordinate range outside our block"
        elif [ -f "$config_of" ] && grep -Eq "\"userns-remap\"[[:space:]]*:[[:space:]]*\"$name\"" "$config_of"; then why="$config_of still remaps to $name"
        fi ;;
      group)
        if ! getent group "$name" >/dev/null; then continue; fi
        local gid; gid=$(getent group "$name" | cut -d: -f3)
        if getent passwd | awk -F: -v g="$gid" '$4 == g { f = 1 } END { exit !f }'; then why="group $name is a user's primary group"; fi ;;
      *) printf '%s %s\n' "$kind" "$name" >> "$tmp"; continue ;;
    esac
    if [ -z "$why" ] && delete_account "$kind" "$name"; then
      deleted_accounts+=("$kind $name"); say "remove: deleted $kind $name (hardened-hosts had created it)"
    else
      [ -n "$why" ] || why="deleting it failed"
      kept_accounts+=("$kind $name: $why"); say "remove: kept $kind $name: $why"
      printf '%s %s\n' "$kind" "$name" >> "$tmp"
    fi
  done < <(grep -E '^user ' "$accounts_record"; grep -Ev '^user ' "$accounts_record")
  if [ -s "$tmp" ]; then cmp -s "$tmp" "$accounts_record" || put_file "$tmp" "$accounts_record" || say "could not rewrite $accounts_record: $PUT_FILE_ERROR"
  else rm -f -- "$accounts_record"
  fi
}

report() {
  printf '{"ok":true,"action":"%s","conflicts":[],"present":%s,"changed":%s,"repaired":%s,"deletedAccounts":%s,"keptAccounts":%s}\n' \
    "$action" "$(json_list "${present[@]}")" "$(json_list "${changed[@]}")" "$(json_list "${repaired[@]}")" \
    "$(json_list "${deleted_accounts[@]+"${deleted_accounts[@]}"}")" "$(json_list "${kept_accounts[@]+"${kept_accounts[@]}"}")"
}

main() {
  local msg
  parse_args "$@"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  load_accounts
  case "$action" in
    show) cmd_show ;;
    check|apply)
      plan_files
      while IFS= read -r msg; do [ -z "$msg" ] || conflicts+=("$msg"); done < <(check_system_owners)
      check_docker_config
      check_remap_switch
      check_room
      refuse_conflicts
      [ "$action" = check ] || write_files
      report ;;
    remove) plan_files; write_files; delete_recorded_accounts; report ;; # our own lines go, whatever else conflicts
  esac
}

main "$@"
