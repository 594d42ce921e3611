import { describe, expect, it } from 'vitest';
import { parseMode, planKernelDevice, type KernelDeviceFacts } from '../../../src/nbd/kernel-device-plan.js';

const base: KernelDeviceFacts = {
  uid: 0,
  mode: 'auto',
  devicePath: '/dev/tandem0',
  pathState: { kind: 'absent' },
  nbdModule: false,
  nbdClient: true,
  nbdfuse: true,
  losetup: true,
  fuseDevice: true,
};

describe('planKernelDevice', () => {
  const rows: Array<[string, Partial<KernelDeviceFacts>, ReturnType<typeof planKernelDevice>]> = [
    ['root: loop over tandemd\'s own FUSE file', {}, { kind: 'fuse-loop' }],
    ['root without nbdfuse: still its own FUSE file (nbdfuse is not needed)', { nbdfuse: false }, { kind: 'fuse-loop' }],
    ['root with the nbd module and nbd-client: still FUSE (nbd-client is untested, opt-in only)', { nbdModule: true }, { kind: 'fuse-loop' }],
    ['nbd-client when asked for it', { nbdModule: true, mode: 'nbd-client' }, { kind: 'nbd-client' }],
    ['forced nbdfuse even with the nbd module', { nbdModule: true, mode: 'nbdfuse' }, { kind: 'nbdfuse-loop' }],
    ['forced own FUSE', { mode: 'fuse' }, { kind: 'fuse-loop' }],
    ['not root: NBD socket only', { uid: 1000 }, { kind: 'skip', reason: 'tandemd is not running as root (only the NBD socket is served)' }],
    ['unknown uid (no getuid): NBD socket only', { uid: null }, { kind: 'skip', reason: 'tandemd is not running as root (only the NBD socket is served)' }],
    ['switched off', { mode: 'off' }, { kind: 'skip', reason: 'disabled by TANDEM_KERNEL_DEVICE=off' }],
    ['switched off beats everything, also as non-root', { mode: 'off', uid: 1000 }, { kind: 'skip', reason: 'disabled by TANDEM_KERNEL_DEVICE=off' }],
    ['a bad mode is named', { mode: { invalid: 'yes' } }, { kind: 'skip', reason: "TANDEM_KERNEL_DEVICE='yes' is not one of auto, off, fuse, nbdfuse, nbd-client" }],
    ['our old symlink to a loop device is replaced', { pathState: { kind: 'symlink', target: '/dev/loop7' } }, { kind: 'fuse-loop' }],
    ['our old symlink to an nbd device is replaced', { pathState: { kind: 'symlink', target: '/dev/nbd3' } }, { kind: 'fuse-loop' }],
    ['a foreign symlink is left alone', { pathState: { kind: 'symlink', target: '/dev/sda1' } },
      { kind: 'skip', reason: 'device /dev/tandem0 is a symlink to /dev/sda1, not to a loop or nbd device; refusing to replace it' }],
    ['a real block device node (a DRBD install) is left alone', { pathState: { kind: 'other', what: 'a block device' } },
      { kind: 'skip', reason: 'device /dev/tandem0 exists and is a block device, not a symlink Tandem may replace' }],
    ['a missing parent directory is named', { pathState: { kind: 'no-parent', parent: '/srv/dev' } },
      { kind: 'skip', reason: 'the directory /srv/dev of device /dev/tandem0 does not exist' }],
    ['forced nbd-client without the module', { mode: 'nbd-client' },
      { kind: 'skip', reason: 'TANDEM_KERNEL_DEVICE=nbd-client but the kernel has no nbd module (/dev/nbd0 is missing)' }],
    ['forced nbd-client without the tool', { mode: 'nbd-client', nbdModule: true, nbdClient: false },
      { kind: 'skip', reason: 'TANDEM_KERNEL_DEVICE=nbd-client but nbd-client is not installed' }],
    ['forced nbdfuse without FUSE', { mode: 'nbdfuse', fuseDevice: false }, { kind: 'skip', reason: 'TANDEM_KERNEL_DEVICE=nbdfuse but missing: /dev/fuse' }],
    ['forced nbdfuse without nbdfuse', { mode: 'nbdfuse', nbdfuse: false }, { kind: 'skip', reason: 'TANDEM_KERNEL_DEVICE=nbdfuse but missing: nbdfuse (libnbd-bin)' }],
    ['forced own FUSE without losetup', { mode: 'fuse', losetup: false }, { kind: 'skip', reason: 'TANDEM_KERNEL_DEVICE=fuse but missing: losetup (util-linux)' }],
    ['nothing available: every missing piece is named', { fuseDevice: false, losetup: false },
      { kind: 'skip', reason: 'no way to make a kernel block device: missing losetup (util-linux), /dev/fuse' }],
    ['no FUSE but nbd-client: auto names the opt-in', { fuseDevice: false, nbdModule: true },
      { kind: 'skip', reason: 'no way to make a kernel block device: missing /dev/fuse (nbd-client is installed: TANDEM_KERNEL_DEVICE=nbd-client uses it, untested)' }],
  ];
  it.each(rows)('%s', (_, patch, want) => {
    expect(planKernelDevice({ ...base, ...patch })).toEqual(want);
  });
});

describe('parseMode', () => {
  it.each([
    [undefined, 'auto'], ['', 'auto'], ['auto', 'auto'], [' off ', 'off'], ['fuse', 'fuse'], ['nbdfuse', 'nbdfuse'], ['nbd-client', 'nbd-client'], ['OFF', { invalid: 'OFF' }],
  ] as const)('%j → %j', (raw, want) => {
    expect(parseMode(raw)).toEqual(want);
  });
});
