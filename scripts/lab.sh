#!/usr/bin/env bash
# The Tandem lab: two cluster nodes and a client in network namespaces on a private bridge.
#
#   scripts/lab.sh up                 build the lab (cleans a leftover lab first)
#   scripts/lab.sh down               remove everything the lab made; safe to run twice
#   scripts/lab.sh exec NODE CMD...   run CMD on node1, node2 (own hostname, mounts, /dev) or client
#   scripts/lab.sh cable NODE up|down plug / pull the node's cable (its port on the bridge)
#   scripts/lab.sh status             what exists now
#
# Layout (10.213.0.0/24, no default routes, nothing is bridged to a real interface):
#
#   netns tandem-lab:  bridge tandem-br0 with ports veth-node1, veth-node2, veth-client
#   netns tandem-node1: eth0 10.213.0.1     holder process: own UTS (hostname node1) and mount ns
#   netns tandem-node2: eth0 10.213.0.2     holder process: own UTS (hostname node2) and mount ns
#   netns tandem-client: eth0 10.213.0.10   (the VIP is 10.213.0.100, raised by tandem-hb)
#
# Inside a node's mount namespace the node looks like a host of its own: /etc/tandem and
# /run/tandem are that node's directories under the state dir (commands run by `exec` get
# TANDEM_RUN_DIR=/run/tandem/NODE and TANDEM_NODE=NODE), /cluster is a private tmpfs, and
# /dev is a private tmpfs of symlinks into the real /dev (so /dev/tandem0 made by node1's tandemd
# is invisible to node2, while loop and fuse devices still work). Every object made is recorded in
# the state dir first, and `down` removes exactly what is recorded there (plus the lab's fixed
# namespace names), so it never touches anything it did not create.
set -euo pipefail

STATE=${TANDEM_LAB_STATE:-/run/tandem-lab}
DISK_SIZE=${TANDEM_LAB_DISK_SIZE:-256M}
LAB_NS=tandem-lab
BRIDGE=tandem-br0
NODES=(node1 node2)
declare -A ADDR=([node1]=10.213.0.1 [node2]=10.213.0.2 [client]=10.213.0.10)
# host paths the node namespaces mount over; created (and later removed) only if missing
MOUNTPOINTS=(/cluster /etc/tandem /run/tandem)

