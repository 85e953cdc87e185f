# shellcheck shell=bash disable=SC2154,SC2034,SC2016 # the globals are declared in rootless.sh, read and set here
# rootless.sh, the Podman part: the OCI runtime and storage driver (picked from what --oci-runtime
# and --storage-order give, by what the host offers) written as single keys into the user's
# containers.conf and storage.conf, the API socket where systemd runs; and their removal. Sent
# ahead of rootless.sh on stdin (components/host/script.ts), sourced by it when it runs from its
# file; defines only.
HH_ROOTLESS_PODMAN=1

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
  local cg existing preferred="" fuse d
  cg=$(cgroup_version)
  runtime=$(chosen_oci_runtime)
  [ "$cg" = v2 ] || say "apply: cgroup $cg: runtime $runtime (crun refuses hybrid/v1 cgroups)"
  fuse=$(find_cmd fuse-overlayfs)
  # The first driver of --storage-order that works here.
  for d in "${storage_order[@]}"; do
    case "$d" in
      overlay) if native_overlay_works; then preferred=overlay; fi ;;
      fuse-overlayfs) if [ -n "$fuse" ] && user_can_open /dev/fuse; then preferred="fuse-overlayfs"; fi ;;
      vfs) preferred=vfs ;;
    esac
    [ -z "$preferred" ] || break
  done
  [ -n "$preferred" ] || fail "$EXIT_UNSUPPORTED" "none of the storage drivers ${storage_order[*]} works for $user here"
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

