#!/usr/bin/env bash
# Disposable Debian test hosts on this machine: systemd-nspawn containers booting real systemd,
# each with its own /etc, sshd on its own 127.0.0.1 port and a fresh SSH key.
#
#   lab/lab.sh up [--hosts N] [--suite bookworm|trixie] [--minimal] [--profile P]
#                                                         start hosts (N = 1..64, default: one
#                                                         per profile, 4; --minimal 3); a no-op
#                                                         when that lab already runs, exit 3
#                                                         when another one does (down first)
#   lab/lab.sh status                                     what runs, and whether SSH answers
#   lab/lab.sh down                                       stop and remove everything `up` made
#   (npm run lab -- up|status|down)
#
# Hosts are realistic onboarding targets; each has a profile:
#   lab-1 "busy"      Docker already running, two containers, a daemon.json full of other keys;
#                     SSH as root
#   lab-2 "fresh"     no Docker at all (the component installs it with apt); SSH as root
#   lab-3 "sudo-user" SSH as the non-root user "deploy" with password-less sudo; root login off
#   lab-4 "podman-host" no Docker, no Podman; an operator's /etc/containers/containers.conf of
#                     other settings (the component must keep them); SSH as root
# --minimal: every host starts from the "minimal" tree (nothing but systemd, sshd and sudo; no
# python3, busybox, procps, iptables, Docker): lab-1 and lab-2 "minimal" (SSH as root), lab-3
# "minimal-sudo" (SSH as "deploy" through sudo).
# More hosts than profiles (fleet benchmarks): the profiles repeat in that order (lab-5 is busy
# again, ...), or every host gets --profile P. Hosts share their profile's read-only tree (an
# overlay each) and boot in parallel; `status` shows each one's memory.
#
# Several labs can run side by side (the tests start their own): HH_LAB_NAME names one (default
# "lab": hosts lab-1..3), HH_LAB_DIR is its state (default .lab/ in the project), HH_LAB_PORT_BASE
# its SSH ports (default 22200: 22201..22203) and HH_LAB_NET its subnets (default 0: 10.99.1-3.0/24).
#
# `up` writes $HH_LAB_DIR/inventory.json (default .lab/ in the project), which the dev stack reads:
#   {"version":1,"lab","labId","hosts":[{"name","address","port","user","privateKeyFile","hostKey",
#    "profile","suite"}]}
# The host keys are made here before boot, so the inventory pins them.
#
# Everything `up` creates is recorded under $HH_LAB_DIR and removed by `down` (also after a failed
# `up`): nspawn and socat processes (by PID), overlay mounts, veth links, the NAT/forward rules it
# added (tagged with an iptables comment) and the ip_forward and fs.inotify.max_user_instances
# values it changed (the last lab to go puts both back). Nothing else on the machine is touched. Needs root, systemd-container, mmdebstrap, socat, iptables, openssh-client.
#
# This machine's quirks (../shared/notes/test-hosts.md), detected rather than assumed:
#   - PID 1 is not systemd: nspawn runs with --register=no --keep-unit;
#   - cgroup v1 hybrid: dockerd and rootful Podman inside need the cgroup hierarchies remounted
#     read-write (a docker.service drop-in and a boot-time unit in each host), and Podman uses its
#     cgroupfs manager (a containers.conf.d drop-in: systemd inside manages no controller);
#   - nspawn mounts /sys/kernel on its own: hosts mount no debugfs/tracefs below it, or rootful
#     Podman's --userns=auto fails to unmount it (EBUSY).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project=$(dirname "$here")
lab=${HH_LAB_DIR:-$project/.lab}
port_base=${HH_LAB_PORT_BASE:-22200}
lab_name=${HH_LAB_NAME:-lab}
net_base=${HH_LAB_NET:-0}
readonly NET_PREFIX=10.99 TAG=hardened-hosts-lab
# `up` while another lab (other hosts, profiles or suite) runs under the same state dir.
readonly EXIT_OTHER_LAB=3
# Machine-wide: which labs run, and the ip_forward and inotify values before the first one started.
readonly RUN_DIR=/run/hardened-hosts-lab
# fs.inotify.max_user_instances while labs run: ~8 a host, for up to 64 hosts a lab and the labs of
# a test run side by side.
readonly INOTIFY_INSTANCES=2048
PROFILES=(busy fresh sudo-user podman-host)
FORCED_PROFILE=""
# Host n's profile: --profile for all, else the profiles in turn.
profile_of() { if [ -n "$FORCED_PROFILE" ]; then echo "$FORCED_PROFILE"; else echo "${PROFILES[$((($1 - 1) % ${#PROFILES[@]}))]}"; fi; }
# The root filesystem each profile starts from (lab/rootfs.sh).
variant_of() { case "$1" in busy) echo docker ;; minimal*) echo minimal ;; *) echo base ;; esac; }

