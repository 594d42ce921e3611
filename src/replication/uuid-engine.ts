// The UUID rotations of generation-uuids.ts bound to a random source, plus their wire form.
// The resource asks this object instead of calling crypto itself, so tests can make UUIDs predictable.
import { randomBytes } from 'node:crypto';
import {
  newCurrentUuid, newCurrentUuidCommand, onDemote, onPromote, onResyncFinishedSource, onResyncFinishedTarget,
  onResyncStartSource, onResyncStartTarget, type GenerationUuids, type NewCurrentUuidResult, type UuidRng,
} from './generation-uuids.js';
import type { Role, WireUuids } from './messages.js';

export interface UuidEngine {
  newCurrent(u: GenerationUuids, role: Role): GenerationUuids;
  promote(u: GenerationUuids, ctx: { peerDataReachable: boolean; forced: boolean }): GenerationUuids;
  demote(u: GenerationUuids): GenerationUuids;
  syncSourceStart(u: GenerationUuids): { uuids: GenerationUuids; syncUuid: bigint };
  syncTargetStart(u: GenerationUuids, syncUuid: bigint, role: Role): GenerationUuids;
  syncTargetFinish(u: GenerationUuids, peer: GenerationUuids, role: Role): GenerationUuids;
  syncSourceFinish(u: GenerationUuids): GenerationUuids;
  newCurrentCommand(u: GenerationUuids, ctx: { role: Role; conn: 'StandAlone' | 'Connected' | 'other'; clearBitmap: boolean }): NewCurrentUuidResult;
}

export function cryptoRng(): bigint {
  // never 0 or JUST_CREATED: those values mean "empty" and "fresh metadata"
  for (;;) {
    const v = randomBytes(8).readBigUInt64BE() & ~1n;
    if (v > 4n) return v;
  }
}

export function uuidEngine(rng: UuidRng): UuidEngine {
  return {
    newCurrent: (u, role) => newCurrentUuid(u, role, rng),
    promote: (u, ctx) => onPromote(u, ctx, rng).uuids,
    demote: (u) => onDemote(u),
    syncSourceStart: (u) => onResyncStartSource(u, rng),
    syncTargetStart: (u, s, role) => onResyncStartTarget(u, s, role),
    syncTargetFinish: (u, peer, role) => onResyncFinishedTarget(u, peer, role),
    syncSourceFinish: (u) => onResyncFinishedSource(u),
    newCurrentCommand: (u, ctx) => newCurrentUuidCommand(u, ctx, rng),
  };
}

export function defaultUuidEngine(): UuidEngine {
  return uuidEngine(cryptoRng);
}

const hex = (v: bigint): string => v.toString(16);
const parse = (s: string): bigint => {
  if (!/^[0-9a-f]{1,16}$/i.test(s)) throw new Error(`malformed UUID '${s.slice(0, 20)}' from peer`);
  return BigInt('0x' + s);
};

export function uuidsToWire(u: GenerationUuids): WireUuids {
  return { current: hex(u.current), bitmap: hex(u.bitmap), history: [hex(u.history[0]), hex(u.history[1])] };
}

/** Throws on malformed input; callers treat that as a protocol error of the peer. */
export function uuidsFromWire(w: WireUuids): GenerationUuids {
  if (!w || !Array.isArray(w.history) || w.history.length !== 2) throw new Error('malformed UUID set from peer');
  return { current: parse(w.current), bitmap: parse(w.bitmap), history: [parse(w.history[0]), parse(w.history[1])] };
}

export function parseWireUuid(s: string): bigint {
  return parse(s);
}
