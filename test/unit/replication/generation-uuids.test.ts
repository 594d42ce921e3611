import { describe, expect, it } from 'vitest';
import {
  UUID_JUST_CREATED,
  UUID_NEW_BM_OFFSET,
  clearBitmapUuid,
  formatUuidDump,
  formatUuids,
  justCreatedUuids,
  maskRoleBit,
  newCurrentUuid,
  newCurrentUuidCommand,
  onConnectedInSync,
  onDemote,
  onPeerDataLost,
  onPromote,
  onResyncFinishedSource,
  onResyncFinishedTarget,
  onResyncStartSource,
  onResyncStartTarget,
  onSkipInitialSyncReceived,
  uuidSet,
  type GenerationUuids,
} from '../../../src/replication/generation-uuids.js';

/** A deterministic rng: hands out the given values in order, then fails loudly. */
function rngOf(...values: bigint[]): () => bigint {
  let i = 0;
  return () => {
    const v = values[i++];
    if (v === undefined) throw new Error('rng exhausted: the rotation drew more random UUIDs than expected');
    return v;
  };
}
const noRng = rngOf();

const T = (current: bigint, bitmap: bigint, h1: bigint, h2: bigint): GenerationUuids => ({ current, bitmap, history: [h1, h2] });
/** DRBD compares tuples with bit 0 masked: the role bit is each node's own business. */
const masked = (u: GenerationUuids): GenerationUuids => T(maskRoleBit(u.current), maskRoleBit(u.bitmap), maskRoleBit(u.history[0]), maskRoleBit(u.history[1]));

describe('create-md and formatting', () => {
  it('create-md writes 4:0:0:0, printed as DRBD does', () => {
    expect(justCreatedUuids()).toEqual(T(4n, 0n, 0n, 0n));
    expect(formatUuids(justCreatedUuids())).toBe('0000000000000004:0000000000000000:0000000000000000:0000000000000000');
  });
  it('uuid dump line has DRBD drbd_uuid_dump layout', () => {
    expect(formatUuidDump('self', T(0xabcn, 0n, 1n, 0n), 15377903, 2)).toBe(
      'self 0000000000000ABC:0000000000000000:0000000000000001:0000000000000000 bits:15377903 flags:2',
    );
  });
  it('maskRoleBit clears only bit 0', () => {
    expect(maskRoleBit(0xff01n)).toBe(0xff00n);
    expect(maskRoleBit(5n)).toBe(UUID_JUST_CREATED);
  });
});

describe('primitives (d84:drbd_main.c)', () => {
  it('uuid_set pushes a non-zero old value into history', () => {
    expect(uuidSet(T(0xa0n, 0xb0n, 0xc0n, 0xd0n), 'bitmap', 0xe0n, 'Secondary')).toEqual(T(0xa0n, 0xe0n, 0xb0n, 0xc0n));
  });
  it('uuid_set into an empty slot leaves history alone', () => {
    expect(uuidSet(T(0xa0n, 0n, 0xc0n, 0xd0n), 'bitmap', 0xe0n, 'Secondary')).toEqual(T(0xa0n, 0xe0n, 0xc0n, 0xd0n));
  });
  it('uuid_set on current applies the role bit', () => {
    expect(uuidSet(T(0xa0n, 0n, 0n, 0n), 'current', 0xe0n, 'Primary').current).toBe(0xe1n);
    expect(uuidSet(T(0xa0n, 0n, 0n, 0n), 'current', 0xe1n, 'Secondary').current).toBe(0xe0n);
  });
  it('new_current copies the current (with its role bit) raw into the bitmap slot', () => {
    expect(newCurrentUuid(T(0xa1n, 0n, 0xc0n, 0xd0n), 'Primary', rngOf(0x1230n))).toEqual(T(0x1231n, 0xa1n, 0xc0n, 0xd0n));
    expect(newCurrentUuid(T(0xa0n, 0n, 0xc0n, 0xd0n), 'Secondary', rngOf(0x1231n))).toEqual(T(0x1230n, 0xa0n, 0xc0n, 0xd0n));
  });
  it('set_bm(0) rotates the bitmap UUID into history; no-op when already 0', () => {
    expect(clearBitmapUuid(T(0xa0n, 0xb0n, 0xc0n, 0xd0n))).toEqual(T(0xa0n, 0n, 0xb0n, 0xc0n));
    expect(clearBitmapUuid(T(0xa0n, 0n, 0xc0n, 0xd0n))).toEqual(T(0xa0n, 0n, 0xc0n, 0xd0n));
  });
});

