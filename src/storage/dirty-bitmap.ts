// DRBD's quick-sync bitmap: one bit per `granularity` bytes of the device, set while a block
// is (possibly) different on the peer, cleared once resync has copied it.
//
// Range semantics: every method taking (offset, length) acts on every block the byte range
// touches, including partially covered blocks at either end. That holds for clearRange too:
// resync always copies whole blocks, so a cleared block is one that was copied completely.
// A zero-length range touches nothing. A range past the device end throws a RangeError.
//
// Serialised form (toBuffer/loadBuffer/merge): 64-bit words, little-endian, bit b of the map is
// bit (b % 64) of word (b / 64); equivalently bit (b % 8) of byte (b / 8). The length is
// ceil(totalBits / 64) * 8 bytes, and bits past totalBits are always zero (ignored on load).
//
// Memory: one allocation of that many bytes: a 1 TiB device at 4 KiB granularity is 2^28 bits,
// 32 MiB. count() is O(1): the native side keeps a running population count.
import { native, type NativeDirtyBitmap } from './native.js';

export interface DirtyRun {
  offset: number;
  length: number;
}

export const DEFAULT_GRANULARITY = 4096;

export class DirtyBitmap {
  readonly deviceBytes: number;
  readonly granularity: number;
  readonly totalBits: number;
  /** Length of toBuffer() and of what loadBuffer()/merge() accept. */
  readonly byteLength: number;
  #map: NativeDirtyBitmap;

  /** granularity: a power of two >= 512 (bytes per bit). */
  constructor(deviceBytes: number, granularity: number = DEFAULT_GRANULARITY) {
    if (!Number.isSafeInteger(deviceBytes) || deviceBytes < 0) {
      throw new RangeError(`deviceBytes must be a non-negative integer, got ${deviceBytes}`);
    }
    if (!Number.isSafeInteger(granularity) || granularity < 512 || (granularity & (granularity - 1)) !== 0) {
      throw new RangeError(`granularity must be a power of two >= 512, got ${granularity}`);
    }
    this.#map = new native.NativeDirtyBitmap(deviceBytes, granularity);
    const info = this.#map.info();
    this.deviceBytes = deviceBytes;
    this.granularity = info.granularity;
    this.totalBits = info.totalBits;
    this.byteLength = info.byteLength;
  }

  /** Marks every block the range touches dirty. */
  setRange(offset: number, length: number): void {
    this.#map.setRange(offset, length);
  }

  /** Marks every block the range touches clean (partially covered end blocks included). */
  clearRange(offset: number, length: number): void {
    this.#map.clearRange(offset, length);
  }

  /** True if any block the range touches is dirty. */
  testRange(offset: number, length: number): boolean {
    return this.#map.testRange(offset, length);
  }

  /**
   * 4 KiB pages of the bitmap held in memory. Pages that are all clean or all dirty cost none, so
   * a clean, fully dirty or front-to-back resyncing 1 TiB device holds a few pages, not 32 MiB.
   */
  residentPages(): number {
    return this.#map.info().mixedPages;
  }

  /** Number of dirty blocks (DRBD's oos: is count() * granularity / 1024 KiB, less a partial tail). */
  count(): number {
    return this.#map.count();
  }

  /** Bytes of the device covered by dirty blocks, the last block counted only up to the device end. */
  dirtyBytes(): number {
    const n = this.count();
    if (n === 0) return 0;
    const tail = this.deviceBytes % this.granularity;
    const lastDirty = tail !== 0 && this.testRange(this.deviceBytes - 1, 1);
    return n * this.granularity - (lastDirty ? this.granularity - tail : 0);
  }

  /**
   * The first run of consecutive dirty blocks at or after the block holding `fromOffset`:
   * offset is block-aligned; length covers at most floor(maxBytes / granularity) blocks (so
   * maxBytes must be >= granularity) and never reaches past the device end. Null if no block
   * from there on is dirty.
   */
  nextDirtyRun(fromOffset: number, maxBytes: number): DirtyRun | null {
    return this.#map.nextDirtyRun(fromOffset, maxBytes);
  }

  toBuffer(): Buffer {
    return this.#map.toBuffer();
  }

  /** The serialised 64-bit words [firstWord, firstWord + wordCount) only (same byte order as toBuffer). */
  toBufferRange(firstWord: number, wordCount: number): Buffer {
    return this.#map.toBufferRange(firstWord, wordCount);
  }

  /** Fills `target` (a multiple of 8 bytes) with the serialised words from `firstWord`: a reusable toBufferRange. */
  storeRange(firstWord: number, target: Buffer): void {
    this.#map.storeRange(firstWord, target);
  }

  /**
   * Words [firstWord, firstWord + wordCount) in run-length form for the peer link: runs of clear
   * words, of set words, and literal words (DRBD compresses its bitmap exchange likewise). A clean
   * or fully dirty 1 TiB bitmap is a few bytes instead of 32 MiB.
   */
  encodeRange(firstWord: number, wordCount: number): Buffer {
    return this.#map.encodeRange(firstWord, wordCount);
  }

  /**
   * Loads (or, with merge, ORs in) an encodeRange piece at `firstWord`; returns how many words it
   * covered. Peer input: a malformed piece, or one running past the end, is a RangeError.
   */
  decodeRange(firstWord: number, encoded: Uint8Array, merge = false): number {
    return this.#map.decodeRange(firstWord, encoded, merge);
  }

  /**
   * Replaces (or, with merge, ORs into) the words that `bytes` covers, starting at `firstWord`;
   * `bytes` is a multiple of 8 in toBuffer's byte order. Loads and merges a large bitmap in pieces.
   */
  loadRange(firstWord: number, bytes: Uint8Array, merge = false): void {
    this.#map.loadRange(firstWord, bytes, merge);
  }

  /** Replaces the contents; the buffer must be exactly byteLength bytes. */
  loadBuffer(buf: Uint8Array): void {
    this.#map.loadBuffer(buf);
  }

  /** ORs another bitmap (same size and granularity, serialised) into this one. */
  merge(other: Uint8Array): void {
    this.#map.merge(other);
  }

  setAll(): void {
    this.#map.setAll();
  }

  clearAll(): void {
    this.#map.clearAll();
  }
}
