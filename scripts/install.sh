#!/usr/bin/env bash
# Installs Tandem the way a distribution package would lay it out:
#
#   PREFIX/lib/node_modules/tandem      the npm package (compiled TypeScript, the built addon)
#   PREFIX/bin/{tandemadm,tandemd,tandem-hb}
#   SYSCONFDIR/init.d/{tandem,tandem-hb}   init scripts, callable from rc.local
#   UNITDIR/{tandemd,tandem-hb}.service    systemd units
#   SYSCONFDIR/tandem/                     commented samples (never overwritten)
#   SYSCONFDIR/default/{tandem,tandem-hb}  settings read by both (never overwritten)
#   PREFIX/lib/tandem/                     handlers (as DRBD's /usr/lib/drbd: notify-*.sh, crm-fence-peer.sh,
#                                          crm-unfence-peer.sh) and the install manifest
#   OCFDIR/tandem                          the OCF resource agent ocf:tandem:tandem, when present
#
# Usage:
#   scripts/install.sh [options]            from a clone (after `npm ci`) or from an unpacked tarball
#   scripts/install.sh --uninstall [options]
# Options:
#   --prefix DIR       default /usr
#   --sysconfdir DIR   default /etc
#   --unitdir DIR      default PREFIX/lib/systemd/system
#   --ocfdir DIR       default /usr/lib/ocf/resource.d/tandem (Pacemaker's OCF root is fixed)
#   --root DIR         put everything under DIR as if DIR were / (prefix DIR/usr, sysconfdir
#                      DIR/etc, ...), with those real paths written into the scripts, so the result
#                      runs from there: a try-out install, and what the tests use
#   --destdir DIR      staging for a package build: files go under DIR, the paths written into
#                      scripts and units are the final ones (DIR is left out)
#   --tarball FILE     install this `npm pack` tarball instead of packing the source tree
#   --system-only      the npm package is already installed in PREFIX (npm install -g): lay out
#                      only the system files around it
#   --node FILE        the node binary the init scripts and units use (default: `command -v node`)
# Config files that exist are never touched; `--uninstall` removes what the manifest lists and
# leaves SYSCONFDIR/tandem and SYSCONFDIR/default alone, as dpkg's remove keeps conffiles.
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX=/usr
SYSCONFDIR=/etc
UNITDIR=
OCFDIR=/usr/lib/ocf/resource.d/tandem
DESTDIR=
TARBALL=
MODE=install
SYSTEM_ONLY=0
NODE_BIN=

die() { echo "install.sh: $*" >&2; exit 1; }
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) need_arg "$@"; PREFIX=$2; shift 2 ;;
    --sysconfdir) need_arg "$@"; SYSCONFDIR=$2; shift 2 ;;
    --unitdir) need_arg "$@"; UNITDIR=$2; shift 2 ;;
    --ocfdir) need_arg "$@"; OCFDIR=$2; shift 2 ;;
    --root)
      need_arg "$@"
      r=$(mkdir -p "$2" && cd "$2" && pwd)
      PREFIX=$r/usr; SYSCONFDIR=$r/etc; OCFDIR=$r/usr/lib/ocf/resource.d/tandem
      shift 2 ;;
    --destdir) need_arg "$@"; DESTDIR=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
    --tarball) need_arg "$@"; TARBALL=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    --system-only) SYSTEM_ONLY=1; shift ;;
    --uninstall) MODE=uninstall; shift ;;
    --node) need_arg "$@"; NODE_BIN=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
