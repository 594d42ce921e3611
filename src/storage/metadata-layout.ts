// Where Tandem's metadata lives, and how much of the backing device is left for data.
//
// Units: bytes everywhere. One bitmap bit covers BM_BLOCK_SIZE = 4 KiB of data (DRBD's
// BM_BLOCK_SHIFT 12); the metadata is made of 4 KiB-aligned pieces:
//
//   superblock      4 KiB
//   activity log   32 KiB   (a ring of 4 KiB transaction blocks; DRBD's default al size)
//   bitmap          ceil(usable / 4 KiB / 8) bytes, rounded up to a whole 4 KiB page
//                   (one 4 KiB bitmap page covers 32768 blocks = 128 MiB of data)
//
// Internal metadata (`meta-disk internal`) sits at the end of the backing device, in DRBD's order:
//
//   [ data (usable) ][ bitmap ][ activity log ][ superblock ][ 0..4095 bytes unused ]
//
//   B          = backing size rounded down to 4 KiB (the tail that is not a whole 4 KiB is unused)
//   metaSize(U) = 4096 + 32768 + ceil(U / 128 MiB) * 4096
//   usable U   = the largest multiple of 4 KiB with  U + metaSize(U) <= B
//   superblock = B - 4096;  AL = superblock - 32 KiB;  bitmap = U (right after the data)
//
// This is DRBD's formula (md_size_sect = ceil(Cs / 2^18) * 8 + 72 sectors) except that the bitmap
// is sized for the usable area rather than the whole backing device, so Tandem's usable size is
// never smaller than DRBD's on the same disk (a filesystem made on DRBD still fits). Examples:
//   64 MiB backing  -> metadata 40 KiB,        usable 64 MiB - 40 KiB   = 67,067,904 bytes
//   1 GiB backing   -> metadata 68 KiB,        usable 1 GiB - 68 KiB    (DRBD: 136 sectors = 68 KiB)
//   1 TiB backing   -> metadata 32 MiB + 36 KiB, usable 1,099,478,036,480 bytes
// Rule of thumb, as DRBD's: 32 KiB of metadata per GiB of data, plus 36 KiB.
//
// External metadata keeps the whole data device usable (rounded down to 4 KiB) and puts
// [ superblock ][ activity log ][ bitmap ] on the metadata device:
//   `meta-disk /dev/x [n]` (indexed): in fixed 128 MiB slot n, at byte n * 128 MiB. The slot's
//     bitmap (128 MiB - 36 KiB) covers at most ~4 TiB; larger data devices are limited to that.
//   `meta-disk /dev/x` (flexible): at byte 0, sized for the data device like the internal case.
// Usable size is capped at 1 PiB (DRBD_MAX_SECTORS_FLEX).

import { MetadataError } from './metadata-error.js';

export const BM_BLOCK_SIZE = 4096;
export const MD_ALIGN = 4096;
export const SUPERBLOCK_SIZE = 4096;
export const AL_AREA_SIZE = 32 * 1024;
/** Data covered by one 4 KiB page of bitmap: 4096 bytes * 8 bits * 4 KiB. */
export const BYTES_PER_BITMAP_PAGE = MD_ALIGN * 8 * BM_BLOCK_SIZE;
export const INDEXED_SLOT_SIZE = 128 * 1024 * 1024;
export const MAX_USABLE_SIZE = 2 ** 50; // 1 PiB
const FIXED_META = SUPERBLOCK_SIZE + AL_AREA_SIZE;

export type MetaPlacement =
  | { kind: 'internal' }
  | { kind: 'external-indexed'; index: number }
  | { kind: 'external-flexible' };

export interface MetaLayout {
  placement: MetaPlacement;
  /** All offsets are absolute byte offsets on the device that holds the metadata. */
  mdOffset: number;
  mdSize: number;
  superblockOffset: number;
  alOffset: number;
  alSize: number;
  bitmapOffset: number;
  /** bytes reserved for the bitmap (a multiple of 4 KiB) */
  bitmapAreaSize: number;
  /** bytes of the bitmap that carry bits: ceil(usableBlocks / 64) * 8 (whole 64-bit words) */
  bitmapBytes: number;
  usableSize: number;
  usableBlocks: number;
  /** what bounded the usable size: the data device, the indexed slot's bitmap, or the 1 PiB cap */
  limitedBy: 'backing' | 'metadata-slot' | 'maximum';
}

export interface LayoutSizes {
  /** size of the data (backing) device in bytes */
  dataSize: number;
  /** size of the metadata device in bytes; ignored (same device) for internal metadata */
  metaDeviceSize?: number;
}

const alignDown = (n: number, a: number): number => n - (n % a);
const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** Bytes of bitmap words (64 bits each) needed for `usableSize` bytes of data. */
export function bitmapBytesFor(usableSize: number): number {
  return Math.ceil(usableSize / BM_BLOCK_SIZE / 64) * 8;
}

/** Bitmap area (4 KiB pages) for `usableSize` bytes of data. */
export function bitmapAreaFor(usableSize: number): number {
  return alignUp(bitmapBytesFor(usableSize), MD_ALIGN);
}

/** Size of internal metadata for a given usable size (see the formula at the top). */
export function internalMetaSize(usableSize: number): number {
  return FIXED_META + bitmapAreaFor(usableSize);
}

/**
 * Largest 4 KiB multiple U with U + internalMetaSize(U) <= backing rounded down to 4 KiB.
 * Returns 0 when not even one block fits.
 */
