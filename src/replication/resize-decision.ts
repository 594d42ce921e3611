// `tandemadm resize` (drbdadm resize, drbdsetup resize --size --assume-clean): when it may run and
// what the new size is. Pure; resize.ts does the talking and the writing.
//
// DRBD 8.4's drbd_adm_resize refuses without a disk (138), during a resync (130) and without a
// Primary on either side (131); drbd_new_dev_size picks min(local, peer) or the user's size, and
// drbd_determine_dev_size refuses to shrink unless the user asked for the size (170). Tandem grows
// both nodes in one step over the peer link, so it also needs the peer connected with its disk,
// where DRBD would grow a disconnected node alone and settle at the next connect.
import type { DiskState, Role } from './messages.js';
import type { ConnState } from './state-rules.js';
import { diskRank, isSyncing } from './state-rules.js';

/** drbd_strings.c / drbd_nl.c codes; drbdsetup exits 10 on all of them */
export const RESIZE_EXIT = 10;

export interface ResizeView {
  role: Role;
  peerRole: Role;
  disk: DiskState;
  peerDisk: DiskState;
  cs: ConnState;
  /** the peer announced that it understands the resize messages (params.features) */
  peerCanResize: boolean;
  /** another resize is still under way on this node */
  resizing: boolean;
}

export type ResizeRefusal = { ok: false; message: string; exitCode: number };
export type ResizeCheck = { ok: true } | ResizeRefusal;

function fail(message: string): ResizeRefusal {
  return { ok: false, message: `Failure: ${message}`, exitCode: RESIZE_EXIT };
}

const hasDisk = (d: DiskState): boolean => diskRank(d) >= diskRank('Inconsistent') && d !== 'DUnknown' && d !== 'Negotiating';

/** May a resize start now? The first rule that applies wins, in DRBD's order. */
export function checkResize(v: ResizeView): ResizeCheck {
  if (!hasDisk(v.disk)) return fail('(138) Device does not have a disk.');
  if (isSyncing(v.cs) || v.cs === 'VerifyS' || v.cs === 'VerifyT') return fail('(130) Resize not allowed during resync.');
  if (v.role !== 'Primary' && v.peerRole !== 'Primary') return fail('(131) Need one Primary node to resize.');
  if (v.cs !== 'Connected') {
    return fail(`Resize needs the peer connected (connection state ${v.cs}): both nodes grow together`);
  }
  if (!hasDisk(v.peerDisk)) return fail(`(138) Peer device does not have a disk (peer disk state ${v.peerDisk}).`);
  if (!v.peerCanResize) return fail('The peer runs a Tandem without online resize; upgrade it first.');
  if (v.resizing) return fail('A resize is already under way.');
  return { ok: true };
}

/** One node's sizes after it read its backing device again. */
export interface NodeSizes {
  /** usable bytes the backing device gives with the metadata at its new place */
  usable: number;
  /** disk { size } of that node's configuration, 0 when unset */
  configured: number;
}

export interface SizeInputs {
  /** bytes exported now (the agreed size) */
  current: number;
  local: NodeSizes;
  peer: NodeSizes;
  peerName: string;
  /** --size=SIZE in bytes, or null */
  requested: number | null;
}

export type SizeDecision =
  | {
      ok: true;
      /** bytes the device exports from now on */
      size: number;
      /**
       * the usable size both nodes record in their metadata: the user's size, or the smaller
       * backing device (disk { size } may export less; raising it later needs no new layout)
       */
      record: number;
      /** the area that is new to the device, marked out of sync unless --assume-clean; null if it did not grow */
      grown: { offset: number; length: number } | null;
    }
  | ResizeRefusal;

const minSet = (...xs: number[]): number => Math.min(...xs.map((x) => (x > 0 ? x : Infinity)));

/**
 * drbd_new_dev_size: the user's size when given (which may shrink: the user said so), else the
 * smallest of both usable sizes and both configured sizes; that one may not be below the current.
 */
export function decideNewSize(i: SizeInputs): SizeDecision {
  let size: number;
  let record: number;
  if (i.requested !== null) {
    const r = i.requested;
    if (!Number.isSafeInteger(r) || r <= 0 || r % 4096 !== 0) {
      return fail(`--size=${r} must be a positive multiple of 4 KiB`);
    }
    if (r > i.local.usable) {
      return fail(`(111) Low.dev. smaller than requested DRBD-dev. size: --size asks for ${r} bytes, this node holds ${i.local.usable} usable bytes`);
    }
    if (r > i.peer.usable) {
      return fail(`(111) Low.dev. smaller than requested DRBD-dev. size: --size asks for ${r} bytes, the peer ${i.peerName} holds only ${i.peer.usable} usable bytes`);
    }
    size = record = r;
  } else {
    record = Math.min(i.local.usable, i.peer.usable);
    size = minSet(record, i.local.configured, i.peer.configured);
    if (size < i.current) {
      const why = i.peer.usable < i.current
        ? `the peer ${i.peerName} holds only ${i.peer.usable} usable bytes`
        : i.local.usable < i.current
          ? `this node holds only ${i.local.usable} usable bytes`
          : `disk { size } limits it to ${size} bytes`;
      return fail(`(170) Implicit device shrinking not allowed: ${why}, less than the current size of ${i.current} bytes; shrink with --size`);
    }
  }
  const grown = size > i.current ? { offset: i.current, length: size - i.current } : null;
  return { ok: true, size, record, grown };
}

/** `--size=` in drbdsetup's units: a number with an optional k/M/G/T suffix (powers of 1024), plain = sectors? */
export function parseResizeSize(text: string): number | null {
  const m = /^(\d+)([kKmMgGtTsS]?)$/.exec(text.trim());
  if (!m) return null;
  const unit = m[2]!.toLowerCase();
  // drbdsetup: no unit means 512-byte sectors; k/M/G/T are binary multiples of bytes
  const mult = unit === '' || unit === 's' ? 512 : unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1024 ** 4;
  const v = Number(m[1]) * mult;
  return Number.isSafeInteger(v) ? v : null;
}
