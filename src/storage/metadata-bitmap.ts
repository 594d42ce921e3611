// Helpers over the raw bitmap bytes as stored on disk. Bit order is DRBD's: the bitmap is an
// array of little-endian 64-bit words, so data block i (4 KiB) is bit (i % 8) of byte (i >> 3).
// The native bitmap's load/store uses the same byte image.

import { AL_EXTENT_SIZE } from './activity-log.js';
import { BM_BLOCK_SIZE } from './metadata-layout.js';

const BLOCKS_PER_EXTENT = AL_EXTENT_SIZE / BM_BLOCK_SIZE;

const POP8 = Uint8Array.from({ length: 256 }, (_, i) => {
  let c = 0;
  for (let v = i; v; v >>= 1) c += v & 1;
  return c;
});

/** Number of set bits among the first `usableBlocks` bits (bits past the end are ignored). */
export function countSetBits(bitmap: Uint8Array, usableBlocks: number): number {
  const fullBytes = Math.min(Math.floor(usableBlocks / 8), bitmap.length);
  let n = 0;
  for (let i = 0; i < fullBytes; i++) n += POP8[bitmap[i]!]!;
  const rest = usableBlocks % 8;
  if (rest && fullBytes < bitmap.length) n += POP8[bitmap[fullBytes]! & ((1 << rest) - 1)]!;
  return n;
}

/** Set bits [first, first + count) clipped to usableBlocks; returns how many were newly set. */
export function setBlockRange(bitmap: Uint8Array, first: number, count: number, usableBlocks: number): number {
  const end = Math.min(first + count, usableBlocks, bitmap.length * 8);
  let added = 0;
  for (let i = Math.max(0, first); i < end; i++) {
    const byte = i >> 3;
    const mask = 1 << (i & 7);
    if ((bitmap[byte]! & mask) === 0) {
      bitmap[byte] = bitmap[byte]! | mask;
      added++;
    }
  }
  return added;
}

/**
 * DRBD's apply-al: mark every block of every AL extent out of sync, so a crashed Primary's
 * in-flight writes are resynced. Returns the number of bits newly set
 * ("Marked additional N as out-of-sync based on AL").
 */
export function applyAlToBitmap(bitmap: Uint8Array, extents: Iterable<number>, usableBlocks: number): number {
  let added = 0;
  for (const e of extents) added += setBlockRange(bitmap, e * BLOCKS_PER_EXTENT, BLOCKS_PER_EXTENT, usableBlocks);
  return added;
}