export function internalUsableSize(backingSize: number): number {
  checkSize('backing size', backingSize);
  const avail = alignDown(backingSize, MD_ALIGN) - FIXED_META;
  if (avail <= MD_ALIGN) return 0;
  // With p bitmap pages, U <= min(p * 128 MiB, avail - p * 4 KiB): the first term grows with p,
  // the second shrinks, so the best p is at their crossing, p0 or p0 + 1.
  const p0 = Math.floor(avail / (BYTES_PER_BITMAP_PAGE + MD_ALIGN));
  let best = 0;
  for (const p of [p0, p0 + 1]) {
    const u = Math.min(p * BYTES_PER_BITMAP_PAGE, avail - p * MD_ALIGN);
    if (u > best) best = u;
  }
  return Math.min(best, MAX_USABLE_SIZE);
}

function checkSize(what: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new MetadataError('EINVAL', `${what} must be a non-negative integer number of bytes, got ${n}`);
  }
}

/** Compute where superblock, activity log and bitmap live. Throws MetadataError ESIZE if it cannot fit. */
export function computeLayout(placement: MetaPlacement, sizes: LayoutSizes): MetaLayout {
  checkSize('data size', sizes.dataSize);
  switch (placement.kind) {
    case 'internal': {
      const usable = internalUsableSize(sizes.dataSize);
      if (usable < BM_BLOCK_SIZE) {
        throw new MetadataError(
          'ESIZE',
          `backing device of ${sizes.dataSize} bytes is too small for internal metadata ` +
            `(needs at least ${FIXED_META + 2 * MD_ALIGN} bytes)`,
        );
      }
      const sb = alignDown(sizes.dataSize, MD_ALIGN) - SUPERBLOCK_SIZE;
      const al = sb - AL_AREA_SIZE;
      const bmArea = bitmapAreaFor(usable);
      const bm = al - bmArea;
      return {
        placement,
        mdOffset: bm,
        mdSize: sb + SUPERBLOCK_SIZE - bm,
        superblockOffset: sb,
        alOffset: al,
        alSize: AL_AREA_SIZE,
        bitmapOffset: bm,
        bitmapAreaSize: bmArea,
        bitmapBytes: bitmapBytesFor(usable),
        usableSize: usable,
        usableBlocks: usable / BM_BLOCK_SIZE,
        limitedBy: usable === MAX_USABLE_SIZE ? 'maximum' : 'backing',
      };
    }
    case 'external-indexed': {
      const { index } = placement;
      if (!Number.isSafeInteger(index) || index < 0) {
        throw new MetadataError('EINVAL', `meta-disk index must be a non-negative integer, got ${index}`);
      }
      const metaSize = externalMetaDeviceSize(sizes);
      const start = index * INDEXED_SLOT_SIZE;
      if (start + INDEXED_SLOT_SIZE > metaSize) {
        throw new MetadataError(
          'ESIZE',
          `meta-disk index ${index} needs ${start + INDEXED_SLOT_SIZE} bytes on the metadata device ` +
            `(128 MiB per index), but it has only ${metaSize}`,
        );
      }
      const bmArea = INDEXED_SLOT_SIZE - FIXED_META;
      const slotMax = bmArea * 8 * BM_BLOCK_SIZE;
      const data = alignDown(sizes.dataSize, BM_BLOCK_SIZE);
      const usable = Math.min(data, slotMax);
      requireSomeData(usable, sizes.dataSize);
      return externalLayout(placement, start, INDEXED_SLOT_SIZE, bmArea, usable, usable < data ? 'metadata-slot' : 'backing');
    }
    case 'external-flexible': {
      const metaSize = externalMetaDeviceSize(sizes);
      const data = alignDown(sizes.dataSize, BM_BLOCK_SIZE);
      const usable = Math.min(data, MAX_USABLE_SIZE);
      requireSomeData(usable, sizes.dataSize);
      const bmArea = bitmapAreaFor(usable);
      const mdSize = FIXED_META + bmArea;
      if (mdSize > metaSize) {
        throw new MetadataError(
          'ESIZE',
          `metadata device of ${metaSize} bytes is too small: ${usable} bytes of data need ${mdSize} bytes of metadata`,
        );
      }
      return externalLayout(placement, 0, mdSize, bmArea, usable, usable < data ? 'maximum' : 'backing');
    }
  }
}

function externalMetaDeviceSize(sizes: LayoutSizes): number {
  if (sizes.metaDeviceSize === undefined) {
    throw new MetadataError('EINVAL', 'external metadata needs the size of the metadata device');
  }
  checkSize('metadata device size', sizes.metaDeviceSize);
  return sizes.metaDeviceSize;
}

function requireSomeData(usable: number, dataSize: number): void {
  if (usable < BM_BLOCK_SIZE) {
    throw new MetadataError('ESIZE', `data device of ${dataSize} bytes is too small (less than one 4 KiB block)`);
  }
}

function externalLayout(
  placement: MetaPlacement,
  start: number,
  mdSize: number,
  bmArea: number,
  usable: number,
  limitedBy: MetaLayout['limitedBy'],
): MetaLayout {
  return {
    placement,
    mdOffset: start,
    mdSize,
    superblockOffset: start,
    alOffset: start + SUPERBLOCK_SIZE,
    alSize: AL_AREA_SIZE,
    bitmapOffset: start + FIXED_META,
    bitmapAreaSize: bmArea,
    bitmapBytes: bitmapBytesFor(usable),
    usableSize: usable,
    usableBlocks: usable / BM_BLOCK_SIZE,
    limitedBy,
  };
}

/** Human form of a placement, as drbd.conf spells it (for messages). */
export function describePlacement(p: MetaPlacement): string {
  switch (p.kind) {
    case 'internal':
      return 'internal';
    case 'external-indexed':
      return `external [${p.index}]`;
    case 'external-flexible':
      return 'external (flexible)';
  }
}
