// Where the metadata goes when the backing device grew (`tandemadm resize`), and the order of the
// writes that take it there.
//
// Internal metadata sits at the end of the backing device, so a bigger device moves it: the new
// superblock, activity log and bitmap go to the new end, and the old ones end up inside the data
// area. External metadata stays where it is; only its bitmap gets longer (in place: the bitmap is
// the last area of an external slot).
//
// The plan is pure (planMetadataResize: layouts in, a verdict out); moveMetadata does the writes,
// in an order that leaves one complete, valid superblock at the place attach looks for it (the
// end of the device as it is now) from its first write on:
//
//   1. a "pointer" superblock at the new end: the current superblock, unchanged, but with its
//      AL and bitmap offsets pointing back at the current (old) areas. Attach reads the
//      superblock at the device's end, so from here on a restart finds this one and runs with
//      the old size and the old bitmap and AL: the resize did not happen, nothing is lost.
//   2. the new bitmap (old bits, plus the grown area marked out of sync) and a verbatim copy of
//      the AL ring into the new areas, flushed. These lie in the grown space, overlapping neither
//      the old areas nor the pointer superblock (the plan refuses a growth too small for that), so
//      a crash here leaves step 1's state.
//   3. the new superblock over the pointer superblock (new usable size, new offsets, the agreed
//      size), flushed. This is the commit point: a restart after it runs with the new size. A
//      torn write of this one block is caught by its CRC like any superblock write (create-md
//      --force and a full sync from the peer).
//   4. the old superblock is zeroed, so that no later look at the old position (a backing device
//      shrunk back, create-md's signature check) mistakes it for live metadata. A crash before
//      it leaves a stale but unused copy.
//
// Not covered: a node that restarts after its backing device grew but before `resize` ran finds
// no superblock at the new end (as DRBD, which needs `drbdmeta check-resize` for that). Run resize
// before restarting, or give the device its old size back.

import { MetadataError } from './metadata-error.js';
import { computeLayout, type LayoutSizes, type MetaLayout, type MetaPlacement } from './metadata-layout.js';
import { superblockLayoutFields, zeroRange, type MetaIO } from './metadata-store.js';
import { SUPERBLOCK_BYTES, encodeSuperblock, type Superblock } from './superblock.js';

export type MetaResizePlan =
  /** the metadata stays as it is: the device did not grow by a whole 4 KiB page */
  | { kind: 'unchanged'; layout: MetaLayout }
  /** same superblock and AL position, the bitmap (at the end of its area) covers more data */
  | { kind: 'in-place'; layout: MetaLayout }
  /** internal metadata moves to the new end of the device */
  | { kind: 'move'; layout: MetaLayout }
  | { kind: 'refuse'; reason: string };

interface Span {
  what: string;
  start: number;
  end: number;
}

function spans(l: MetaLayout): Span[] {
  return [
    { what: 'superblock', start: l.superblockOffset, end: l.superblockOffset + SUPERBLOCK_BYTES },
    { what: 'activity log', start: l.alOffset, end: l.alOffset + l.alSize },
    { what: 'bitmap', start: l.bitmapOffset, end: l.bitmapOffset + l.bitmapAreaSize },
  ];
}

const overlaps = (a: Span, b: Span): boolean => a.start < b.end && b.start < a.end;

/**
 * The metadata's new place for a device of `sizes` bytes, given where it is now (`current`, as its
 * superblock records it). Refuses a device that shrank below the recorded usable size, and a
 * growth too small to write the new areas without touching the current ones.
 */
export function planMetadataResize(current: MetaLayout, placement: MetaPlacement, sizes: LayoutSizes): MetaResizePlan {
  let next: MetaLayout;
  try {
    next = computeLayout(placement, sizes);
  } catch (err) {
    return { kind: 'refuse', reason: (err as Error).message };
  }
  if (next.usableSize < current.usableSize) {
    return {
      kind: 'refuse',
      reason: `the backing device now holds ${next.usableSize} usable bytes, less than the ${current.usableSize} its metadata records: ` +
        `it shrank; Tandem grows online but does not shrink a backing device (restore its size)`,
    };
  }
  const sameAreas = next.superblockOffset === current.superblockOffset && next.alOffset === current.alOffset &&
    next.bitmapOffset === current.bitmapOffset;
  if (sameAreas) {
    if (next.bitmapAreaSize < current.bitmapAreaSize) {
      return { kind: 'refuse', reason: `the bitmap area would shrink from ${current.bitmapAreaSize} to ${next.bitmapAreaSize} bytes` };
    }
    if (next.usableSize === current.usableSize && next.bitmapAreaSize === current.bitmapAreaSize) return { kind: 'unchanged', layout: next };
    return { kind: 'in-place', layout: next };
  }
  if (placement.kind !== 'internal') {
    return { kind: 'refuse', reason: `external metadata would move from offset ${current.superblockOffset} to ${next.superblockOffset}` };
  }
  if (next.superblockOffset < current.superblockOffset) {
    return { kind: 'refuse', reason: `the metadata would move towards the start of the device (offset ${current.superblockOffset} to ${next.superblockOffset})` };
  }
  // The new AL and bitmap must not touch any current area (step 2 runs while those are the valid
  // ones); the new superblock may sit exactly on the current one (a pointer superblock written by
  // an interrupted resize) but must not overlap anything else.
  const now = spans(current);
  const [nextSb, ...nextAreas] = spans(next);
  for (const a of nextAreas) {
    const hit = now.find((c) => overlaps(a, c));
    if (hit) return tooLittle(current, next, `the new ${a.what} would overwrite the current ${hit.what}`);
  }
  const sbHit = now.find((c) => overlaps(nextSb!, c) && !(c.what === 'superblock' && c.start === nextSb!.start));
  if (sbHit) return tooLittle(current, next, `the new superblock would overwrite the current ${sbHit.what}`);
  return { kind: 'move', layout: next };
}

