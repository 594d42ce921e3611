#!/usr/bin/env bash
# Pacemaker + Corosync on the lab's two nodes (scripts/lab.sh must be up):
#
#   scripts/lab-pacemaker.sh setup        give each node a private cluster stack file tree
#   scripts/lab-pacemaker.sh start NODE   corosync -f and pacemakerd -f on NODE (background)
#   scripts/lab-pacemaker.sh stop NODE    pacemakerd, then corosync, by the PIDs this script started
#   scripts/lab-pacemaker.sh wait-online  until crm_mon on node1 shows both nodes online
#
# Two cluster nodes on one kernel work when each has its own network namespace (the lab's),
# UTS namespace (hostname = node name, the lab's) and, inside its mount namespace, private copies
# of everything the stack keeps on disk or in shared memory: /etc/corosync, /var/lib/corosync,
# /var/lib/pacemaker (cib, pengine, blackbox, cores owned by hacluster), /var/log/pacemaker,
# /usr/lib/ocf/resource.d (the installed agents plus ocf:tandem:tandem from this tree),
# /dev/shm (libqb's IPC buffers) and /run (PID files of agents such as ocf:heartbeat:anything;
# /run/tandem is bound back in). Everything lives under the lab's state dir, so `lab.sh down`
# removes it, and every process runs in the node's network namespace, so `lab.sh down` ends it.
#
# Corosync: knet, no crypto (the lab's bridge is private), token 1000 ms, two_node.
set -euo pipefail

STATE=${TANDEM_LAB_STATE:-/run/tandem-lab}
REPO="$(cd "$(dirname "$0")/.." && pwd)"
NODES=(node1 node2)
declare -A ADDR=([node1]=10.213.0.1 [node2]=10.213.0.2)
CLUSTER_NAME=tandem-lab
TOKEN_MS=${TANDEM_LAB_TOKEN_MS:-1000}

die() { echo "lab-pacemaker: $*" >&2; exit 1; }
log() { echo "lab-pacemaker: $*" >&2; }
holder_pid() { cat "$STATE/$1/holder.pid" 2>/dev/null || true; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
check_node() { case "$1" in node1|node2) ;; *) die "unknown node '$1' (node1 or node2)" ;; esac; }
in_node() { local n=$1; shift; nsenter -t "$(holder_pid "$n")" -u -m -n -- "$@"; }

corosync_conf() {
  cat <<EOF
# written by scripts/lab-pacemaker.sh
totem {
  version: 2
  cluster_name: $CLUSTER_NAME
  transport: knet
  crypto_cipher: none
  crypto_hash: none
  token: $TOKEN_MS
}
nodelist {
  node {
    ring0_addr: ${ADDR[node1]}
    name: node1
    nodeid: 1
  }
  node {
    ring0_addr: ${ADDR[node2]}
    name: node2
    nodeid: 2
  }
}
quorum {
  provider: corosync_votequorum
  two_node: 1
}
logging {
  to_stderr: yes
  to_logfile: yes
  logfile: /var/log/corosync/corosync.log
  to_syslog: no
  timestamp: hires
}
EOF
}

# Run inside the node's mount namespace: private trees over the stack's paths.
private_tree_script() {
  local d=$1
  cat <<EOF
set -e
p="$d/pcmk"
mkdir -p "\$p/etc-corosync" "\$p/var-lib-corosync" "\$p/log-corosync" "\$p/run/tandem" "\$p/shm" \
  "\$p/var-lib-pacemaker/cib" "\$p/var-lib-pacemaker/pengine" "\$p/var-lib-pacemaker/blackbox" \
  "\$p/var-lib-pacemaker/cores" "\$p/log-pacemaker/bundles"
chown -R hacluster:haclient "\$p/var-lib-pacemaker" "\$p/log-pacemaker"
chmod 750 "\$p/var-lib-pacemaker"/* && chmod 770 "\$p/log-pacemaker"
cp "$d/corosync.conf" "\$p/etc-corosync/corosync.conf"
mkdir -p /var/log/corosync
mount --bind "\$p/etc-corosync" /etc/corosync
mount --bind "\$p/var-lib-corosync" /var/lib/corosync
mount --bind "\$p/log-corosync" /var/log/corosync
mount --bind "\$p/var-lib-pacemaker" /var/lib/pacemaker
mount --bind "\$p/log-pacemaker" /var/log/pacemaker
# /run: a fresh tree holding the node's own /run/tandem (bound in before the tree replaces /run)
mount --bind /run/tandem "\$p/run/tandem"
mkdir -p "\$p/run/crm" "\$p/run/pacemaker" "\$p/run/lock" "\$p/run/resource-agents"
chown hacluster:haclient "\$p/run/crm" "\$p/run/pacemaker"
mount --rbind "\$p/run" /run
# the OCF agents: the installed providers plus ocf:tandem:tandem from this tree (no install on the host)
mkdir -p "\$p/ocf/tandem"
for prov in /usr/lib/ocf/resource.d/*/; do
  prov=\$(basename "\$prov"); [ "\$prov" = tandem ] && continue
  mkdir -p "\$p/ocf/\$prov"; mount --bind "/usr/lib/ocf/resource.d/\$prov" "\$p/ocf/\$prov"
done
ln -sfn "$REPO/scripts/ocf/tandem" "\$p/ocf/tandem/tandem"
mount --rbind "\$p/ocf" /usr/lib/ocf/resource.d
# /dev is the lab's tmpfs of links: replace the link to the host's shm with a tmpfs of its own
rm -f /dev/shm
mkdir -p /dev/shm
mount -t tmpfs -o mode=1777,size=64m tandem-lab-shm /dev/shm
EOF
}