say() { echo "[lab] $*" >&2; }
die() { echo "[lab] error: $*" >&2; exit 1; }
# cgroup v1 directories the hosts' container engines make at the machine's hierarchy roots.
lab_cgroups() {
  local c
  for c in /sys/fs/cgroup/*/docker /sys/fs/cgroup/*/machine.slice /sys/fs/cgroup/*/libpod_parent; do
    if [ -d "$c" ]; then echo "$c"; fi
  done
}

# IDs of the containers a host's dockerd keeps (rootful, and under userns-remap's per-user roots),
# read from its /var/lib/docker (a directory of the lab, bound in): their cgroups are named by them.
host_container_ids() {
  local p
  for p in "$1"/var-lib-docker/containers/* "$1"/var-lib-docker/*.*/containers/*; do
    [ -d "$p" ] || continue
    p=${p##*/}
    if [[ $p =~ ^[0-9a-f]{64}$ ]]; then echo "$p"; fi
  done
}

# Removes the cgroup directory $1 and the ones below it, the empty ones only (rmdir refuses a
# cgroup with a process in it, and any directory with something left in it).
rmdir_cgroup() {
  find "$1" -depth -type d -exec rmdir {} \; 2>/dev/null || true
}

usage() { die "usage: lab.sh up [--hosts N] [--suite bookworm|trixie] [--minimal] [--profile P] | status | down"; }