die() { echo "lab: $*" >&2; exit 1; }
log() { echo "lab: $*" >&2; }
need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, loop devices, mounts)"; }
ns_of() { echo "tandem-$1"; }
record() { echo "$2" >>"$STATE/$1"; }
recorded() { [ -f "$STATE/$1" ] && cat "$STATE/$1" || true; }
holder_pid() { cat "$STATE/$1/holder.pid" 2>/dev/null || true; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# The commands run inside a node's fresh mount/UTS namespace before it settles into `sleep`.
node_setup_script() {
  local node=$1 dir="$STATE/$1"
  cat <<EOF
set -e
hostname $node
# a private /dev: a tmpfs of symlinks into the real devtmpfs, so links made here stay here
mount -t tmpfs -o mode=755,size=1m tandem-lab-dev "$dir/dev"
mkdir "$dir/dev/.real"
mount --rbind /dev "$dir/dev/.real"
for e in /dev/* /dev/.[!.]*; do
  [ -e "\$e" ] || [ -L "\$e" ] || continue
  ln -s ".real/\${e#/dev/}" "$dir/dev/\${e#/dev/}"
done
# loop and nbd devices appear in the real /dev on demand: link them ahead of time
for i in \$(seq 0 255); do [ -e "$dir/dev/loop\$i" ] || ln -s ".real/loop\$i" "$dir/dev/loop\$i"; done
for i in \$(seq 0 15); do [ -e "$dir/dev/nbd\$i" ] || ln -s ".real/nbd\$i" "$dir/dev/nbd\$i"; done
mount --move "$dir/dev" /dev
mount -t tmpfs -o mode=755,size=16m tandem-lab-cluster /cluster
mkdir -p /cluster/data
mount --bind "$dir/etc" /etc/tandem
mount --bind "$dir/run" /run/tandem
echo ready >"$dir/holder.ready"
exec sleep infinity
EOF
}

cmd_up() {
  need_root
  for t in ip nsenter unshare losetup truncate; do command -v "$t" >/dev/null || die "missing tool: $t"; done
  if [ -d "$STATE" ] || ip netns list | grep -qw "$LAB_NS"; then
    log "cleaning a leftover lab first"
    cmd_down
  fi
  mkdir -p "$STATE"
  # a failure half-way leaves nothing behind
  trap 'rc=$?; if [ $rc -ne 0 ]; then log "up failed; tearing down"; cmd_down; fi; exit $rc' EXIT
  trap 'exit 130' INT TERM

  for d in "${MOUNTPOINTS[@]}"; do
    if [ ! -e "$d" ]; then mkdir -p "$d"; record created-dirs "$d"; fi
  done

  ip netns add "$LAB_NS"; record netns "$LAB_NS"
  ip -n "$LAB_NS" link set lo up
  ip -n "$LAB_NS" link add "$BRIDGE" type bridge
  # no STP delay: a replugged cable forwards at once, as on a plain switch port
  ip -n "$LAB_NS" link set "$BRIDGE" type bridge stp_state 0 forward_delay 0
  ip -n "$LAB_NS" link set "$BRIDGE" up

  for n in "${NODES[@]}" client; do
    local ns; ns=$(ns_of "$n")
    ip netns add "$ns"; record netns "$ns"
    ip -n "$ns" link set lo up
    ip -n "$LAB_NS" link add "veth-$n" type veth peer name eth0 netns "$ns"
    ip -n "$LAB_NS" link set "veth-$n" master "$BRIDGE" up
    ip -n "$ns" addr add "${ADDR[$n]}/24" dev eth0
    ip -n "$ns" link set eth0 up
  done

  for n in "${NODES[@]}"; do
    local dir="$STATE/$n"
    mkdir -p "$dir/etc" "$dir/run/$n" "$dir/dev"
    truncate -s "$DISK_SIZE" "$dir/disk.img"
    local loop; loop=$(losetup --find --show "$dir/disk.img")
    record loops "$loop $dir/disk.img"
    echo "$loop" >"$dir/disk.dev"
    # The holder keeps the node's UTS and mount namespaces alive; `exec` enters them by its PID.
    setsid ip netns exec "$(ns_of "$n")" unshare --uts --mount --propagation private \
      bash -c "$(node_setup_script "$n")" </dev/null >"$dir/holder.log" 2>&1 &
    local pid=$!
    echo "$pid" >"$dir/holder.pid"
    record holders "$pid"
    local i
    # 256 loop links and a few mounts: seconds when the machine is busy (load 10+ on 2 cores)
    for i in $(seq 1 600); do
      [ -f "$dir/holder.ready" ] && break
      alive "$pid" || die "node $n setup failed: $(cat "$dir/holder.log")"
      sleep 0.05
    done
    [ -f "$dir/holder.ready" ] || die "node $n setup did not finish: $(cat "$dir/holder.log")"
  done
  trap - EXIT INT TERM
  log "up: node1 ${ADDR[node1]} (disk $(cat "$STATE/node1/disk.dev")), node2 ${ADDR[node2]} (disk $(cat "$STATE/node2/disk.dev")), client ${ADDR[client]}"
}

# Ends the processes of one namespace except the holders, politely first. They are all the lab's:
# nothing else lives in a namespace the lab created.
kill_ns_processes() {
  local ns=$1 pids i
  ip netns list | grep -qw "$ns" || return 0
  ns_pids() { ip netns pids "$ns" 2>/dev/null | grep -vxF -f <(recorded holders; echo 0) || true; }
  pids=$(ns_pids)
  [ -n "$pids" ] || return 0
  kill -TERM $pids 2>/dev/null || true
  for i in $(seq 1 50); do
    pids=$(ns_pids)
    [ -n "$pids" ] || return 0
    sleep 0.1
  done
  log "processes in $ns ignored SIGTERM; killing" $pids
  kill -KILL $pids 2>/dev/null || true
  for i in $(seq 1 50); do
    [ -n "$(ns_pids)" ] || return 0
    sleep 0.1
  done
}

# Loops a node set up itself (a tandemd's loop over its nbdfuse file, a test's scratch loop) have
# backing files that only that node's mount namespace can name: list them from inside it.
detach_node_loops() {
  local node=$1 pid name back
  pid=$(holder_pid "$node")
  alive "$pid" || return 0
  while read -r name back; do
    [ -n "$name" ] || continue
    case "$back" in
      /run/tandem/*|/cluster/*|/etc/tandem/*|"$STATE"/*)
        nsenter -t "$pid" -m -- losetup -d "$name" 2>/dev/null && log "detached $name ($node:$back)" || true ;;
    esac
  done < <(nsenter -t "$pid" -m -- losetup -l -n -O NAME,BACK-FILE 2>/dev/null || true)
}

# The nodes' raw disks: loops over files under the state dir, as the host sees them.
detach_lab_loops() {
  local name back
  while read -r name back; do
    [ -n "$name" ] || continue
    case "$back" in
      "$STATE"/*) losetup -d "$name" 2>/dev/null && log "detached $name ($back)" || true ;;
    esac
  done < <(losetup -l -n -O NAME,BACK-FILE 2>/dev/null || true)
}

cmd_down() {
  need_root
  trap - EXIT
  local ns pid n
  # 1. unmount the cluster filesystem while its device still answers, so ext4 shuts down cleanly
  for n in "${NODES[@]}"; do
    pid=$(holder_pid "$n")
    alive "$pid" || continue
    if nsenter -t "$pid" -m -- mountpoint -q /cluster/data 2>/dev/null; then
      nsenter -t "$pid" -m -- timeout 10 umount /cluster/data 2>/dev/null || nsenter -t "$pid" -m -- umount -l /cluster/data 2>/dev/null || true
    fi
  done
  # 2. processes: everything inside the node and client namespaces but the holders
  for n in "${NODES[@]}" client; do kill_ns_processes "$(ns_of "$n")"; done
  # 3. loops the nodes made, named from inside them; then the holders (their mounts go with them)
  for n in "${NODES[@]}"; do detach_node_loops "$n"; done
  for pid in $(recorded holders); do
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  # 4. the raw disks (a mount that dies with its namespace releases its loop lazily; retry a bit)
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    detach_lab_loops
    losetup -l -n -O BACK-FILE 2>/dev/null | grep -q "^$STATE/" || break
    sleep 0.2
  done
  # 5. namespaces (deleting a namespace deletes its veth ends and the bridge)
  for ns in $(recorded netns) "$LAB_NS" "$(ns_of node1)" "$(ns_of node2)" "$(ns_of client)"; do
    if ip netns list | grep -qw "$ns"; then ip netns del "$ns" 2>/dev/null && log "deleted netns $ns" || true; fi
  done
  # 6. host directories the lab created as mount points (only if still empty), then the state
  for d in $(recorded created-dirs); do rmdir "$d" 2>/dev/null || true; done
  if [ -d "$STATE" ]; then
    # the nodes' mounts never reach the host namespace; check anyway before removing files
    { grep " $STATE/" /proc/self/mounts || true; } | awk '{print $2}' | sort -r | while read -r m; do umount -l "$m" || true; done
    rm -rf "$STATE"
  fi
  return 0
}

cmd_exec() {
  need_root
  [ $# -ge 2 ] || die "usage: lab.sh exec NODE CMD..."
  local node=$1; shift
  case "$node" in
    client)
      exec ip netns exec "$(ns_of client)" "$@" ;;
    node1|node2)
      local pid; pid=$(holder_pid "$node")
      alive "$pid" || die "node $node is not up (run: lab.sh up)"
      # -u -m -n: the node's hostname, mounts (/dev, /cluster, /etc/tandem) and network.
      # The run dir is /run/tandem/NODE rather than /run/tandem: the nodes share one kernel, which
      # names a loop device's backing file by its path, so the same nbdfuse path on both nodes
      # would make one node's tandemd take the other's loop device for its own.
      exec nsenter -t "$pid" -u -m -n -- env TANDEM_NODE="$node" TANDEM_RUN_DIR="/run/tandem/$node" "$@" ;;
    *) die "unknown node '$node' (node1, node2 or client)" ;;
  esac
}

cmd_cable() {
  need_root
  [ $# -eq 2 ] || die "usage: lab.sh cable NODE up|down"
  case "$2" in up|down) ;; *) die "cable state must be up or down, not '$2'" ;; esac
  case "$1" in node1|node2|client) ;; *) die "unknown node '$1'" ;; esac
  ip -n "$LAB_NS" link set "veth-$1" "$2"
}

cmd_status() {
  if [ ! -d "$STATE" ]; then echo "lab is down"; return 0; fi
  echo "state: $STATE"
  for n in "${NODES[@]}"; do
    local pid; pid=$(holder_pid "$n")
    printf '%-7s netns %-14s addr %-12s holder %-8s %s disk %s\n' "$n" "$(ns_of "$n")" "${ADDR[$n]}" "${pid:-?}" \
      "$(alive "$pid" && echo alive || echo DEAD)" "$(cat "$STATE/$n/disk.dev" 2>/dev/null || echo '?')"
  done
  printf '%-7s netns %-14s addr %s\n' client "$(ns_of client)" "${ADDR[client]}"
  ip -n "$LAB_NS" -br link show master "$BRIDGE" 2>/dev/null | sed 's/^/port   /' || echo "bridge missing"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down; log "down" ;;
  exec) shift; cmd_exec "$@" ;;
  cable) shift; cmd_cable "$@" ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status|exec NODE CMD...|cable NODE up|down" >&2; exit 2 ;;
esac