describe('role changes (drbd_set_role)', () => {
  it('promote while disconnected with bitmap 0 starts a new generation; old current goes to bitmap', () => {
    const r = onPromote(T(0xa0n, 0n, 0xc0n, 0n), { peerDataReachable: false, forced: false }, rngOf(0x5550n));
    expect(r.rotated).toBe(true);
    expect(r.uuids).toEqual(T(0x5551n, 0xa0n, 0xc0n, 0n));
    // the bitmap UUID's bit 0 is clear: this node is the "younger" primary
    expect(r.uuids.bitmap & 1n).toBe(0n);
  });
  it('promote while disconnected but already tracking (bitmap ≠ 0) does not rotate', () => {
    const r = onPromote(T(0xa0n, 0xb1n, 0n, 0n), { peerDataReachable: false, forced: false }, noRng);
    expect(r).toEqual({ uuids: T(0xa1n, 0xb1n, 0n, 0n), rotated: false });
  });
  it('promote while connected only sets bit 0', () => {
    const r = onPromote(T(0xa0n, 0n, 0n, 0n), { peerDataReachable: true, forced: false }, noRng);
    expect(r).toEqual({ uuids: T(0xa1n, 0n, 0n, 0n), rotated: false });
  });
  it('primary --force always rotates, even connected and even with a bitmap UUID', () => {
    const r = onPromote(T(UUID_JUST_CREATED, 0n, 0n, 0n), { peerDataReachable: true, forced: true }, rngOf(0x7770n));
    expect(r.uuids).toEqual(T(0x7771n, UUID_JUST_CREATED, 0n, 0n));
  });
  it('demote clears bit 0 of the current UUID only', () => {
    expect(onDemote(T(0xa1n, 0xb1n, 0xc1n, 0n))).toEqual(T(0xa0n, 0xb1n, 0xc1n, 0n));
  });
});

describe('losing the peer (after_state_ch)', () => {
  it('a Primary with UpToDate data rotates; its bitmap UUID has bit 0 set (the "older" primary)', () => {
    const r = onPeerDataLost(T(0xa1n, 0n, 0n, 0n), { role: 'Primary', peerRole: 'Unknown', disk: 'UpToDate', ioFrozen: false }, rngOf(0x9990n));
    expect(r.outcome).toBe('rotated');
    expect(r.uuids).toEqual(T(0x9991n, 0xa1n, 0n, 0n));
  });
  it('a Secondary that loses its Primary does not rotate', () => {
    const r = onPeerDataLost(T(0xa0n, 0n, 0n, 0n), { role: 'Secondary', peerRole: 'Unknown', disk: 'UpToDate', ioFrozen: false }, noRng);
    expect(r).toEqual({ uuids: T(0xa0n, 0n, 0n, 0n), outcome: 'unchanged' });
  });
  it('a Secondary whose still-connected Primary peer detached rotates', () => {
    const r = onPeerDataLost(T(0xa0n, 0n, 0n, 0n), { role: 'Secondary', peerRole: 'Primary', disk: 'UpToDate', ioFrozen: false }, rngOf(0x4440n));
    expect(r.outcome).toBe('rotated');
    expect(r.uuids).toEqual(T(0x4440n, 0xa0n, 0n, 0n));
  });
  it('no rotation when already tracking or when the local disk is not UpToDate', () => {
    expect(onPeerDataLost(T(0xa1n, 0xb1n, 0n, 0n), { role: 'Primary', peerRole: 'Unknown', disk: 'UpToDate', ioFrozen: false }, noRng).outcome).toBe('unchanged');
    expect(onPeerDataLost(T(0xa1n, 0n, 0n, 0n), { role: 'Primary', peerRole: 'Unknown', disk: 'Consistent', ioFrozen: false }, noRng).outcome).toBe('unchanged');
  });
  it('frozen IO defers the rotation (NEW_CUR_UUID)', () => {
    const r = onPeerDataLost(T(0xa1n, 0n, 0n, 0n), { role: 'Primary', peerRole: 'Unknown', disk: 'UpToDate', ioFrozen: true }, noRng);
    expect(r).toEqual({ uuids: T(0xa1n, 0n, 0n, 0n), outcome: 'deferred' });
  });
});