check_settings() {
  # Host names, veth names (15 bytes: "ve-" + name + "-N") and subnets derive from these.
  [[ "$lab_name" =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "HH_LAB_NAME '$lab_name': 1-10 lowercase letters/digits, starting with a letter"
  if ! [[ "$port_base" =~ ^[0-9]{4,5}$ ]] || [ "$port_base" -lt 1024 ] || [ "$port_base" -gt 65500 ]; then die "HH_LAB_PORT_BASE '$port_base': a port number 1024..65500"; fi
  if ! [[ "$net_base" =~ ^[0-9]{1,3}$ ]] || [ "$net_base" -gt 250 ]; then die "HH_LAB_NET '$net_base': a number 0..250 (subnets 10.99.NET+1..NET+N)"; fi
}

need_tools() {
  local t missing=()
  for t in systemd-nspawn mmdebstrap socat iptables ssh ssh-keygen ip flock; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: run scripts/bootstrap.sh (it installs systemd-container mmdebstrap socat iptables)"
  [ "$(id -u)" = 0 ] || die "the lab needs root (mounts, veth links, nspawn)"
}

# ssh to host dir $1 as its inventory user, pinned to its host key, batch mode only.
lab_ssh() {
  local d=$1; shift
  # ConnectTimeout covers the TCP connect only; a forwarder whose far end is gone would leave ssh
  # waiting for a banner forever.
  timeout 120 ssh -q -i "$lab/keys/id_ed25519" -p "$(cat "$d/port")" \
    -o BatchMode=yes -o ConnectTimeout=5 -o UserKnownHostsFile="$lab/known_hosts" \
    -o StrictHostKeyChecking=yes -o HostKeyAlias="$(basename "$d")" \
    "$(cat "$d/user")@127.0.0.1" "$@"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# --- down -------------------------------------------------------------------------------------

stop_host() {
  local d=$1 name i
  name=$(basename "$d")
  if alive "$d/socat.pid"; then kill "$(cat "$d/socat.pid")" 2>/dev/null || true; fi
  if alive "$d/nspawn.pid"; then
    # SIGTERM asks nspawn to power the container off cleanly; after 10 s it is killed (the hosts
    # are disposable, and a user manager stopping a rootless daemon can take much longer).
    kill "$(cat "$d/nspawn.pid")" 2>/dev/null || true
    for ((i = 0; i < 20; i++)); do alive "$d/nspawn.pid" || break; sleep 0.5; done
    if alive "$d/nspawn.pid"; then
      say "$name: no clean poweroff in 10 s, killing"
      kill -9 "$(cat "$d/nspawn.pid")" 2>/dev/null || true
      sleep 1
    fi
  fi
  rm -f "$d/nspawn.pid" "$d/socat.pid"
  # Only the link this lab made (same name and index): another lab may have reused the name.
  if [ -f "$d/veth" ] && [ -f "$d/veth-ifindex" ] &&
    [ "$(cat "/sys/class/net/$(cat "$d/veth")/ifindex" 2>/dev/null)" = "$(cat "$d/veth-ifindex")" ]; then
    ip link del "$(cat "$d/veth")" 2>/dev/null || true
  fi
  if [ -d "$d/merged" ] && mountpoint -q "$d/merged"; then
    umount -R "$d/merged" 2>/dev/null || umount -R -l "$d/merged"
  fi
  # Never delete through a mount point.
  if findmnt -rn -o TARGET | grep -qF -- "$d/"; then die "$d still has mounts; not removing it"; fi
  rm -rf --one-file-system "$d"
}

down() {
  local d
  [ -d "$lab" ] || { say "nothing to stop ($lab does not exist)"; return 0; }
  if [ -d "$lab/hosts" ]; then
    # Containers still running when a host powers off leave their cgroups (named by container
    # ID, under /sys/fs/cgroup/*/docker of this machine's cgroup v1 hierarchies, which may have
    # been there before the lab): their IDs are read from the hosts' /var/lib/docker first,
    # and those cgroups (nothing else) are removed once the hosts are down.
    if [ -d "$lab/net" ]; then
      for d in "$lab"/hosts/*/; do host_container_ids "${d%/}"; done > "$lab/net/container-ids"
    fi
    # Every host is asked to power off first, so their (up to 10 s) shutdowns overlap.
    for d in "$lab"/hosts/*/; do
      if alive "${d%/}/nspawn.pid"; then kill "$(cat "${d%/}/nspawn.pid")" 2>/dev/null || true; fi
    done
    for d in "$lab"/hosts/*/; do [ -d "$d" ] && stop_host "${d%/}"; done
  fi
  if [ -f "$lab/net/rules" ]; then
    local rule
    while IFS= read -r rule; do
      [ -n "$rule" ] || continue
      # shellcheck disable=SC2086 # the rule is our own, stored word-split on purpose
      iptables -w -D $rule 2>/dev/null || true
    done < "$lab/net/rules"
  fi
  if [ -f "$lab/net/registered" ]; then
    machine_lock
    local reg
    reg=$RUN_DIR/labs/$(cat "$lab/net/registered")
    if [ "$(cat "$reg" 2>/dev/null)" = "$lab" ]; then rm -f "$reg"; fi
    # The last lab to go puts ip_forward and the inotify ceiling back as the first one found them.
    if [ -z "$(ls -A "$RUN_DIR/labs" 2>/dev/null)" ] && [ -f "$RUN_DIR/ip_forward" ]; then
      sysctl -q -w "net.ipv4.ip_forward=$(cat "$RUN_DIR/ip_forward")"
      rm -f "$RUN_DIR/ip_forward"
    fi
    if [ -z "$(ls -A "$RUN_DIR/labs" 2>/dev/null)" ] && [ -f "$RUN_DIR/inotify_instances" ]; then
      sysctl -q -w "fs.inotify.max_user_instances=$(cat "$RUN_DIR/inotify_instances")"
      rm -f "$RUN_DIR/inotify_instances"
    fi
    machine_unlock
  fi
  local c id
  # The cgroups of the hosts' containers, by ID.
  if [ -s "$lab/net/container-ids" ]; then
    while IFS= read -r id; do
      for c in /sys/fs/cgroup/*/docker/"$id"; do
        if [ -d "$c" ]; then rmdir_cgroup "$c"; fi
      done
    done < "$lab/net/container-ids"
  fi
  # dockerd inside the hosts made cgroup v1 hierarchies named docker at the root, rootful Podman
  # machine.slice (systemd manager) or libpod_parent (cgroupfs); remove the ones that did not
  # exist before `up`.
  if [ -f "$lab/net/cgroups-before" ]; then
    while IFS= read -r c; do
      grep -qxF "$c" "$lab/net/cgroups-before" && continue
      rmdir_cgroup "$c"
    done < <(lab_cgroups)
  fi
  rm -rf --one-file-system "$lab"
  say "down: every lab host, mount, link and rule removed"
}

# --- up ---------------------------------------------------------------------------------------

# Labs side by side share ip_forward: registering a lab and recording the value the first one
# found (or unregistering and restoring it) happen under one machine-wide lock, or a lab starting
# while another stops could record the other's "1" as the original.
machine_lock() {
  mkdir -p "$RUN_DIR"
  exec 7> "$RUN_DIR/lock"
  flock -w 60 7 || die "another lab holds $RUN_DIR/lock"
}
machine_unlock() { exec 7>&-; }

add_rule() {
  # $@: table/chain and match, without -A; recorded so `down` deletes exactly this rule.
  iptables -w -C "$@" 2>/dev/null && return 0
  iptables -w -A "$@"
  echo "$*" >> "$lab/net/rules"
}

setup_network() {
  mkdir -p "$lab/net" "$RUN_DIR/labs"
  machine_lock
  local other
  other=$(cat "$RUN_DIR/labs/$lab_name" 2>/dev/null || true)
  if [ -n "$other" ] && [ "$other" != "$lab" ] && [ -d "$other/hosts" ]; then
    die "a lab named $lab_name runs from $other: stop it first, or set HH_LAB_NAME"
  fi
  [ -n "$(ls -A "$RUN_DIR/labs")" ] || [ -f "$RUN_DIR/ip_forward" ] || sysctl -n net.ipv4.ip_forward > "$RUN_DIR/ip_forward"
  echo "$lab" > "$RUN_DIR/labs/$lab_name"
  echo "$lab_name" > "$lab/net/registered"
  sysctl -q -w net.ipv4.ip_forward=1
  # Every booted host's systemd and services hold ~8 inotify instances, all counted against root
  # on this machine: the common default of 128 stops the 17th host across all labs. Raised (never
  # lowered) to what every lab host the machine can hold needs; the last lab's `down` restores it.
  local inotify
  inotify=$(sysctl -n fs.inotify.max_user_instances)
  if [ "$inotify" -lt "$INOTIFY_INSTANCES" ]; then
    [ -f "$RUN_DIR/inotify_instances" ] || echo "$inotify" > "$RUN_DIR/inotify_instances"
    sysctl -q -w "fs.inotify.max_user_instances=$INOTIFY_INSTANCES"
  fi
  machine_unlock
  [ -f "$lab/net/cgroups-before" ] || lab_cgroups > "$lab/net/cgroups-before"
}

# NAT to the machine's network (apt reaches Debian's archive), per host subnet so that labs side
# by side never remove each other's rules. The machine's own Docker may set the FORWARD policy
# to DROP: the lab's traffic is let through explicitly.
host_rules() {
  local net=$1
  add_rule POSTROUTING -t nat -s "$net" ! -d "$NET_PREFIX.0.0/16" -j MASQUERADE -m comment --comment "$TAG"
  add_rule FORWARD -s "$net" -j ACCEPT -m comment --comment "$TAG"
  add_rule FORWARD -d "$net" -j ACCEPT -m comment --comment "$TAG"
}

port_free() { ! ss -Hltn "sport = :$1" | grep -q .; }

# Files every host gets before it boots (written into its overlay's upper layer).
provision_common() {
  local root=$1 name=$2 n=$3
  echo "$name" > "$root/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost ip6-localhost ip6-loopback\n' "$name" > "$root/etc/hosts"
  mkdir -p "$root/etc/systemd/network"
  cat > "$root/etc/systemd/network/10-hh-lab.network" <<EOF
[Match]
Name=host0

[Network]
Address=$NET_PREFIX.$n.2/24
Gateway=$NET_PREFIX.$n.1
EOF
  # The machine's resolver, reached through the lab's NAT (apt needs names).
  rm -f "$root/etc/resolv.conf"
  grep -E '^(nameserver|search|options) ' /etc/resolv.conf > "$root/etc/resolv.conf" || true
  ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$root/etc/ssh/ssh_host_ed25519_key"
  # Seen on trixie hosts here (systemd 257 in a container on cgroup v1): a login that arrives while
  # logind stops the user's manager (10 s after the last logout) hangs ~2 min before its command
  # runs. Keeping user managers 5 min between logins avoids that stop/start churn.
  mkdir -p "$root/etc/systemd/logind.conf.d"
  printf '[Login]\nUserStopDelaySec=300\n' > "$root/etc/systemd/logind.conf.d/10-hh-lab.conf"
  if [ "$(stat -fc %T /sys/fs/cgroup)" = tmpfs ]; then
    # cgroup v1 (hybrid): nspawn mounts the controllers read-only; dockerd must write to them.
    mkdir -p "$root/etc/systemd/system/docker.service.d"
    cat > "$root/etc/systemd/system/docker.service.d/10-hh-lab-cgroup.conf" <<'EOF'
# hardened-hosts lab: cgroup v1 hierarchies are read-only in the container; dockerd writes them.
[Service]
ExecStartPre=/bin/sh -c "for m in /sys/fs/cgroup/*; do mount -o remount,bind,rw $$m || true; done"
EOF
    # Rootful Podman has no daemon to carry that drop-in (runc: "mkdir
    # /sys/fs/cgroup/cpuset/machine.slice: read-only file system", crun: "creating cgroup directory
    # ...: No such file or directory"). This unit does the same remount once at boot, on every
    # host, as a real host has its hierarchies writable.
    cat > "$root/etc/systemd/system/hh-lab-cgroup-rw.service" <<'EOF'
[Unit]
Description=hardened-hosts lab: cgroup v1 hierarchies read-write
DefaultDependencies=no
Before=sysinit.target docker.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c "for m in /sys/fs/cgroup/*; do mount -o remount,bind,rw $$m || true; done"
[Install]
WantedBy=sysinit.target
EOF
    mkdir -p "$root/etc/systemd/system/sysinit.target.wants"
    ln -sf ../hh-lab-cgroup-rw.service "$root/etc/systemd/system/sysinit.target.wants/hh-lab-cgroup-rw.service"
    # systemd in the host saw the controllers read-only at boot and manages none of them (its
    # processes sit at "/" in each), so with Podman's default systemd cgroup manager crun puts every
    # container of a host in the same controller cgroups ("/container") and SIGKILLs them all
    # when any one of them is deleted (measured: crun 1.8.1 and 1.21; runc is not affected). On a
    # real host systemd manages the controllers. Podman's cgroupfs manager gives each container
    # its own cgroup (libpod_parent/libpod-<id>); a drop-in, so any containers.conf stays the
    # component's.
    mkdir -p "$root/etc/containers/containers.conf.d"
    printf '# hardened-hosts lab: see lab/lab.sh (cgroup v1 in systemd-nspawn)\n[engine]\ncgroup_manager = "cgroupfs"\n' \
      > "$root/etc/containers/containers.conf.d/10-hh-lab-cgroupfs.conf"
  fi
  # nspawn makes /sys/kernel a mount point of its own, and systemd in the host mounts debugfs and
  # tracefs below it. Rootful Podman, for a container with a user namespace (--userns=auto),
  # unmounts every mount under /sys/kernel in a private mount namespace before it calls the
  # runtime (libpod CreateContainer); /sys/kernel then fails with EBUSY ("cannot unmount
  # /sys/kernel: device or resource busy"). A real host has no mount at /sys/kernel itself, so
  # nothing is below it here: lab hosts mount neither debugfs nor tracefs.
  ln -sf /dev/null "$root/etc/systemd/system/sys-kernel-debug.mount"
  ln -sf /dev/null "$root/etc/systemd/system/sys-kernel-tracing.mount"
}

authorize() {
  local root=$1 user=$2 home=$3 uid gid
  uid=$(chroot "$root" id -u "$user")
  gid=$(chroot "$root" id -g "$user")
  mkdir -p "$root$home/.ssh"
  cp "$lab/keys/id_ed25519.pub" "$root$home/.ssh/authorized_keys"
  chmod 700 "$root$home/.ssh"
  chmod 600 "$root$home/.ssh/authorized_keys"
  chown -R "$uid:$gid" "$root$home/.ssh"
}

provision_profile() {
  local root=$1 profile=$2
  case "$profile" in
    busy)
      authorize "$root" root /root
      mkdir -p "$root/etc/docker"
      # Keys an operator would have set; the component must keep every one of them.
      cat > "$root/etc/docker/daemon.json" <<'EOF'
{
  "log-driver": "json-file",
  "log-opts": { "max-size": "10m", "max-file": "3" },
  "live-restore": false,
  "default-shm-size": "128M",
  "features": { "buildkit": true },
  "max-concurrent-downloads": 4,
  "labels": ["lab=busy", "team=platform"],
  "storage-driver": "overlay2"
}
EOF
      ;;
    fresh | minimal)
      authorize "$root" root /root
      ;;
    podman-host)
      authorize "$root" root /root
      mkdir -p "$root/etc/containers"
      # Settings an operator would have made; the component must keep every line of them.
      cat > "$root/etc/containers/containers.conf" <<'EOF'
# Operator settings (lab profile podman-host): hardened-hosts must keep these lines.
[engine]
events_logger = "file"

[containers]
log_size_max = 10485760
pids_limit = 4096
EOF
      ;;
    sudo-user | minimal-sudo)
      chroot "$root" useradd --create-home --shell /bin/bash --comment "lab deploy user" deploy
      echo 'deploy ALL=(ALL) NOPASSWD:ALL' > "$root/etc/sudoers.d/deploy"
      chmod 440 "$root/etc/sudoers.d/deploy"
      authorize "$root" deploy /home/deploy
      echo 'PermitRootLogin no' > "$root/etc/ssh/sshd_config.d/20-hh-lab-no-root.conf"
      ;;
  esac
}

