# shellcheck shell=bash disable=SC2034 # HH_ROOTLESS_TOML is read by rootless.sh
# TOML keys, for Podman's containers.conf and storage.conf. Sent ahead of rootless.sh on stdin
# (components/host/script.ts), sourced by it when it runs from its file; defines only.
#
# Why awk and not a TOML library: a minimal host has neither python3 with tomllib/tomli-w nor a
# TOML tool, and podman reads these files itself only (no `podman config set`). What this needs is
# small: the one line of KEY in [SECTION], replace it, add it, delete it; every other byte of the
# file stays as the user wrote it (a parser/printer would rewrite the file). It is tested on its
# own in test/rootless/toml-edit.test.ts.
HH_ROOTLESS_TOML=1

# toml_edit get FILE SECTION KEY: prints the line of KEY in [SECTION]; exit 3 when there is none.
# toml_edit set FILE SECTION KEY LINE: prints the file with that line replaced by LINE, or LINE
#   added at the start of [SECTION] (the section appended when missing).
# toml_edit del FILE SECTION KEY: prints the file without that line.
# set and del exit 4 (printing nothing) when the key's value spans lines. Values spanning lines
# (arrays, multi-line strings) are skipped over, not parsed; a header line ([x] or [[x]]) starts
# a table; KEY is a bare key (letters, digits, _ and -).
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

