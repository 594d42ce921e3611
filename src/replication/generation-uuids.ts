// Generation identifiers ("GI tuple") and every way DRBD 8.4 rotates them (reference §1.1, §1.3;
// d84:drbd_main.c uuid helpers, drbd_nl.c drbd_set_role / drbd_adm_new_c_uuid, drbd_state.c
// after_state_ch, drbd_receiver.c receive_sync_uuid, drbd_worker.c drbd_resync_finished).
// Pure: every function takes a tuple and returns a new one; randomness comes from `rng`.
//
// Bit 0 of a UUID records the role at the time it was written: DRBD sets it on the current UUID
// of a Primary and copies it along when the current UUID moves into the bitmap slot. That is how
// the split-brain policies later tell the "older" Primary (bitmap bit 0 = 1) from the "younger".
// Comparisons always mask it (see sync-decision.ts).

import type { DiskState, Role } from './drbd-states.js';
import { diskRank } from './drbd-states.js';

export interface GenerationUuids {
  current: bigint;
  bitmap: bigint;
  history: [bigint, bigint];
}

/** Written by create-md; "the initial sync must be started by hand" while both sides hold it. */
export const UUID_JUST_CREATED = 4n;
/** Added to the bitmap UUID to derive the next sync UUID (d84:drbd_int.h UUID_NEW_BM_OFFSET). */
export const UUID_NEW_BM_OFFSET = 0x0001_0000_0000_0000n;
export const UUID_ROLE_BIT = 1n;
const U64 = (1n << 64n) - 1n;

/** 64 random bits; injected so that rotations are deterministic in tests. */
export type UuidRng = () => bigint;

/** The local role as far as UUIDs care: only Primary sets bit 0. */
export type UuidRole = Role;

/** The tuple `create-md` writes: 4:0:0:0. */
export function justCreatedUuids(): GenerationUuids {
  return { current: UUID_JUST_CREATED, bitmap: 0n, history: [0n, 0n] };
}

/** A UUID without its role bit, as DRBD compares them. */
export function maskRoleBit(uuid: bigint): bigint {
  return uuid & U64 & ~UUID_ROLE_BIT;
}

function withRoleBit(uuid: bigint, role: UuidRole): bigint {
  const v = uuid & U64;
  return role === 'Primary' ? v | UUID_ROLE_BIT : v & ~UUID_ROLE_BIT;
}

function copy(u: GenerationUuids): GenerationUuids {
  return { current: u.current, bitmap: u.bitmap, history: [u.history[0], u.history[1]] };
}

/** `drbd_uuid_set()`: a non-zero old value of the slot is pushed into history (h2 ← h1, h1 ← old). */
export function uuidSet(u: GenerationUuids, slot: 'current' | 'bitmap', value: bigint, role: UuidRole): GenerationUuids {
  const r = copy(u);
  if (r[slot] !== 0n) r.history = [r[slot], r.history[0]];
  r[slot] = slot === 'current' ? withRoleBit(value, role) : value & U64;
  return r;
}

/** `drbd_uuid_set_bm(0)`: the bitmap UUID goes into history and the slot is emptied. No-op when already 0. */
export function clearBitmapUuid(u: GenerationUuids): GenerationUuids {
  if (u.bitmap === 0n) return copy(u);
  return { current: u.current, bitmap: 0n, history: [u.bitmap, u.history[0]] };
}

/**
 * `drbd_uuid_new_current()`: the current UUID (with its role bit) moves raw into the bitmap slot,
 * a random one replaces it. The history is not touched; an already-set bitmap UUID is overwritten
 * (DRBD warns "bm UUID was already set"; callers check `bitmap !== 0n` first if they care).
 */
export function newCurrentUuid(u: GenerationUuids, role: UuidRole, rng: UuidRng): GenerationUuids {
  return { current: withRoleBit(rng(), role), bitmap: u.current, history: [u.history[0], u.history[1]] };
}

export interface PromoteContext {
  /** conn ≥ Connected and the peer's disk is above Failed: the peer still receives our writes. */
  peerDataReachable: boolean;
  /** `primary --force` (alias `--overwrite-data-of-peer`) always starts a new generation. */
  forced: boolean;
}