for d in "$PREFIX" "$SYSCONFDIR" "$OCFDIR"; do
  case "$d" in /*) ;; *) die "'$d' is not an absolute path" ;; esac
done
[ -n "$UNITDIR" ] || UNITDIR=$PREFIX/lib/systemd/system

BINDIR=$PREFIX/bin
PKGDIR=$PREFIX/lib/node_modules/tandem
LIBDIR=$PREFIX/lib/tandem
MANIFEST=$LIBDIR/install-manifest

# ---- uninstall ---------------------------------------------------------------------------------
if [ "$MODE" = uninstall ]; then
  [ -f "$DESTDIR$MANIFEST" ] || die "no manifest at $DESTDIR$MANIFEST: nothing installed there by install.sh"
  while IFS= read -r f; do
    [ -n "$f" ] || continue
    rm -f "$DESTDIR$f"
  done <"$DESTDIR$MANIFEST"
  rm -f "$DESTDIR$MANIFEST"
  rmdir "$DESTDIR$LIBDIR" "$DESTDIR$OCFDIR" 2>/dev/null || true
  if [ -d "$DESTDIR$PKGDIR" ]; then
    npm uninstall -g --prefix "$DESTDIR$PREFIX" tandem >/dev/null
  fi
  echo "install.sh: removed Tandem from $PREFIX (kept $SYSCONFDIR/tandem and $SYSCONFDIR/default/tandem*)"
  exit 0
fi

# ---- the npm package -----------------------------------------------------------------------------
if [ -z "$NODE_BIN" ]; then NODE_BIN=$(command -v node) || die "node is not on PATH (give --node)"; fi
NODE_BIN=$(readlink -f "$NODE_BIN")
[ -x "$NODE_BIN" ] || die "$NODE_BIN is not executable"
NODE_MAJOR=$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] || die "Tandem needs Node.js 20 or newer; $NODE_BIN is $("$NODE_BIN" --version)"

if [ "$SYSTEM_ONLY" -eq 0 ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if [ -z "$TARBALL" ]; then
    [ -f "$SRC/package.json" ] || die "no package.json in $SRC"
    echo "install.sh: packing $SRC"
    # `npm pack` runs the prepare script (tsc), which needs the clone's dev dependencies (npm ci)
    (cd "$SRC" && npm pack --silent --pack-destination "$work" >/dev/null) || die "npm pack failed in $SRC (run npm ci first)"
    TARBALL=$(ls "$work"/tandem-*.tgz)
  fi
  [ -f "$TARBALL" ] || die "no tarball at $TARBALL"
  echo "install.sh: npm install -g --prefix $DESTDIR$PREFIX $(basename "$TARBALL")"
  # the package's own install script builds the addon with node-gyp against Node's headers;
  # --allow-scripts lets it run where npm asks for approval of dependency scripts
  PATH="$(dirname "$NODE_BIN"):$PATH" npm install -g --prefix "$DESTDIR$PREFIX" --allow-scripts=tandem \
    --no-audit --no-fund --loglevel=error "$TARBALL" >/dev/null
  [ -f "$DESTDIR$PKGDIR/build/Release/tandem_native.node" ] || die "the addon was not built in $DESTDIR$PKGDIR"
  PKG_FILES=$DESTDIR$PKGDIR
else
  PKG_FILES=$SRC
  [ -e "$DESTDIR$BINDIR/tandemd" ] || die "--system-only: $DESTDIR$BINDIR/tandemd is missing (npm install -g --prefix $PREFIX first)"
fi

# ---- system files --------------------------------------------------------------------------------
mkdir -p "$DESTDIR$LIBDIR"
: >"$DESTDIR$MANIFEST.new"
record() { echo "$1" >>"$DESTDIR$MANIFEST.new"; }

NODE_DIR=$(dirname "$NODE_BIN")
# the values the init scripts and units are built with (real paths, never DESTDIR)
subst() {
  sed -e "s|^INSTALL_BINDIR=.*|INSTALL_BINDIR=$BINDIR|" \
      -e "s|^INSTALL_NODE_DIR=.*|INSTALL_NODE_DIR=$NODE_DIR|" \
      -e "s|^INSTALL_SYSCONFDIR=.*|INSTALL_SYSCONFDIR=$SYSCONFDIR|" \
      -e "s|@BINDIR@|$BINDIR|g" -e "s|@NODE@|$NODE_BIN|g" -e "s|@SYSCONFDIR@|$SYSCONFDIR|g" \
      -e "s|@PKGDIR@|$PKGDIR|g" -e "s|@NODE_DIR@|$NODE_DIR|g" -e "s|@LIBDIR@|$LIBDIR|g" "$1"
}

# put MODE SRC DEST: a program file, replaced on every install and listed in the manifest
put() {
  local mode=$1 from=$2 to=$3
  mkdir -p "$(dirname "$DESTDIR$to")"
  subst "$from" >"$DESTDIR$to.tmp"
  chmod "$mode" "$DESTDIR$to.tmp"
  mv -f "$DESTDIR$to.tmp" "$DESTDIR$to"
  record "$to"
}

# conf MODE SRC DEST: a config file, written only when there is none (a dpkg conffile)
conf() {
  local mode=$1 from=$2 to=$3
  mkdir -p "$(dirname "$DESTDIR$to")"
  if [ -e "$DESTDIR$to" ]; then
    echo "install.sh: keeping $to"
    return 0
  fi
  subst "$from" >"$DESTDIR$to"
  chmod "$mode" "$DESTDIR$to"
}

put 755 "$PKG_FILES/scripts/rc.tandem" "$SYSCONFDIR/init.d/tandem"
put 755 "$PKG_FILES/scripts/rc.tandem-hb" "$SYSCONFDIR/init.d/tandem-hb"
put 644 "$PKG_FILES/scripts/tandemd.service" "$UNITDIR/tandemd.service"
put 644 "$PKG_FILES/scripts/tandem-hb.service" "$UNITDIR/tandem-hb.service"

conf 644 "$PKG_FILES/scripts/etc/tandem.conf" "$SYSCONFDIR/tandem/tandem.conf"
conf 644 "$PKG_FILES/scripts/etc/tandem.d/r0.res.example" "$SYSCONFDIR/tandem/tandem.d/r0.res.example"
conf 644 "$PKG_FILES/scripts/etc/ha.d/ha.cf" "$SYSCONFDIR/tandem/ha.d/ha.cf"
conf 600 "$PKG_FILES/scripts/etc/ha.d/authkeys" "$SYSCONFDIR/tandem/ha.d/authkeys"
conf 644 "$PKG_FILES/scripts/etc/ha.d/haresources" "$SYSCONFDIR/tandem/ha.d/haresources"
mkdir -p "$DESTDIR$SYSCONFDIR/tandem/ha.d/resource.d"
conf 644 "$PKG_FILES/scripts/etc/default/tandem" "$SYSCONFDIR/default/tandem"
conf 644 "$PKG_FILES/scripts/etc/default/tandem-hb" "$SYSCONFDIR/default/tandem-hb"

if [ -d "$PKG_FILES/scripts/handlers" ]; then
  for h in "$PKG_FILES"/scripts/handlers/*; do
    [ -f "$h" ] && put 755 "$h" "$LIBDIR/$(basename "$h")"
  done
fi
# the names DRBD's notify.sh is called by (/usr/lib/drbd/notify-split-brain.sh and friends)
for ev in split-brain pri-lost pri-lost-after-sb pri-on-incon-degr out-of-sync io-error emergency-reboot emergency-shutdown; do
  ln -sfn notify.sh "$DESTDIR$LIBDIR/notify-$ev.sh"
  record "$LIBDIR/notify-$ev.sh"
done
# DRBD ships crm-unfence-peer.sh as a link to crm-fence-peer.sh, which acts by the name it is run as
# (npm pack leaves the clone's symlink out)
if [ -f "$DESTDIR$LIBDIR/crm-fence-peer.sh" ]; then
  ln -sfn crm-fence-peer.sh "$DESTDIR$LIBDIR/crm-unfence-peer.sh"
  record "$LIBDIR/crm-unfence-peer.sh"
fi
if [ -f "$PKG_FILES/scripts/ocf/tandem" ]; then
  put 755 "$PKG_FILES/scripts/ocf/tandem" "$OCFDIR/tandem"
fi

mv -f "$DESTDIR$MANIFEST.new" "$DESTDIR$MANIFEST"
cat <<EOF
install.sh: installed Tandem $("$NODE_BIN" -p "require('$DESTDIR$PKGDIR/package.json').version" 2>/dev/null || echo '') under $PREFIX
  commands:      $BINDIR/tandemadm, tandemd, tandem-hb
  init scripts:  $SYSCONFDIR/init.d/tandem, tandem-hb (from rc.local: $SYSCONFDIR/init.d/tandem start)
  systemd units: $UNITDIR/tandemd.service, tandem-hb.service
  configuration: $SYSCONFDIR/tandem/ (tandem.conf, tandem.d/, ha.d/)
  handlers:      $LIBDIR/ (notify-*.sh, crm-fence-peer.sh, crm-unfence-peer.sh)
  OCF agent:     $OCFDIR/tandem (ocf:tandem:tandem)
EOF
