// `resize`'s pure decisions as tables: when it may run (DRBD 8.4 drbd_adm_resize's refusals plus
// Tandem's need of a connected peer), the new size (drbd_new_dev_size / determine_dev_size),
// and drbdsetup's --size units.
import { describe, expect, it } from 'vitest';
import { normaliseLegacyArgs } from '../../../src/cli/legacy-args.js';
import { checkResize, decideNewSize, parseResizeSize, type ResizeView, type SizeInputs } from '../../../src/replication/resize-decision.js';

const MiB = 1024 * 1024;
const OK: ResizeView = {
  role: 'Primary', peerRole: 'Secondary', disk: 'UpToDate', peerDisk: 'UpToDate', cs: 'Connected', peerCanResize: true, resizing: false,
};

describe('checkResize', () => {
  const cases: Array<[string, Partial<ResizeView>, string | null]> = [
    ['Primary, connected, both UpToDate', {}, null],
    ['on the Secondary of a Primary peer', { role: 'Secondary', peerRole: 'Primary' }, null],
    ['peer Inconsistent (a resync will follow anyway)', { peerDisk: 'Inconsistent' }, null],
    ['diskless', { disk: 'Diskless' }, 'Failure: (138) Device does not have a disk.'],
    ['disk failed', { disk: 'Failed' }, 'Failure: (138) Device does not have a disk.'],
    ['SyncSource', { cs: 'SyncSource' }, 'Failure: (130) Resize not allowed during resync.'],
    ['PausedSyncT', { cs: 'PausedSyncT', role: 'Secondary', peerRole: 'Primary' }, 'Failure: (130) Resize not allowed during resync.'],
    ['WFBitMapS', { cs: 'WFBitMapS' }, 'Failure: (130) Resize not allowed during resync.'],
    ['online verify', { cs: 'VerifyS' }, 'Failure: (130) Resize not allowed during resync.'],
    ['two Secondaries', { role: 'Secondary' }, 'Failure: (131) Need one Primary node to resize.'],
    ['StandAlone', { cs: 'StandAlone', peerRole: 'Unknown', peerDisk: 'DUnknown' }, 'Failure: Resize needs the peer connected (connection state StandAlone): both nodes grow together'],
    ['WFConnection', { cs: 'WFConnection', peerRole: 'Unknown', peerDisk: 'DUnknown' }, 'Failure: Resize needs the peer connected (connection state WFConnection): both nodes grow together'],
    ['peer diskless', { peerDisk: 'Diskless' }, 'Failure: (138) Peer device does not have a disk (peer disk state Diskless).'],
    ['old peer', { peerCanResize: false }, 'Failure: The peer runs a Tandem without online resize; upgrade it first.'],
    ['already resizing', { resizing: true }, 'Failure: A resize is already under way.'],
  ];
  it.each(cases)('%s', (_name, change, message) => {
    const v = checkResize({ ...OK, ...change });
    if (message === null) expect(v).toEqual({ ok: true });
    else expect(v).toEqual({ ok: false, message, exitCode: 10 });
  });
});

describe('decideNewSize', () => {
  const base: SizeInputs = {
    current: 16 * MiB, local: { usable: 32 * MiB, configured: 0 }, peer: { usable: 32 * MiB, configured: 0 }, peerName: 'node2', requested: null,
  };
  const cases: Array<[string, Partial<SizeInputs>, { size: number; record: number; grown: [number, number] | null } | RegExp]> = [
    ['both grew alike', {}, { size: 32 * MiB, record: 32 * MiB, grown: [16 * MiB, 16 * MiB] }],
    ['the smaller node decides', { peer: { usable: 24 * MiB, configured: 0 } }, { size: 24 * MiB, record: 24 * MiB, grown: [16 * MiB, 8 * MiB] }],
    ['the peer did not grow: nothing changes', { peer: { usable: 16 * MiB, configured: 0 } }, { size: 16 * MiB, record: 16 * MiB, grown: null }],
    ['disk { size } here caps the export, not the record', { local: { usable: 32 * MiB, configured: 20 * MiB } }, { size: 20 * MiB, record: 32 * MiB, grown: [16 * MiB, 4 * MiB] }],
    ["the peer's disk { size } caps it too", { peer: { usable: 32 * MiB, configured: 18 * MiB } }, { size: 18 * MiB, record: 32 * MiB, grown: [16 * MiB, 2 * MiB] }],
    ['--size within both', { requested: 20 * MiB }, { size: 20 * MiB, record: 20 * MiB, grown: [16 * MiB, 4 * MiB] }],
    ['--size above disk { size }: the user wins', { requested: 30 * MiB, local: { usable: 32 * MiB, configured: 20 * MiB } }, { size: 30 * MiB, record: 30 * MiB, grown: [16 * MiB, 14 * MiB] }],
    ['--size may shrink', { requested: 8 * MiB }, { size: 8 * MiB, record: 8 * MiB, grown: null }],
    ['--size beyond this node', { requested: 40 * MiB }, /^Failure: \(111\) Low\.dev\. smaller than requested DRBD-dev\. size: --size asks for 41943040 bytes, this node holds 33554432 usable bytes$/],
    ['--size beyond the peer', { requested: 28 * MiB, peer: { usable: 24 * MiB, configured: 0 } }, /^Failure: \(111\) .* the peer node2 holds only 25165824 usable bytes$/],
    ['--size not whole 4 KiB', { requested: 1001 * 512 }, /^Failure: --size=512512 must be a positive multiple of 4 KiB$/],
    ['a smaller peer without --size', { current: 24 * MiB, peer: { usable: 20 * MiB, configured: 0 } }, /^Failure: \(170\) Implicit device shrinking not allowed: the peer node2 holds only 20971520 usable bytes, less than the current size of 25165824 bytes; shrink with --size$/],
    ['disk { size } lowered without --size', { current: 24 * MiB, local: { usable: 32 * MiB, configured: 20 * MiB } }, /^Failure: \(170\) Implicit device shrinking not allowed: disk \{ size \} limits it to 20971520 bytes/],
  ];
  it.each(cases)('%s', (_name, change, want) => {
    const d = decideNewSize({ ...base, ...change });
    if (want instanceof RegExp) {
      expect(d.ok).toBe(false);
      if (!d.ok) {
        expect(d.message).toMatch(want);
        expect(d.exitCode).toBe(10);
      }
    } else {
      expect(d).toEqual({ ok: true, size: want.size, record: want.record, grown: want.grown && { offset: want.grown[0], length: want.grown[1] } });
    }
  });
});

describe('parseResizeSize (drbdsetup units)', () => {
  it.each([
    ['100M', 100 * MiB], ['1G', 1024 * MiB], ['512k', 512 * 1024], ['2048', 2048 * 512], ['2048s', 2048 * 512], ['1T', 1024 * 1024 * MiB],
  ])('%s → %d bytes', (text, bytes) => expect(parseResizeSize(text)).toBe(bytes));
  it.each(['', '10X', '-1M', '1.5G', 'M'])('%j is refused', (text) => expect(parseResizeSize(text)).toBeNull());
});

describe("drbdadm 8.3's `-- --size=… resize`", () => {
  it('moves the options after the command', () => {
    expect(normaliseLegacyArgs(['--config', 'c', '--', '--size=10G', '--assume-clean', 'resize', 'r0'])).toEqual(['--config', 'c', 'resize', '--size=10G', '--assume-clean', 'r0']);
    expect(normaliseLegacyArgs(['resize', 'r0', '--size=10G'])).toEqual(['resize', 'r0', '--size=10G']);
  });
});
