// The activity log (AL): which 4 MiB extents may have writes in flight, kept on disk so that after
// a Primary crash only those extents need resync (reference §4.3). Pure: this file builds the
// bytes to write and reads them back; metadata-store.ts does the I/O.
//
// The AL area (32 KiB) is a ring of 4 KiB blocks. Unlike DRBD 8.4, which logs up to 64 slot
// changes per transaction and rebuilds the set from the whole ring, every Tandem transaction
// carries the complete active set, so recovery reads exactly one transaction: the valid one with
// the highest sequence number. A transaction takes k = 1, 2 or 4 blocks (a power of two big
// enough for `al-extents` entries) and is written at a k-aligned block. The next transaction
// never overlaps the newest valid one, so a torn write (crash mid-write; caught by the CRC32C)
// leaves the previous transaction intact and recovery falls back to it. Power-of-two sizes at
// aligned positions nest, which keeps that guarantee when `al-extents` changes between runs.
//
// After a crash the writer reissues the next sequence number at the same slot, so the sectors of
// two interrupted attempts can add up to one complete transaction, which recovery then returns.
// That is safe: every transaction lists the whole hot set at the time it was issued, and nothing
// was written after an interrupted one; a completed transaction always has a higher number and
// wins. The caller must apply the recovered set to the bitmap (applyAlToBitmap) and persist it
// before writing new transactions, as DRBD's apply-al does before attach.
//
// Transaction layout (big-endian), k * 4096 bytes:
//    0  u32  magic 0x54414C54 ("TALT")
//    4  u32  CRC32C of the whole k * 4096 bytes with this field zero
//    8  u64  sequence number, +1 per transaction, never reused
//   16  u16  k (blocks in this transaction)
//   18  u16  reserved (0)
//   20  u32  n (number of extents)
//   24  u32  extent numbers [n], ascending
//   ..       zero padding

import { crc32c } from './crc32c-js.js';
import { MetadataError } from './metadata-error.js';

export const AL_EXTENT_SIZE = 4 * 1024 * 1024;
export const AL_BLOCK_SIZE = 4096;
export const AL_MAGIC = 0x54414c54;
const HEADER = 24;
const MAX_BLOCKS_PER_TRANSACTION = 4;
/** DRBD's minimum al-extents. */
export const AL_EXTENTS_MIN = 7;
/** The most extents one (4-block) transaction can list. DRBD 8.4's default 1237 needs 2 blocks. */
export const AL_EXTENTS_MAX = (MAX_BLOCKS_PER_TRANSACTION * AL_BLOCK_SIZE - HEADER) / 4;
const MAX_EXTENT_NR = 0xffffffff;

/** Where the newest valid transaction sits, so the next one can avoid it. */
export interface AlPosition {
  seq: number;
  block: number;
  blocks: number;
}

export interface AlRecovery {
  /** extents that may differ from the peer after a crash: the newest valid transaction's set */
  active: ReadonlySet<number>;
  /** the newest valid transaction, or null when the ring holds none (fresh metadata) */
  last: AlPosition | null;
  /** how many blocks started a valid transaction / carried the magic but failed their CRC */
  validTransactions: number;
  damagedTransactions: number;
}

export interface AlWrite {
  /** absolute byte offset on the metadata device */
  offset: number;
  data: Buffer;
  seq: number;
}

export interface ActivityLogOptions {
  /** absolute byte offset of the AL area on the metadata device */
  areaOffset: number;
  areaSize: number;
  alExtents: number;
}

/** Blocks per transaction for a configured al-extents: the smallest power of two that fits. */
export function blocksPerTransaction(alExtents: number): number {
  checkAlExtents(alExtents);
  const need = Math.ceil((HEADER + 4 * alExtents) / AL_BLOCK_SIZE);
  let k = 1;
  while (k < need) k *= 2;
  return k;
}

export function checkAlExtents(alExtents: number): void {
  if (!Number.isSafeInteger(alExtents) || alExtents < AL_EXTENTS_MIN || alExtents > AL_EXTENTS_MAX) {
    throw new MetadataError(
      'EINVAL',
      `al-extents ${alExtents} is out of range: Tandem supports ${AL_EXTENTS_MIN}..${AL_EXTENTS_MAX} ` +
        `with its 32 KiB activity log`,
    );
  }
}

/** The AL extents a write of `length` bytes at `offset` touches. */
export function alExtentsFor(offset: number, length: number): number[] {
  if (length <= 0) return [];
  const first = Math.floor(offset / AL_EXTENT_SIZE);
  const last = Math.floor((offset + length - 1) / AL_EXTENT_SIZE);
  const out: number[] = [];
  for (let e = first; e <= last; e++) out.push(e);
  return out;
}

/**
 * Builds AL transactions. Construct it from the recovery of the same area (so sequence numbers
 * keep growing and the first write avoids the newest valid transaction); then, for each change
 * of the hot set, `recordActive` gives the bytes to write and flush before the data write.
 */
export class ActivityLogWriter {
  private readonly blocks: number;
  private readonly areaBlocks: number;
  private last: AlPosition | null;