function tooLittle(current: MetaLayout, next: MetaLayout, why: string): MetaResizePlan {
  const end = Math.max(...spans(current).map((s) => s.end));
  const grown = next.superblockOffset + SUPERBLOCK_BYTES - end;
  return {
    kind: 'refuse',
    reason: `the backing device grew by ${grown} bytes, too little to move its metadata (${next.mdSize} bytes) past the current one: ` +
      `${why}; grow it by at least ${next.mdSize} bytes`,
  };
}

/** A superblock that describes `layout`'s areas from `superblockOffset` (relative offsets). */
export function superblockAt(sb: Superblock, superblockOffset: number, layout: MetaLayout): Superblock {
  return {
    ...sb,
    alOffset: layout.alOffset - superblockOffset,
    alSize: layout.alSize,
    bitmapOffset: layout.bitmapOffset - superblockOffset,
    bitmapAreaSize: layout.bitmapAreaSize,
  };
}

export interface MetadataMove {
  io: MetaIO;
  /** where the metadata is now, and its superblock as it is on disk */
  current: MetaLayout;
  currentSb: Superblock;
  /** the plan's layout */
  next: MetaLayout;
  /** the superblock to commit (usable size, agreed size, flags, UUIDs); offsets are filled in here */
  nextSb: Superblock;
  /** the bitmap for next.usableSize, exactly next.bitmapBytes long, grown area already marked */
  bitmap: Buffer;
  /**
   * told when the metadata in use changed place: 'pointer' after step 1 (the superblock in use is
   * now the one at the new end, still describing the old areas), 'committed' after step 3. A
   * caller whose move fails later must write its superblock updates where these say.
   */
  progress?: (stage: 'pointer' | 'committed') => void;
}

/** The writes of a resize in their crash-safe order (see the top of this file). */
export async function moveMetadata(m: MetadataMove): Promise<void> {
  const { io, current, next } = m;
  if (m.bitmap.length !== next.bitmapBytes) {
    throw new MetadataError('EINVAL', `bitmap of ${m.bitmap.length} bytes for a layout that needs ${next.bitmapBytes}`);
  }
  for (const s of spans(next)) {
    if (s.end > io.size) throw new MetadataError('ESIZE', `the new ${s.what} at bytes ${s.start}..${s.end} lies beyond the device (${io.size} bytes)`);
  }
  // an interrupted resize leaves a pointer superblock already at the new end: then only the areas move
  const sbMoves = next.superblockOffset !== current.superblockOffset;
  if (sbMoves) {
    // 1. pointer superblock: the current metadata, found from the new end
    await io.write(next.superblockOffset, encodeSuperblock(superblockAt(m.currentSb, next.superblockOffset, current)));
    await io.flush();
    m.progress?.('pointer');
  }
  if (next.alOffset !== current.alOffset) {
    // 2a. the AL ring, verbatim: transactions carry no offsets, so it recovers the same there
    await io.write(next.alOffset, await io.read(current.alOffset, current.alSize));
  }
  // 2b. the bitmap, whole pages, zero-padded to the end of its area
  const area = Buffer.alloc(next.bitmapAreaSize);
  m.bitmap.copy(area);
  await io.write(next.bitmapOffset, area);
  await io.flush();
  // 3. commit
  const sb: Superblock = { ...m.nextSb, ...superblockLayoutFields(next), bitmapCrc32c: null };
  await io.write(next.superblockOffset, encodeSuperblock(sb));
  await io.flush();
  m.progress?.('committed');
  if (sbMoves) {
    // 4. the old superblock is data area (or unused) now
    await zeroRange(io, current.superblockOffset, SUPERBLOCK_BYTES);
    await io.flush();
  }
}