/**
 * `drbd_set_role(Primary)`: a Primary that cannot replicate starts a new data generation, unless it is
 * already tracking changes since an earlier disconnect (bitmap UUID ≠ 0). Then bit 0 is set.
 */
export function onPromote(u: GenerationUuids, ctx: PromoteContext, rng: UuidRng): { uuids: GenerationUuids; rotated: boolean } {
  const rotate = (!ctx.peerDataReachable && u.bitmap === 0n) || ctx.forced;
  const next = rotate ? newCurrentUuid(u, 'Primary', rng) : copy(u);
  next.current = withRoleBit(next.current, 'Primary');
  return { uuids: next, rotated: rotate };
}

/** `drbd_set_role(Secondary)`: only the role bit of the current UUID changes. */
export function onDemote(u: GenerationUuids): GenerationUuids {
  const r = copy(u);
  r.current = withRoleBit(r.current, 'Secondary');
  return r;
}

export interface PeerDataLostContext {
  /** our role after the state change */
  role: Role;
  /** the peer's role after the change: Unknown once the link is gone, so a Secondary that loses its Primary does not rotate */
  peerRole: Role;
  /** our disk state after the change */
  disk: DiskState;
  /** IO is frozen (fencing): DRBD sets NEW_CUR_UUID and rotates at resume-io / after the fence handler */
  ioFrozen: boolean;
}

/**
 * The peer's disk went from usable to not (pdsk Inconsistent..UpToDate, not Outdated → below
 * Inconsistent, DUnknown or Outdated): a Primary (or the Secondary of a still-connected Primary) with
 * UpToDate data and no bitmap UUID starts a new generation (d84:drbd_state.c after_state_ch).
 */
export function onPeerDataLost(
  u: GenerationUuids,
  ctx: PeerDataLostContext,
  rng: UuidRng,
): { uuids: GenerationUuids; outcome: 'rotated' | 'deferred' | 'unchanged' } {
  const applies =
    (ctx.role === 'Primary' || ctx.peerRole === 'Primary') &&
    u.bitmap === 0n &&
    diskRank(ctx.disk) >= diskRank('UpToDate');
  if (!applies) return { uuids: copy(u), outcome: 'unchanged' };
  if (ctx.ioFrozen) return { uuids: copy(u), outcome: 'deferred' };
  return { uuids: newCurrentUuid(u, ctx.role, rng), outcome: 'rotated' };
}

/**
 * Start of a resync on the SyncSource (`drbd_gen_and_send_sync_uuid`): the sync UUID is the bitmap UUID
 * plus UUID_NEW_BM_OFFSET (random if the bitmap UUID is 0 or JUST_CREATED); it goes into the bitmap slot,
 * pushing the old bitmap UUID into history. The caller sends `syncUuid` to the target.
 */
export function onResyncStartSource(u: GenerationUuids, rng: UuidRng): { uuids: GenerationUuids; syncUuid: bigint } {
  const syncUuid =
    u.bitmap !== 0n && u.bitmap !== UUID_JUST_CREATED ? (u.bitmap + UUID_NEW_BM_OFFSET) & U64 : rng() & U64;
  return { uuids: uuidSet(u, 'bitmap', syncUuid, 'Secondary'), syncUuid };
}

/** Start of a resync on the SyncTarget (`receive_sync_uuid`): current ← sync UUID without history rotation, bitmap ← 0. */
export function onResyncStartTarget(u: GenerationUuids, syncUuid: bigint, role: UuidRole): GenerationUuids {
  return { current: withRoleBit(syncUuid, role), bitmap: 0n, history: [u.history[0], u.history[1]] };
}

/** Resync finished on the SyncSource: the bitmap UUID (the sync UUID) moves into history. */
export function onResyncFinishedSource(u: GenerationUuids): GenerationUuids {
  return clearBitmapUuid(u);
}

/**
 * Resync finished on the SyncTarget (`drbd_resync_finished`): take the source's bitmap and history,
 * push our current (the sync UUID) through the bitmap slot, take the source's current, then clear the
 * bitmap UUID. `peer` is the source's tuple as last received (before it generated the sync UUID).
 * Afterwards both nodes hold the same tuple. Not applied after an online verify.
 */