start_host() {
  local n=$1 suite=$2 profile
  profile=$(profile_of "$n")
  local name=$lab_name-$n d=$lab/hosts/$lab_name-$n variant=base user=root port lower net
  port=$((port_base + n))
  net=$((net_base + n))
  port_free "$port" || die "127.0.0.1:$port is in use (set HH_LAB_PORT_BASE)"
  if ip route show | grep -q "^$NET_PREFIX\.$net\.0/24"; then die "$NET_PREFIX.$net.0/24 is already routed on this machine (another lab? set HH_LAB_NET)"; fi
  if ip link show "ve-$name" >/dev/null 2>&1; then die "link ve-$name exists (another lab named $lab_name? set HH_LAB_NAME)"; fi
  variant=$(variant_of "$profile")
  case "$profile" in sudo-user | minimal-sudo) user=deploy ;; esac
  lower=$("$here/rootfs.sh" "$suite" "$variant")
  mkdir -p "$d"/{upper,work,merged,var-lib-docker,var-lib-containers}
  echo "$port" > "$d/port"
  echo "$user" > "$d/user"
  echo "$profile" > "$d/profile"
  echo "ve-$name" > "$d/veth"
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$d/upper,workdir=$d/work" "$d/merged"
  echo "$net" > "$d/net"
  host_rules "$NET_PREFIX.$net.0/24"
  provision_common "$d/merged" "$name" "$net"
  provision_profile "$d/merged" "$profile"
  printf '%s %s\n' "$name" "$(cut -d' ' -f1,2 "$d/merged/etc/ssh/ssh_host_ed25519_key.pub")" >> "$lab/known_hosts"

  # Container storage sits on the machine's own filesystem: overlay2 cannot stack on overlayfs.
  setsid systemd-nspawn --quiet -D "$d/merged" -M "$name" --boot --register=no --keep-unit \
    --network-veth --console=pipe --capability=all --system-call-filter='@keyring bpf' \
    --bind="$d/var-lib-docker:/var/lib/docker" --bind="$d/var-lib-containers:/var/lib/containers" \
    < /dev/null > "$d/console.log" 2>&1 8>&- &
  echo $! > "$d/nspawn.pid"
  local i
  for ((i = 0; i < 100; i++)); do ip link show "ve-$name" >/dev/null 2>&1 && break; alive "$d/nspawn.pid" || break; sleep 0.1; done
  ip link show "ve-$name" >/dev/null 2>&1 || die "$name: nspawn did not create ve-$name: $(tail -n 5 "$d/console.log")"
  cat "/sys/class/net/ve-$name/ifindex" > "$d/veth-ifindex"
  ip addr add "$NET_PREFIX.$net.1/24" dev "ve-$name"
  ip link set "ve-$name" up
  setsid socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "TCP:$NET_PREFIX.$net.2:22" < /dev/null > "$d/socat.log" 2>&1 8>&- &
  echo $! > "$d/socat.pid"
}