cmd_setup() {
  [ "$(id -u)" -eq 0 ] || die "must run as root"
  for t in corosync pacemakerd crm_mon cibadmin; do command -v "$t" >/dev/null || die "missing $t (sudo bash scripts/install-deps.sh)"; done
  id hacluster >/dev/null 2>&1 || die "no hacluster user (the pacemaker package creates it)"
  for n in "${NODES[@]}"; do
    local d="$STATE/$n"
    alive "$(holder_pid "$n")" || die "node $n is not up (scripts/lab.sh up)"
    [ -d "$d/pcmk" ] && die "node $n is already set up (lab.sh down && lab.sh up for a fresh lab)"
    # /var/log/corosync may not exist on the host: it is the mount point inside the node
    if [ ! -d /var/log/corosync ]; then mkdir -p /var/log/corosync; echo /var/log/corosync >>"$STATE/created-dirs"; fi
    corosync_conf >"$d/corosync.conf"
    in_node "$n" bash -c "$(private_tree_script "$d")"
  done
  log "setup: private corosync/pacemaker trees on ${NODES[*]}"
}

cmd_start() {
  local n=$1 d="$STATE/$1"
  check_node "$n"
  [ -d "$d/pcmk" ] || die "run setup first"
  if alive "$(cat "$d/corosync.pid" 2>/dev/null || true)"; then die "corosync already runs on $n"; fi
  setsid nsenter -t "$(holder_pid "$n")" -u -m -n -- corosync -f </dev/null >>"$d/pcmk/corosync.out" 2>&1 &
  echo $! >"$d/corosync.pid"
  local i
  for i in $(seq 1 100); do
    in_node "$n" corosync-cfgtool -s >/dev/null 2>&1 && break
    alive "$(cat "$d/corosync.pid")" || die "corosync on $n died: $(tail -n 5 "$d/pcmk/corosync.out")"
    sleep 0.1
  done
  # the agents inherit pacemakerd's environment: the node's run dir, as `lab.sh exec` sets it
  setsid nsenter -t "$(holder_pid "$n")" -u -m -n -- env PCMK_logfile=/var/log/pacemaker/pacemaker.log \
    TANDEM_NODE="$n" TANDEM_RUN_DIR="/run/tandem/$n" \
    pacemakerd -f </dev/null >>"$d/pcmk/pacemakerd.out" 2>&1 &
  echo $! >"$d/pacemakerd.pid"
  log "started corosync ($(cat "$d/corosync.pid")) and pacemakerd ($(cat "$d/pacemakerd.pid")) on $n"
}

stop_pid() {
  local pid=$1 what=$2 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 300); do alive "$pid" || return 0; sleep 0.1; done
  log "$what ($pid) ignored SIGTERM for 30 s; killing"
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
  local n=$1 d="$STATE/$1"
  check_node "$n"
  stop_pid "$(cat "$d/pacemakerd.pid" 2>/dev/null || true)" "pacemakerd on $n"
  stop_pid "$(cat "$d/corosync.pid" 2>/dev/null || true)" "corosync on $n"
  rm -f "$d/pacemakerd.pid" "$d/corosync.pid"
}

cmd_wait_online() {
  local deadline=$((SECONDS + ${1:-60})) out=""
  while [ $SECONDS -lt $deadline ]; do
    out=$(in_node node1 crm_mon -1 2>/dev/null || true)
    if echo "$out" | grep -Eq 'Online: \[ node1 node2 \]'; then return 0; fi
    sleep 0.5
  done
  die "nodes not online within ${1:-60}s: $out"
}

case "${1:-}" in
  setup) cmd_setup ;;
  start) [ $# -eq 2 ] || die "usage: $0 start NODE"; cmd_start "$2" ;;
  stop) [ $# -eq 2 ] || die "usage: $0 stop NODE"; cmd_stop "$2" ;;
  wait-online) cmd_wait_online "${2:-60}" ;;
  *) echo "usage: $0 setup|start NODE|stop NODE|wait-online [SEC]" >&2; exit 2 ;;
esac