export function onResyncFinishedTarget(u: GenerationUuids, peer: GenerationUuids, role: UuidRole): GenerationUuids {
  let r: GenerationUuids = { current: u.current, bitmap: peer.bitmap & U64, history: [peer.history[0] & U64, peer.history[1] & U64] };
  r = uuidSet(r, 'bitmap', r.current, role);
  r.current = withRoleBit(peer.current, role);
  return clearBitmapUuid(r);
}

/**
 * A handshake that decided "no resync" (rules 10 and 40): DRBD 8.4 leaves the tuple alone. Listed so
 * that callers do not invent a rotation for this event; a Connected pair already has bitmap UUID 0
 * unless a split brain left both bitmap UUIDs set.
 */
export function onConnectedInSync(u: GenerationUuids): GenerationUuids {
  return copy(u);
}

export type NewCurrentUuidResult =
  | {
      ok: true;
      uuids: GenerationUuids;
      /** clear all bits of the on-disk bitmap (`--clear-bitmap`) */
      clearBitmapBits: boolean;
      /** connected, just-created pair: send UUIDs with flag 8 and set disk = pdsk = UpToDate */
      skipInitialSync: boolean;
    }
  | { ok: false; error: string };

/**
 * `new-current-uuid [--clear-bitmap]` (`drbd_adm_new_c_uuid`): allowed StandAlone, or Connected with
 * current == JUST_CREATED and --clear-bitmap ("skip initial sync"). The bitmap UUID rotates into
 * history, then a new current is generated. When skipping the initial sync the bitmap UUID is then
 * zeroed without a further history shift, as DRBD does.
 */
export function newCurrentUuidCommand(
  u: GenerationUuids,
  ctx: { role: UuidRole; conn: 'StandAlone' | 'Connected' | 'other'; clearBitmap: boolean },
  rng: UuidRng,
): NewCurrentUuidResult {
  const skipInitialSync = ctx.conn === 'Connected' && u.current === UUID_JUST_CREATED && ctx.clearBitmap;
  if (!skipInitialSync && ctx.conn !== 'StandAlone') {
    return { ok: false, error: 'Device has a net-config (use disconnect first)' };
  }
  let r = uuidSet(u, 'bitmap', 0n, ctx.role);
  r = newCurrentUuid(r, ctx.role, rng);
  if (skipInitialSync) r.bitmap = 0n;
  return { ok: true, uuids: r, clearBitmapBits: ctx.clearBitmap, skipInitialSync };
}

/**
 * The peer's UUIDs arrived with flag 8 ("skip initial sync", `receive_uuids`): a Connected node whose
 * current is still JUST_CREATED adopts the peer's current, clears bitmap UUID and bitmap, and both
 * disks become UpToDate. Otherwise nothing changes.
 */
export function onSkipInitialSyncReceived(
  u: GenerationUuids,
  peerCurrent: bigint,
  ctx: { role: UuidRole; connected: boolean },
): { uuids: GenerationUuids; accepted: boolean } {
  if (!ctx.connected || u.current !== UUID_JUST_CREATED) return { uuids: copy(u), accepted: false };
  return { uuids: { current: withRoleBit(peerCurrent, ctx.role), bitmap: 0n, history: [u.history[0], u.history[1]] }, accepted: true };
}

export function uuidsEqual(a: GenerationUuids, b: GenerationUuids): boolean {
  return a.current === b.current && a.bitmap === b.bitmap && a.history[0] === b.history[0] && a.history[1] === b.history[1];
}

function hex16(v: bigint): string {
  return (v & U64).toString(16).toUpperCase().padStart(16, '0');
}

/** `CUR:BM:H1:H2` in DRBD's `%016llX` form, as in its kernel log and `drbdadm get-gi`. */
export function formatUuids(u: GenerationUuids): string {
  return [u.current, u.bitmap, u.history[0], u.history[1]].map(hex16).join(':');
}

/** DRBD's `drbd_uuid_dump` line: `self 0000…:…:…:… bits:N flags:X`. */
export function formatUuidDump(text: string, u: GenerationUuids, bits: number, flags: number): string {
  return `${text} ${formatUuids(u)} bits:${bits} flags:${flags.toString(16).toUpperCase()}`;
}
