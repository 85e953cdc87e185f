#!/usr/bin/env bash
# Host side of the subordinate-ID plan: checks and writes our managed block in /etc/subuid and
# /etc/subgid, or removes it. Mirrors components/subids/format.ts (the tests run both on the
# same inputs and compare bytes).
#
#   subids-host.sh check  OWNER:START:COUNT...   read-only: conflicts as JSON, exit 3 if any
#   subids-host.sh apply  OWNER:START:COUNT...   check, then write both files (nothing if conflicts)
#   subids-host.sh remove                        remove our block (pulumi destroy)
#   subids-host.sh show                          read-only: the files as this script reads them,
#                                                as JSON (entries, accounts; for diagnosis and the
#                                                differential tests against the host's own tools)
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
readonly TOOL=subids

readonly BEGIN_MARK="# BEGIN hardened-hosts managed block (do not edit)"
readonly END_MARK="# END hardened-hosts managed block"
readonly END_MARK_NL="# END hardened-hosts managed block (final newline added)"
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
action="" planned="" work=""
entries=() conflicts=() present=() changed=() repaired=()

usage() { fail "$EXIT_USAGE" "usage: subids-host.sh check|apply OWNER:START:COUNT... | remove | show"; }

# Every argument is checked before anything is read or written. Owner: a login name (as useradd
# accepts by default) or a numeric UID; numbers: plain decimal, no leading zeros.
parse_args() {
  local arg start count
  [ $# -ge 1 ] || usage
  action=$1; shift
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
plan_file() { # plan_file <file> <kind: user|group> <action> <display name> <owned list>
  local file=$1 kind=$2 act=$3 display=$4 ownedf=$5
  LC_ALL=C awk -v planned="$planned" -v act="$act" -v ownedf="$ownedf" -v pwfile="$work/passwd" -v grfile="$work/group" \
      -v hadnl="$(has_final_newline "$file")" -v kind="$kind" -v fname="$display" \
      -v B="$BEGIN_MARK" -v E="$END_MARK" -v ENL="$END_MARK_NL" "$SHADOW_AWK"'
    function overl(s1, c1, s2, c2) { return s1 < s2 + c2 && s2 < s1 + c1 }
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
      nown = 0
      while ((getline l < ownedf) > 0) if (l != "") { own[l] = 1; nown++ }
      intact = (nb == 0 && ne == 0) || (nb == 1 && ne == 1 && begin < endl)
      recover = !intact || (nb == 0 && nown > 0)
      if (recover && nown == 0) {
        print "marker\t" fname ": damaged hardened-hosts markers (BEGIN " nb "x, END " ne "x) and no owned list to recognise our lines: fix the file by hand"
        exit
      }
      for (i = 1; i <= n; i++) {
        if (recover) ours[i] = (lines[i] == B || lines[i] == E || lines[i] == ENL || (lines[i] in own))
        else ours[i] = (begin && i >= begin && i <= endl)
        if (recover && ours[i]) nours++
      }
      if (recover) { print "repaired\t" fname ": markers were moved (useradd re-sorts this file); recognised " nours " of our lines from the owned list"; begin = 0 }
      for (i = 1; i <= n; i++) {
        if (ours[i]) continue
        if (!subid_entry(lines[i])) continue
        fs = E_START; fc = E_COUNT
        for (j = 1; j <= np; j++) {
          mine = owns(E_OWNER, j)
          if (mine && fs == ps[j] && fc == pc[j]) { if (!present[j]) print "present\t" pl[j]; present[j] = 1; continue }
          if (fc > 0 && overl(fs, fc, ps[j], pc[j]))
            print "conflict\t" fname ": planned " po[j] " " rng(j) " overlaps line " i " (" lines[i] ")"
          else if (mine)
            print "conflict\t" fname ": " po[j] (E_OWNER == po[j] ? "" : " (" (kind == "group" ? "UID or GID " : "UID ") E_OWNER ")") \
              " already has another range on line " i " (" lines[i] "); remove it or plan that range"
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
        if (m > 0) { outl[++no] = B; for (x = 1; x <= m; x++) outl[++no] = pl[order[x]]; outl[++no] = lines[endl] }
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
write_atomically() { # write_atomically <file> <new text file>
  local file=$1 new=$2
  # Backups and markers stay next to the name in /etc; put_file (the prelude) writes the bytes
  # to the link's target, with the file's owner and mode.
  if [ -e "$file" ]; then
    cp -p "$file" "$file.hardened-hosts.bak"
  else
    : > "$file.hardened-hosts.created" # destroy deletes a file we created
  fi
  put_file "$new" "$file"
}

# Keeps the owned list equal to the lines inside the new file's block (empty: list removed).
record_owned() { # record_owned <name> <new file text>
  local list="$state/$1.owned" tmp
  tmp=$(mktemp)
  awk -v B="$BEGIN_MARK" -v E="$END_MARK" -v ENL="$END_MARK_NL" \
    '$0 == B { inb = 1; next } $0 == E || $0 == ENL { inb = 0; next } inb { print }' "$2" > "$tmp"
  if [ -s "$tmp" ]; then
    if ! cmp -s "$tmp" "$list" 2>/dev/null; then
      mkdir -p "$state"
      cat "$tmp" > "$list.tmp" && mv -f "$list.tmp" "$list"
    fi
  elif [ -e "$list" ]; then
    rm -f "$list"
    rmdir "$state" 2>/dev/null || true
    [ -n "${HH_STATE_DIR:-}${HH_ETC:-}" ] || rmdir /var/lib/hardened-hosts 2>/dev/null || true
  fi
  rm -f "$tmp"
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
  local name file kind src ownedf tag msg
  for name in subuid subgid; do
    file="$etc/$name"
    kind=user; [ "$name" = subgid ] && kind=group
    src="$file"; [ -e "$file" ] || src=/dev/null
    say "$action: reading $file"
    ownedf="$state/$name.owned"; [ -e "$ownedf" ] || ownedf=/dev/null
    plan_file "$src" "$kind" "$action" "$name" "$ownedf" > "$work/$name.out"
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

# A plan that conflicts with the host is refused, nothing written. The first LIST_MAX conflicts
# are named, then how many more: thousands of overlapping lines must not make a report (or an
# error message) of megabytes.
refuse_conflicts() {
  local c more
  [ ${#conflicts[@]} -gt 0 ] || return 0
  if [ ${#conflicts[@]} -gt "$LIST_MAX" ]; then
    more=$(( ${#conflicts[@]} - LIST_MAX ))
    conflicts=("${conflicts[@]:0:LIST_MAX}" "(and $more more conflicts)")
  fi
  for c in "${conflicts[@]}"; do say "conflict: $c"; done
  fail "$EXIT_PRECONDITION" "${#conflicts[@]} conflict(s) with the host's files, nothing written: ${conflicts[0]}"
}
# The failure report names the conflicts and the entries already present.
fail_fields() { printf ',"conflicts":%s,"present":%s,"changed":[]' "$(json_list "${conflicts[@]}")" "$(json_list "${present[@]}")"; }

# Writes the new texts (apply, remove); a file whose text did not change is left alone.
write_files() {
  local name file current
  for name in subuid subgid; do
    file="$etc/$name"
    current=/dev/null; [ -e "$file" ] && current="$file"
    record_owned "$name" "$work/$name.new"
    if cmp -s "$current" "$work/$name.new"; then
      say "$action: $file unchanged"
      continue
    fi
    if [ "$action" = remove ] && [ ! -s "$work/$name.new" ] && [ -e "$file.hardened-hosts.created" ]; then
      rm -f "$file" "$file.hardened-hosts.created" "$file.hardened-hosts.bak"
      say "remove: deleted $file (hardened-hosts had created it)"
    else
      write_atomically "$file" "$work/$name.new"
      say "$action: wrote $file"
      if [ "$action" = remove ]; then rm -f "$file.hardened-hosts.bak" "$file.hardened-hosts.created"; fi
    fi
    changed+=("$file")
  done
}

report() {
  printf '{"ok":true,"action":"%s","conflicts":[],"present":%s,"changed":%s,"repaired":%s}\n' \
    "$action" "$(json_list "${present[@]}")" "$(json_list "${changed[@]}")" "$(json_list "${repaired[@]}")"
}

main() {
  parse_args "$@"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  load_accounts
  case "$action" in
    show) cmd_show ;;
    check) plan_files; refuse_conflicts; report ;;
    apply) plan_files; refuse_conflicts; write_files; report ;;
    remove) plan_files; write_files; report ;; # our own lines go, whatever else conflicts
  esac
}

main "$@"
