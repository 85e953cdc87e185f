# shellcheck shell=bash disable=SC2154,SC2034,SC2016 # the globals are declared in rootless.sh, read and set here
# rootless.sh, the Docker part: rootless dockerd (dockerd-rootless.sh under rootlesskit) as the
# user, supervised by a systemd --user unit where systemd runs, else started in the background;
# and its removal. Sent ahead of rootless.sh on stdin (components/host/script.ts), sourced by it
# when it runs from its file; defines only.
HH_ROOTLESS_DOCKER=1

docker_as_user() { as_user env DOCKER_HOST="$docker_host" timeout 20 docker "$@"; }
our_dockerd_pid() { # prints the pid of the rootlesskit we started, if it still runs
  local f=$RUN_ROOT/$user.dockerd.pid pid
  [ -r "$f" ] || return 1
  pid=$(cat "$f")
  [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  [ "$(stat -c %u "/proc/$pid")" = "$uid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = rootlesskit ] || return 1
  echo "$pid"
}

docker_up_systemd() {
  # The runtime dir appears before the user's manager is ready (seen on trixie): give it time.
  local i
  for i in $(seq 1 30); do user_systemd_ok && break; sleep 1; done
  user_systemd_ok || fail "$EXIT_UNSUPPORTED" "systemd runs but $user's manager (user@$uid.service) does not answer within 30 s; is lingering on?"
  local rsh bin unit=$home/.config/systemd/user/docker.service
  rsh=$(find_rootless_sh dockerd-rootless.sh); bin=$(dirname "$rsh")
  if ! as_user systemctl --user is-active --quiet docker.service; then
    if ! user_path_exists "$unit"; then
      if [ -x "$bin/docker" ] && [ -n "$(find_rootless_sh dockerd-rootless-setuptool.sh)" ]; then
        # Docker CE layout: the setup tool finds the CLI next to itself.
        as_user env PATH="$bin:$SYS_PATH" "$(find_rootless_sh dockerd-rootless-setuptool.sh)" install >&2 ||
          fail "$EXIT_NOT_RUNNING" "dockerd-rootless-setuptool.sh install failed as $user"
        mark docker-rootless/setuptool
      else
        # Debian's setup tool calls $BIN/docker next to itself, which Debian does not ship:
        # the same unit it would write, written by us.
        user_write "$unit" <<EOF
[Unit]
Description=Docker Application Container Engine (Rootless)
Documentation=https://docs.docker.com/go/rootless/

[Service]
Environment=PATH=$bin:/sbin:/usr/sbin:$SYS_PATH
ExecStart=$rsh
ExecReload=/bin/kill -s HUP \$MAINPID
TimeoutSec=0
RestartSec=2
Restart=always
StartLimitBurst=3
StartLimitInterval=60s
LimitNOFILE=infinity
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
Delegate=yes
Type=simple
KillMode=mixed

[Install]
WantedBy=default.target
EOF
        as_user systemctl --user daemon-reload
      fi
      mark docker-rootless/unit-created
    fi
    # Bounded: the unit has TimeoutSec=0 (as Docker's setup tool writes it), and a daemon that fails
    # at start can leave it "deactivating" for good (seen on cgroup v1 in a container).
    local rc=0
    as_user timeout 120 systemctl --user enable --now docker.service >&2 || rc=$?
    [ "$rc" = 0 ] || fail "$EXIT_NOT_RUNNING" "systemctl --user enable --now docker.service $([ "$rc" = 124 ] && echo "did not finish within 120 s" || echo "failed") as $user: $(journalctl _UID="$uid" _SYSTEMD_USER_UNIT=docker.service -n 5 -o cat --no-pager 2>/dev/null | tr '\n' ' ')"
    mark docker-rootless/unit-enabled
    did "apply: started and enabled docker.service (systemd --user) for $user"
  elif ! as_user systemctl --user is-enabled --quiet docker.service; then
    as_user systemctl --user enable docker.service >&2
    mark docker-rootless/unit-enabled
    did "apply: enabled docker.service (systemd --user) for $user"
  fi
  supervision_json='{"daemon":"systemd --user docker.service","supervised":true,"note":"user@'"$uid"'.service runs it; lingering starts it at boot"}'
}

docker_up_background() {
  local pid rsh log=$rt/dockerd-rootless.log
  rsh=$(find_rootless_sh dockerd-rootless.sh)
  if pid=$(our_dockerd_pid); then
    say "apply: dockerd-rootless already running (rootlesskit pid $pid)"
  elif docker_as_user info >/dev/null 2>&1; then
    warn "a rootless dockerd not started by rootless.sh already answers on $docker_host; it is left alone"
    supervision_json='{"daemon":"unknown (already running, not started by rootless.sh)","supervised":false,"pid":null}'
    return 0
  else
    # A daemon that died leaves dockerd's and containerd's pidfiles behind. dockerd refuses to
    # start while the first PID exists, and waits for the old containerd while the second does (a
    # zombie counts, and zombies can linger where PID 1 reaps slowly): drop them when not running.
    local old f
    for f in "$rt/docker.pid" "$rt/docker/containerd/containerd.pid"; do
      if old=$(as_user cat -- "$f" 2>/dev/null) && [[ "$old" =~ ^[0-9]+$ ]] && ! alive "$old"; then
        as_user rm -f -- "$f"
        say "apply: removed stale $f (pid $old no longer runs)"
      fi
    done
    private_dir "$RUN_ROOT"
    # New session, no terminal, stdio away from ours (an SSH session must be able to end);
    # the log is opened by the user, inside the user's runtime dir.
    setsid setpriv --reuid="$uid" --regid="$gid" --init-groups \
      env -i HOME="$home" USER="$user" LOGNAME="$user" PATH="$(dirname "$rsh"):$SYS_PATH" LANG=C.UTF-8 XDG_RUNTIME_DIR="$rt" \
      sh -c 'cd "$HOME" || exit 1; exec >>"$XDG_RUNTIME_DIR/dockerd-rootless.log" 2>&1; exec "$0"' "$rsh" \
      </dev/null >/dev/null 2>&1 &
    pid=$!
    bg_pid=$pid
    printf '%s\n' "$pid" > "$RUN_ROOT/$user.dockerd.pid"
    mark docker-rootless/background
    did "apply: started dockerd-rootless.sh as $user in the background (pid $pid, log $log)"
  fi
  supervision_json='{"daemon":"none: started by rootless.sh in the background","supervised":false,"pid":'"$(jnum_or_null "$(cat "$RUN_ROOT/$user.dockerd.pid")")"',"pidfile":'"$(jstr "$RUN_ROOT/$user.dockerd.pid")"',"log":'"$(jstr "$log")"',"note":"not restarted on crash or reboot: run apply again"}'
}

docker_wait() {
  local out="" deadline=$(( SECONDS + DOCKER_WAIT_SECONDS ))
  while (( SECONDS < deadline )); do
    # Newer CLIs (26) exit 0 with empty server fields while the daemon is still starting: an
    # answer counts only with a server version in it.
    if out=$(docker_as_user info --format '{{json .SecurityOptions}}|{{.Driver}}|{{.ServerVersion}}|{{.DefaultRuntime}}' 2>/dev/null) &&
      [[ "$out" =~ ^[^|]*\|[^|]*\|[^|]+\| ]]; then break; fi
    out=""
    if [ -n "$bg_pid" ] && ! alive "$bg_pid"; then
      say "dockerd-rootless exited; last lines of $rt/dockerd-rootless.log:"
      as_user tail -n 20 "$rt/dockerd-rootless.log" >&2 || true
      fail "$EXIT_NOT_RUNNING" "dockerd-rootless.sh exited before answering (log: $rt/dockerd-rootless.log)"
    fi
    sleep 1
  done
  [ -n "$out" ] || fail "$EXIT_NOT_RUNNING" "docker info as $user did not answer on $docker_host within ${DOCKER_WAIT_SECONDS}s"
  IFS='|' read -r secopts storage_driver server_version runtime <<< "$out"
  [[ "$secopts" =~ ^\[(\"[^\"\\]*\"(,\"[^\"\\]*\")*)?\]$ ]] || secopts="[]"
  [[ "$secopts" == *'"name=rootless"'* ]] || fail "$EXIT_NOT_RUNNING" "docker info as $user does not list rootless in its security options: $secopts"
  say "apply: docker info as $user: rootless, storage $storage_driver, runtime $runtime, server $server_version"
}

apply_docker() {
  docker_host="unix://$rt/docker.sock" bg_pid=""
  mark docker-rootless/applied
  if systemd_running; then docker_up_systemd; else docker_up_background; fi
  docker_wait
  [ "$(cgroup_version)" = v2 ] || warn "cgroup $(cgroup_version): rootless containers get no resource limits (--memory, --cpus) on this host"
}

# ---------------------------------------------------------------------------------------------
# remove
stop_background_dockerd() {
  local pid i
  if pid=$(our_dockerd_pid); then
    kill -TERM "$pid"
    for (( i = 0; i < 60; i++ )); do alive "$pid" || break; sleep 0.5; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 1; warn "rootlesskit $pid ignored SIGTERM for 30s: killed"; fi
    did "remove: stopped dockerd-rootless of $user (rootlesskit pid $pid)"
  fi
  rm -f "$RUN_ROOT/$user.dockerd.pid"
  if [ -n "$uid" ] && [ -n "$rt" ] && [ -d "$rt" ] && ! marked rundir-created; then
    as_user rm -f -- "$rt/dockerd-rootless.log" || true
  fi
}

remove_docker() {
  if marked docker-rootless/unit-enabled || marked docker-rootless/unit-created || marked docker-rootless/setuptool; then
    if [ -n "$uid" ] && getent passwd "$user" >/dev/null && systemd_running && user_systemd_ok; then
      as_user systemctl --user disable --now docker.service >&2 || warn "systemctl --user disable --now docker.service failed"
      if marked docker-rootless/setuptool; then
        as_user env PATH="$(dirname "$(find_rootless_sh dockerd-rootless.sh)"):$SYS_PATH" \
          "$(find_rootless_sh dockerd-rootless-setuptool.sh)" uninstall >&2 || warn "dockerd-rootless-setuptool.sh uninstall failed"
      elif marked docker-rootless/unit-created; then
        as_user rm -f -- "$home/.config/systemd/user/docker.service"
        as_user systemctl --user daemon-reload || true
      fi
      did "remove: docker.service (systemd --user) of $user stopped and disabled"
    else
      warn "docker.service of $user could not be stopped: its systemd user manager is not reachable"
    fi
  fi
  if [ -n "$uid" ]; then stop_background_dockerd; fi
  unmark docker-rootless
}