wait_host() {
  local d=$1 name i state
  name=$(basename "$d")
  for ((i = 0; i < 60; i++)); do
    if lab_ssh "$d" true 2>/dev/null; then break; fi
    alive "$d/nspawn.pid" || die "$name stopped while booting: $(tail -n 20 "$d/console.log")"
    sleep 0.5
  done
  lab_ssh "$d" true || die "$name: SSH did not answer in 60 s"
  # Booted means systemd says so, not just an open port.
  state=$(lab_ssh "$d" timeout 90 systemctl is-system-running --wait 2>/dev/null || true)
  case "$state" in
    running) ;;
    degraded) say "$name: degraded; failed units: $(lab_ssh "$d" systemctl --failed --no-legend --plain | awk '{print $1}' | tr '\n' ' ')" ;;
    *) die "$name: systemd state '$state' after boot" ;;
  esac
}

# After boot: the busy host gets running containers (an image imported from its static busybox:
# the lab has no registry).
settle_profile() {
  local d=$1
  case "$(cat "$d/profile")" in
    busy)
      lab_ssh "$d" bash -s <<'EOF'
set -euo pipefail
for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
if ! docker image inspect lab/busybox:latest >/dev/null 2>&1; then
  t=$(mktemp -d); mkdir -p "$t/bin"; cp /bin/busybox "$t/bin/busybox"
  for a in sh httpd sleep cat id ls; do ln -s busybox "$t/bin/$a"; done
  tar -C "$t" -c . | docker import - lab/busybox:latest >/dev/null
  rm -rf "$t"
