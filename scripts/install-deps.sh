#!/usr/bin/env bash
# Installs the Debian packages that Tandem's tests, e2e lab and benchmarks use.
# Idempotent: packages already present are skipped, so CI and developers can run it every time.
set -euo pipefail

PKGS=(
  libnbd-bin      # nbdinfo, nbdcopy, nbdfuse: real NBD clients and the kernel-device path
  nbdkit          # non-replicated NBD baseline for benchmarks
  fio             # load generator (nbd ioengine)
  qemu-utils      # qemu-io / qemu-img: independent NBD client for tests
  fuse3           # fusermount3: unmounts the kernel device's FUSE mount (tandemd's own and nbdfuse's)
  e2fsprogs       # mkfs.ext4 / e2fsck for the e2e tests
  iproute2        # ip netns / veth for the lab
  util-linux      # blockdev, blkid
  mount           # losetup, mount, umount (split out of util-linux in Debian 12)
  psmisc          # fuser: who holds a device open
  curl            # HTTP checks in the e2e scenario
  iputils-ping    # ping nodes (ha.cf `ping`, ipfail rule)
  iputils-arping  # gratuitous ARP after a VIP moves (IPaddr agent); without it clients wait ~36 s
  procps          # ps / pgrep in scripts
  strace          # the e2e barrier test watches both tandemd call fdatasync; bench/profile.js
  corosync        # the Pacemaker e2e test: two cluster nodes in the lab (scripts/lab-pacemaker.sh)
  pacemaker       # pacemakerd, the scheduler, crm_attribute/crm_master for ocf:tandem:tandem
  pacemaker-cli-utils  # crm_mon, cibadmin, crm_resource, crmadmin (crm-fence-peer)
  pcs             # the pcs commands of the README, run by the e2e test
  crmsh           # the crm commands of the README
  resource-agents # ocf-shellfuncs, ocf:heartbeat:Filesystem/IPaddr2/anything, ocf-tester
  libxml2-utils   # xmllint: ocf-tester validates the agent's meta-data against ra-api-1.dtd
  xfsprogs        # mkfs.xfs, xfs_growfs: the e2e grows a mounted filesystem online after a resize
  kmod            # modprobe: ocf:heartbeat:Filesystem checks the filesystem module with it
  chromium        # headless browser for the status page tests (driven by playwright-core; never a downloaded build)
  fonts-dejavu-core  # the page's font in the screenshots
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nbd-client only exists where the distribution ships it; it is optional.
if apt-cache show nbd-client >/dev/null 2>&1; then
  dpkg-query -W -f='${Status}' nbd-client 2>/dev/null | grep -q 'install ok installed' || missing+=(nbd-client)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
