#!/bin/sh
# notify.sh — DRBD's notification handler for Tandem, installed as /usr/lib/tandem/notify.sh with
# the same links DRBD ships (notify-split-brain.sh, notify-pri-lost.sh, notify-pri-lost-after-sb.sh,
# notify-pri-on-incon-degr.sh, notify-out-of-sync.sh, notify-io-error.sh). Use it as in drbd.conf:
#
#   handlers { split-brain "/usr/lib/tandem/notify-split-brain.sh root"; }
#
# The event is the name the script was called by (notify-EVENT.sh); the argument is the mail
# recipient (default root). tandemd runs handlers with DRBD's environment (DRBD_RESOURCE,
# DRBD_MINOR, DRBD_PEER, …). The event goes to syslog (logger) and, where a mailer is installed
# (sendmail, else mail), to the recipient. Exit 0 unless nothing could be told at all.

recipient=${1:-root}
name=$(basename "$0" .sh)
event=${name#notify-}
[ "$event" = "$name" ] && event=${DRBD_EVENT:-event}
host=$(uname -n)
subject="Tandem $event on $host (resource ${DRBD_RESOURCE:-?})"

case "$event" in
  split-brain) what="Tandem detected a split brain in resource ${DRBD_RESOURCE}. Manual split-brain recovery may be needed: see the log of tandemd on both nodes." ;;
  pri-lost) what="The Primary of resource ${DRBD_RESOURCE} lost the resync decision (rr-conflict call-pri-lost)." ;;
  pri-lost-after-sb) what="The Primary of resource ${DRBD_RESOURCE} lost the split-brain decision and could not give up its role." ;;
  pri-on-incon-degr) what="Resource ${DRBD_RESOURCE} is Primary on Inconsistent data without a connected peer: no good copy of the data is reachable." ;;
  out-of-sync) what="Online verify found blocks out of sync in resource ${DRBD_RESOURCE}; disconnect and connect it to resync them." ;;
  io-error|local-io-error) what="A disk error happened on the backing device of resource ${DRBD_RESOURCE}." ;;
  *) what="Event $event on resource ${DRBD_RESOURCE}." ;;
esac

body="$what

host:     $host
resource: ${DRBD_RESOURCE:-}
minor:    ${DRBD_MINOR:-}
peer:     ${DRBD_PEERS:-${DRBD_PEER:-}} ${DRBD_PEER_ADDRESS:-}
config:   ${DRBD_CONF:-}"

told=0
if command -v logger >/dev/null 2>&1; then
  logger -t tandem-notify -p daemon.warning "$subject: $what" && told=1
fi
if command -v sendmail >/dev/null 2>&1; then
  printf 'To: %s\nSubject: %s\n\n%s\n' "$recipient" "$subject" "$body" | sendmail -t && told=1
elif command -v mail >/dev/null 2>&1; then
  printf '%s\n' "$body" | mail -s "$subject" "$recipient" && told=1
fi
[ "$told" -eq 1 ] || { echo "notify.sh: neither logger nor a mailer could be run for: $subject" >&2; exit 1; }
exit 0