fi
docker run -d --name lab-web --restart unless-stopped lab/busybox:latest httpd -f -p 8080 >/dev/null
docker run -d --name lab-worker --restart unless-stopped lab/busybox:latest sleep 1000000 >/dev/null
EOF
      ;;
  esac
}

write_inventory() {
  local d first=1 name
  {
    printf '{"version":1,"lab":"%s","labId":"%s","hosts":[' "$lab_name" "$(cat "$lab/id")"
    while read -r d; do
      name=$(basename "$d")
      [ "$first" = 1 ] || printf ','
      first=0
      printf '{"name":"%s","address":"127.0.0.1","port":%s,"user":"%s","privateKeyFile":"%s","hostKey":"%s","profile":"%s","suite":"%s"}' \
        "$name" "$(cat "$d/port")" "$(cat "$d/user")" "$lab/keys/id_ed25519" \
        "$(cut -d' ' -f1,2 "$d/merged/etc/ssh/ssh_host_ed25519_key.pub")" "$(cat "$d/profile")" "$(cat "$lab/suite")"
    done < <(host_dirs)
    printf ']}\n'
  } > "$lab/inventory.json.tmp"
  mv "$lab/inventory.json.tmp" "$lab/inventory.json"
}

up_failed() {
  local rc=$?
  [ "$rc" -eq 0 ] && return 0
  if [ -n "${HH_LAB_KEEP_ON_FAILURE:-}" ]; then
    say "up failed; HH_LAB_KEEP_ON_FAILURE is set, so $lab stays for a look (lab.sh down removes it)"
  else
    say "up failed; tearing down what it made"
    down || true
  fi
  exit "$rc"
}