describe('resync', () => {
  it('source derives the sync UUID from its bitmap UUID + UUID_NEW_BM_OFFSET and rotates history', () => {
    const r = onResyncStartSource(T(0xa1n, 0xb1n, 0xc0n, 0xd0n), noRng);
    expect(r.syncUuid).toBe(0xb1n + UUID_NEW_BM_OFFSET);
    expect(r.uuids).toEqual(T(0xa1n, 0xb1n + UUID_NEW_BM_OFFSET, 0xb1n, 0xc0n));
  });
  it('source with bitmap 0 or JUST_CREATED draws a random sync UUID', () => {
    expect(onResyncStartSource(T(0xa1n, 0n, 0xc0n, 0xd0n), rngOf(0x42n))).toEqual({ uuids: T(0xa1n, 0x42n, 0xc0n, 0xd0n), syncUuid: 0x42n });
    expect(onResyncStartSource(T(0xa1n, 4n, 0n, 0n), rngOf(0x42n))).toEqual({ uuids: T(0xa1n, 0x42n, 4n, 0n), syncUuid: 0x42n });
  });
  it('the sync UUID wraps at 64 bits', () => {
    const r = onResyncStartSource(T(0xa1n, 0xffff_0000_0000_0010n, 0n, 0n), noRng);
    expect(r.syncUuid).toBe(0x0000_0000_0000_0010n);
  });
  it('target takes the sync UUID as current without touching history; bitmap ← 0', () => {
    expect(onResyncStartTarget(T(0xa0n, 0xb0n, 0xc0n, 0xd0n), 0x77n, 'Secondary')).toEqual(T(0x76n, 0n, 0xc0n, 0xd0n));
  });
  it('after a bitmap resync both nodes hold the same tuple {src current, 0, sync uuid, src old bitmap} (bit 0 aside)', () => {
    // source was Primary while disconnected: {new, old-current|1, h…}; target still at old current
    const src0 = T(0x5551n, 0xa1n, 0xc0n, 0xd0n);
    const tgt0 = T(0xa0n, 0n, 0xc0n, 0xd0n);
    const start = onResyncStartSource(src0, noRng);
    const tgt1 = onResyncStartTarget(tgt0, start.syncUuid, 'Secondary');
    const srcDone = onResyncFinishedSource(start.uuids);
    const tgtDone = onResyncFinishedTarget(tgt1, src0, 'Secondary');
    expect(srcDone).toEqual(T(0x5551n, 0n, 0xa1n + UUID_NEW_BM_OFFSET, 0xa1n));
    expect(masked(tgtDone)).toEqual(masked(srcDone));
    expect(tgtDone.current & 1n).toBe(0n); // the target's own role bit
  });
  it('after an initial full sync (source bitmap 0) both nodes agree too', () => {
    const src0 = T(0x7771n, 4n, 0n, 0n); // primary --force from just-created
    const tgt0 = justCreatedUuids();
    const start = onResyncStartSource(src0, rngOf(0x3330n));
    const tgtDone = onResyncFinishedTarget(onResyncStartTarget(tgt0, start.syncUuid, 'Secondary'), src0, 'Secondary');
    const srcDone = onResyncFinishedSource(start.uuids);
    expect(srcDone).toEqual(T(0x7771n, 0n, 0x3330n, 4n));
    expect(tgtDone).toEqual(T(0x7770n, 0n, 0x3330n, 4n));
  });
  it('connecting in sync changes nothing', () => {
    const u = T(0xa0n, 0n, 0xb0n, 0n);
    expect(onConnectedInSync(u)).toEqual(u);
    expect(onConnectedInSync(u)).not.toBe(u);
  });
});

describe('new-current-uuid (drbd_adm_new_c_uuid)', () => {
  it('StandAlone: bitmap UUID rotates into history, then a new current', () => {
    const r = newCurrentUuidCommand(T(0xa1n, 0xb1n, 0xc0n, 0n), { role: 'Primary', conn: 'StandAlone', clearBitmap: false }, rngOf(0x990n));
    expect(r).toEqual({ ok: true, uuids: T(0x991n, 0xa1n, 0xb1n, 0xc0n), clearBitmapBits: false, skipInitialSync: false });
  });
  it('--clear-bitmap while StandAlone clears the bitmap bits but keeps the bitmap UUID', () => {
    const r = newCurrentUuidCommand(T(0xa0n, 0n, 0n, 0n), { role: 'Secondary', conn: 'StandAlone', clearBitmap: true }, rngOf(0x990n));
    expect(r).toEqual({ ok: true, uuids: T(0x990n, 0xa0n, 0n, 0n), clearBitmapBits: true, skipInitialSync: false });
  });
  it('Connected + JUST_CREATED + --clear-bitmap skips the initial sync: bitmap UUID ends 0', () => {
    const r = newCurrentUuidCommand(justCreatedUuids(), { role: 'Secondary', conn: 'Connected', clearBitmap: true }, rngOf(0x990n));
    expect(r).toEqual({ ok: true, uuids: T(0x990n, 0n, 0n, 0n), clearBitmapBits: true, skipInitialSync: true });
  });
  it('refused while connected otherwise', () => {
    const r1 = newCurrentUuidCommand(T(0xa0n, 0n, 0n, 0n), { role: 'Secondary', conn: 'Connected', clearBitmap: true }, noRng);
    const r2 = newCurrentUuidCommand(justCreatedUuids(), { role: 'Secondary', conn: 'Connected', clearBitmap: false }, noRng);
    const r3 = newCurrentUuidCommand(justCreatedUuids(), { role: 'Secondary', conn: 'other', clearBitmap: true }, noRng);
    for (const r of [r1, r2, r3]) expect(r).toEqual({ ok: false, error: 'Device has a net-config (use disconnect first)' });
  });
  it('the peer of a skipped initial sync adopts the current UUID only while still just created', () => {
    expect(onSkipInitialSyncReceived(justCreatedUuids(), 0x991n, { role: 'Secondary', connected: true })).toEqual({
      uuids: T(0x990n, 0n, 0n, 0n),
      accepted: true,
    });
    expect(onSkipInitialSyncReceived(T(0xa0n, 0n, 0n, 0n), 0x991n, { role: 'Secondary', connected: true }).accepted).toBe(false);
    expect(onSkipInitialSyncReceived(justCreatedUuids(), 0x991n, { role: 'Secondary', connected: false }).accepted).toBe(false);
  });
});