  constructor(
    private readonly opts: ActivityLogOptions,
    recovered: AlRecovery,
  ) {
    this.blocks = blocksPerTransaction(opts.alExtents);
    // a multiple of the largest transaction, room for two of them: see nextBlock()
    const unit = MAX_BLOCKS_PER_TRANSACTION * AL_BLOCK_SIZE;
    if (!Number.isSafeInteger(opts.areaSize) || opts.areaSize % unit !== 0 || opts.areaSize < 2 * unit) {
      throw new MetadataError(
        'EINVAL',
        `activity log area of ${opts.areaSize} bytes must be a multiple of ${unit} bytes and at least ${2 * unit}`,
      );
    }
    this.areaBlocks = opts.areaSize / AL_BLOCK_SIZE;
    this.last = recovered.last;
  }

  get lastSeq(): number {
    return this.last?.seq ?? 0;
  }

  recordActive(extents: Iterable<number>): AlWrite {
    const sorted = [...new Set(extents)].sort((a, b) => a - b);
    for (const e of sorted) {
      if (!Number.isSafeInteger(e) || e < 0 || e > MAX_EXTENT_NR) {
        throw new MetadataError('EINVAL', `activity log extent ${e} is not a valid extent number`);
      }
    }
    if (sorted.length > this.opts.alExtents) {
      throw new MetadataError('EINVAL', `${sorted.length} active extents exceed al-extents ${this.opts.alExtents}`);
    }
    const seq = this.lastSeq + 1;
    const block = this.nextBlock();
    const data = encodeTransaction(seq, this.blocks, sorted);
    this.last = { seq, block, blocks: this.blocks };
    return { offset: this.opts.areaOffset + block * AL_BLOCK_SIZE, data, seq };
  }

  /** The first k-aligned slot after the newest transaction (circularly) that does not overlap it. */
  private nextBlock(): number {
    const k = this.blocks;
    const slots = this.areaBlocks / k;
    const last = this.last;
    if (!last) return 0;
    const startSlot = Math.ceil((last.block + last.blocks) / k) % slots;
    for (let i = 0; i < slots; i++) {
      const b = ((startSlot + i) % slots) * k;
      if (b + k <= last.block || b >= last.block + last.blocks) return b;
    }
    // unreachable: k and last.blocks are powers of two <= 4 and the area is a multiple of 4 blocks
    // with at least 8, so aligned slots nest and at most half of them overlap the last transaction
    throw new Error('activity log: no free slot (invariant broken)');
  }
}

export function encodeTransaction(seq: number, blocks: number, sortedExtents: readonly number[]): Buffer {
  const buf = Buffer.alloc(blocks * AL_BLOCK_SIZE);
  if (HEADER + 4 * sortedExtents.length > buf.length) {
    throw new MetadataError('EINVAL', `${sortedExtents.length} extents do not fit in a ${blocks}-block AL transaction`);
  }
  buf.writeUInt32BE(AL_MAGIC, 0);
  buf.writeBigUInt64BE(BigInt(seq), 8);
  buf.writeUInt16BE(blocks, 16);
  buf.writeUInt32BE(sortedExtents.length, 20);
  sortedExtents.forEach((e, i) => buf.writeUInt32BE(e, HEADER + 4 * i));
  buf.writeUInt32BE(crc32c(buf), 4);
  return buf;
}

/** Read the AL area and return the newest intact transaction's active set. Never throws on bad bytes. */
export function recover(area: Buffer): AlRecovery {
  const areaBlocks = Math.floor(area.length / AL_BLOCK_SIZE);
  let best: { pos: AlPosition; extents: number[] } | null = null;
  let valid = 0;
  let damaged = 0;
  for (let b = 0; b < areaBlocks; b++) {
    const at = b * AL_BLOCK_SIZE;
    if (area.readUInt32BE(at) !== AL_MAGIC) continue;
    const tx = decodeTransactionAt(area, b, areaBlocks);
    if (!tx) {
      damaged++;
      continue;
    }
    valid++;
    if (!best || tx.pos.seq > best.pos.seq) best = tx;
  }
  return {
    active: new Set(best?.extents ?? []),
    last: best?.pos ?? null,
    validTransactions: valid,
    damagedTransactions: damaged,
  };
}

function decodeTransactionAt(area: Buffer, block: number, areaBlocks: number): { pos: AlPosition; extents: number[] } | null {
  const at = block * AL_BLOCK_SIZE;
  const blocks = area.readUInt16BE(at + 16);
  if (blocks < 1 || blocks > MAX_BLOCKS_PER_TRANSACTION || (blocks & (blocks - 1)) !== 0) return null;
  if (block % blocks !== 0 || block + blocks > areaBlocks) return null;
  const tx = Buffer.from(area.subarray(at, at + blocks * AL_BLOCK_SIZE));
  const stored = tx.readUInt32BE(4);
  tx.writeUInt32BE(0, 4);
  if (crc32c(tx) !== stored) return null;
  const seqBig = tx.readBigUInt64BE(8);
  const n = tx.readUInt32BE(20);
  if (seqBig === 0n || seqBig > BigInt(Number.MAX_SAFE_INTEGER) || HEADER + 4 * n > tx.length) return null;
  const extents: number[] = [];
  for (let i = 0; i < n; i++) extents.push(tx.readUInt32BE(HEADER + 4 * i));
  return { pos: { seq: Number(seqBig), block, blocks }, extents };
}