# The hosts `up` starts with these settings, and those of the running lab (from its inventory),
# one "name profile suite" line each: `up` on a running lab compares them.
wanted_hosts() { # wanted_hosts COUNT SUITE
  local n
  for ((n = 1; n <= $1; n++)); do printf '%s-%s %s %s\n' "$lab_name" "$n" "$(profile_of "$n")" "$2"; done
}
running_hosts() {
  grep -o '"name":"[^"]*"\|"profile":"[^"]*"\|"suite":"[^"]*"' "$lab/inventory.json" | cut -d'"' -f4 | paste -d' ' - - -
}

up() {
  local hosts="" suite=bookworm
  while [ $# -gt 0 ]; do
    case "$1" in
      --hosts) [ $# -ge 2 ] || usage; hosts=$2; shift 2 ;;
      --suite) [ $# -ge 2 ] || usage; suite=$2; shift 2 ;;
      --minimal) PROFILES=(minimal minimal minimal-sudo); shift ;;
      --profile) [ $# -ge 2 ] || usage; FORCED_PROFILE=$2; shift 2 ;;
      *) usage ;;
    esac
  done
  hosts=${hosts:-${#PROFILES[@]}}
  if ! [[ "$hosts" =~ ^[1-9][0-9]?$ ]] || [ "$hosts" -gt 64 ]; then die "--hosts must be 1..64 (profiles in turn: ${PROFILES[*]})"; fi
  case "$FORCED_PROFILE" in "" | busy | fresh | sudo-user | podman-host | minimal | minimal-sudo) ;; *) die "--profile must be busy, fresh, sudo-user, podman-host, minimal or minimal-sudo" ;; esac
  # veth names are "ve-<lab>-<n>", at most 15 bytes (IFNAMSIZ - 1).
  [ $((3 + ${#lab_name} + 1 + ${#hosts})) -le 15 ] || die "HH_LAB_NAME '$lab_name' is too long for $hosts hosts (veth ve-$lab_name-$hosts exceeds 15 bytes)"
  [ $((net_base + hosts)) -le 254 ] || die "HH_LAB_NET $net_base + $hosts hosts passes 10.99.254.0/24"
  case "$suite" in bookworm | trixie) ;; *) die "--suite must be bookworm or trixie" ;; esac
  if [ -f "$lab/inventory.json" ]; then
    # Only the same lab counts as up: a lab started by an earlier version of this file (three
    # hosts, before podman-host) or with other flags is not what the caller asked for.
    if [ "$(running_hosts)" != "$(wanted_hosts "$hosts" "$suite")" ]; then
      say "a different lab is up ($lab/inventory.json): $(running_hosts | paste -sd, -); asked for $(wanted_hosts "$hosts" "$suite" | paste -sd, -). 'lab.sh down' first to start again"
      exit "$EXIT_OTHER_LAB"
    fi
    say "already up ($lab/inventory.json); 'lab.sh down' first to start again"
    status
    return 0
  fi
  local started=$SECONDS n
  # A failed `up` leaves nothing behind.
  trap up_failed EXIT
  mkdir -p "$lab/keys" "$lab/hosts"
  echo "$suite" > "$lab/suite"
  # Tells this lab's hosts from an earlier lab's with the same names (scripts/up.sh uses it).
  cut -c1-12 /proc/sys/kernel/random/uuid > "$lab/id"
  : > "$lab/known_hosts"
  ssh-keygen -q -t ed25519 -N '' -C hardened-hosts-lab -f "$lab/keys/id_ed25519"
  setup_network
  # Build the trees first, one at a time (mmdebstrap is heavy on 2 cores), then boot all hosts.
  local variants=" " v
  for ((n = 1; n <= hosts; n++)); do
    v=$(variant_of "$(profile_of "$n")")
    [[ "$variants" == *" $v "* ]] && continue
    variants+="$v "
    "$here/rootfs.sh" "$suite" "$v" >/dev/null
  done
  for ((n = 1; n <= hosts; n++)); do start_host "$n" "$suite"; done
  for ((n = 1; n <= hosts; n++)); do wait_host "$lab/hosts/$lab_name-$n"; done
  # The busy hosts' containers, all hosts at once (each waits for its own dockerd).
  local pids=() failed=0 pid
  for ((n = 1; n <= hosts; n++)); do settle_profile "$lab/hosts/$lab_name-$n" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" = 0 ] || die "settling a host failed (see above)"
  write_inventory
  trap - EXIT
  say "up: $hosts host(s) ready in $((SECONDS - started)) s; inventory: $lab/inventory.json"
  status
}

# The memory a host costs: the RSS of every process in its PID namespace (its systemd and all
# below), in MiB; "-" when it is not running.
host_memory() {
  local d=$1 init ns
  alive "$d/nspawn.pid" || { echo -; return 0; }
  init=$(pgrep -P "$(cat "$d/nspawn.pid")" | head -n 1)
  [ -n "$init" ] || { echo -; return 0; }
  ns=$(readlink "/proc/$init/ns/pid" 2>/dev/null) || { echo -; return 0; }
  ps -e -o pidns=,rss= | awk -v ns="${ns//[^0-9]/}" '$1 == ns { kb += $2 } END { printf "%.0f", kb / 1024 }'
}

# The hosts' directories in host-number order (lab-2 before lab-10).
host_dirs() { find "$lab/hosts" -mindepth 1 -maxdepth 1 -type d | sort -V; }

status() {
  local d name
  [ -d "$lab/hosts" ] || { say "no lab hosts (lab.sh up starts them)"; return 0; }
  printf '%-9s %-12s %-8s %-6s %-8s %-4s %s\n' HOST PROFILE USER PORT NSPAWN SSH MEM_MIB
  # The list on fd 3: ssh would read the loop's stdin.
  while read -r d <&3; do
    name=$(basename "$d")
    local ns=down sshok=no
    alive "$d/nspawn.pid" && ns=up
    [ "$ns" = up ] && lab_ssh "$d" true 2>/dev/null && sshok=yes
    printf '%-9s %-12s %-8s %-6s %-8s %-4s %s\n' "$name" "$(cat "$d/profile")" "$(cat "$d/user")" "$(cat "$d/port")" "$ns" "$sshok" "$(host_memory "$d")"
  done 3< <(host_dirs)
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up | down | status) ;;
  *) usage ;;
esac
check_settings
need_tools
mkdir -p "$(dirname "$lab")"
# One lab operation at a time.
exec 8> "$(dirname "$lab")/.lab.lock"
flock -w 600 8 || die "another lab operation holds $(dirname "$lab")/.lab.lock"
"$cmd" "$@"
