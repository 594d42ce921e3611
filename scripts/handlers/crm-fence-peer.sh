#!/bin/sh
# crm-fence-peer.sh / crm-unfence-peer.sh — DRBD's Pacemaker fencing handlers for Tandem, installed
# in /usr/lib/tandem. Use them as in drbd.conf:
#
#   disk     { fencing resource-only; }
#   handlers { fence-peer          "/usr/lib/tandem/crm-fence-peer.sh";
#              after-resync-target "/usr/lib/tandem/crm-unfence-peer.sh"; }
#
# fence-peer: when this node loses its peer while Primary (or is promoted without it), place a
# location constraint in the CIB that forbids the promoted role on every node but this one, and
# exit 4 (peer reachable, so its data is now outdated), 5 (peer unreachable, this node UpToDate)
# or 7 (peer fenced) as DRBD's handler does. after-resync-target: remove that constraint once
# both disks are UpToDate. Options as DRBD's (--timeout, --dc-timeout, --id-prefix, --role,
# --clone-id for --master-id, --unfence-only-if-owner-match) plus --ping-node ADDR: when no ping
# node answers, this node is the one cut off and places nothing. The work is done by
# `tandemadm crm-fence-peer` (src/ocf/); this wrapper picks the command by the name it runs as.
TANDEMADM=@BINDIR@/tandemadm
if [ ! -x "$TANDEMADM" ]; then
  # from a clone: the package's own bin/
  here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
  TANDEMADM=$here/../../bin/tandemadm.js
fi
case $(basename "$0") in
  crm-unfence-peer*) cmd=crm-unfence-peer ;;
  *) cmd=crm-fence-peer ;;
esac
# the config tandemd read (DRBD_CONF) and the run dir and node it exported to its handlers
exec "$TANDEMADM" ${DRBD_CONF:+--config "$DRBD_CONF"} "$cmd" "$@"
