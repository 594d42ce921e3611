import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  computeLayout,
  internalMetaSize,
  internalUsableSize,
  type MetaLayout,
} from '../../../src/storage/metadata-layout.js';
import { MetadataError } from '../../../src/storage/metadata-error.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

type Expect = Pick<MetaLayout, 'usableSize' | 'superblockOffset' | 'alOffset' | 'bitmapOffset' | 'bitmapAreaSize' | 'bitmapBytes' | 'mdSize'>;

describe('internal metadata layout (hand-computed table)', () => {
  // meta = 4 KiB superblock + 32 KiB AL + ceil(usable / 128 MiB) * 4 KiB bitmap pages;
  // bitmapBytes = ceil(usable / 4096 / 64) * 8.
  const table: Array<[string, number, Expect]> = [
    // 64 MiB: one bitmap page; 16374 blocks -> 256 words -> 2048 bytes. DRBD: 80 sectors = 40 KiB.
    ['64 MiB', 64 * MiB, {
      usableSize: 64 * MiB - 40 * KiB, superblockOffset: 64 * MiB - 4 * KiB, alOffset: 64 * MiB - 36 * KiB,
      bitmapOffset: 64 * MiB - 40 * KiB, bitmapAreaSize: 4 * KiB, bitmapBytes: 2048, mdSize: 40 * KiB,
    }],
    // a tail that is not a whole 4 KiB is left unused, like DRBD's 0..7 padding sectors
    ['64 MiB + 1000 bytes', 64 * MiB + 1000, {
      usableSize: 64 * MiB - 40 * KiB, superblockOffset: 64 * MiB - 4 * KiB, alOffset: 64 * MiB - 36 * KiB,
      bitmapOffset: 64 * MiB - 40 * KiB, bitmapAreaSize: 4 * KiB, bitmapBytes: 2048, mdSize: 40 * KiB,
    }],
    // exactly 128 MiB of data plus 40 KiB of metadata fits with one bitmap page
    ['128 MiB + 40 KiB', 128 * MiB + 40 * KiB, {
      usableSize: 128 * MiB, superblockOffset: 128 * MiB + 36 * KiB, alOffset: 128 * MiB + 4 * KiB,
      bitmapOffset: 128 * MiB, bitmapAreaSize: 4 * KiB, bitmapBytes: 4096, mdSize: 40 * KiB,
    }],
    // 4 KiB less: the data shrinks by one block, still one bitmap page
    ['128 MiB + 36 KiB', 128 * MiB + 36 * KiB, {
      usableSize: 128 * MiB - 4 * KiB, superblockOffset: 128 * MiB + 32 * KiB, alOffset: 128 * MiB,
      bitmapOffset: 128 * MiB - 4 * KiB, bitmapAreaSize: 4 * KiB, bitmapBytes: 4096, mdSize: 40 * KiB,
    }],
    // 1 GiB: superblock at 1073737728 and 68 KiB of metadata, as DRBD's create-md (136 sectors);
    // 262127 blocks -> 4096 words -> 32 KiB of bitmap
    ['1 GiB', GiB, {
      usableSize: GiB - 68 * KiB, superblockOffset: 1073737728, alOffset: GiB - 36 * KiB,
      bitmapOffset: GiB - 68 * KiB, bitmapAreaSize: 32 * KiB, bitmapBytes: 32 * KiB, mdSize: 68 * KiB,
    }],
    // 1 TiB: 8192 bitmap pages; DRBD: 8192 * 8 + 72 sectors = 33591296 bytes. 268427255 blocks
    // -> 4194176 words -> 33553408 bytes
    ['1 TiB', TiB, {
      usableSize: 1_099_478_036_480, superblockOffset: TiB - 4 * KiB, alOffset: TiB - 36 * KiB,
      bitmapOffset: 1_099_478_036_480, bitmapAreaSize: 32 * MiB, bitmapBytes: 33_553_408, mdSize: 32 * MiB + 36 * KiB,
    }],
    // the smallest device: one block of data
    ['44 KiB', 44 * KiB, {
      usableSize: 4 * KiB, superblockOffset: 40 * KiB, alOffset: 8 * KiB,
      bitmapOffset: 4 * KiB, bitmapAreaSize: 4 * KiB, bitmapBytes: 8, mdSize: 40 * KiB,
    }],
  ];

  it.each(table)('%s', (_name, backing, want) => {
    const l = computeLayout({ kind: 'internal' }, { dataSize: backing });
    expect({
      usableSize: l.usableSize, superblockOffset: l.superblockOffset, alOffset: l.alOffset,
      bitmapOffset: l.bitmapOffset, bitmapAreaSize: l.bitmapAreaSize, bitmapBytes: l.bitmapBytes, mdSize: l.mdSize,
    }).toEqual(want);
    expect(l.usableBlocks).toBe(want.usableSize / 4096);
    expect(l.mdOffset).toBe(l.bitmapOffset);
    expect(l.limitedBy).toBe('backing');
  });

  it('refuses a device too small for one data block', () => {
    expect(() => computeLayout({ kind: 'internal' }, { dataSize: 44 * KiB - 1 })).toThrow(
      expect.objectContaining({ code: 'ESIZE', message: expect.stringContaining('too small for internal metadata') }),
    );
    expect(() => computeLayout({ kind: 'internal' }, { dataSize: 0 })).toThrow(MetadataError);
  });

  it('refuses nonsense sizes with EINVAL instead of computing garbage', () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 60]) {
      expect(() => computeLayout({ kind: 'internal' }, { dataSize: bad })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
  });

  it('usable size is the largest 4 KiB multiple that fits, and never below DRBD 8.4 (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 44 * KiB, max: 2 ** 44 }), (backing) => {
        const b = backing - (backing % 4096);
        const u = internalUsableSize(backing);
        expect(u % 4096).toBe(0);
        expect(u + internalMetaSize(u)).toBeLessThanOrEqual(b);
        expect(u + 4096 + internalMetaSize(u + 4096)).toBeGreaterThan(b);
        // DRBD: usable_sectors = (Cs & ~7) - (ceil(Cs / 2^18) * 8 + 72)
        const cs = Math.floor(backing / 512);
        const drbdUsable = (cs - (cs % 8) - (Math.ceil(cs / 2 ** 18) * 8 + 72)) * 512;
        expect(u).toBeGreaterThanOrEqual(drbdUsable);
        const l = computeLayout({ kind: 'internal' }, { dataSize: backing });
        // areas are contiguous and end at the last whole 4 KiB of the device
        expect(l.bitmapOffset + l.bitmapAreaSize).toBe(l.alOffset);
        expect(l.alOffset + l.alSize).toBe(l.superblockOffset);
        expect(l.superblockOffset + 4096).toBe(b);
        expect(l.usableSize).toBeLessThanOrEqual(l.bitmapOffset);
        expect(l.bitmapAreaSize).toBeGreaterThanOrEqual(l.bitmapBytes);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('external metadata layout', () => {
  it('indexed: slot n starts at n * 128 MiB; superblock, AL, bitmap in that order', () => {
    const l = computeLayout({ kind: 'external-indexed', index: 2 }, { dataSize: GiB, metaDeviceSize: 512 * MiB });
    expect(l).toMatchObject({
      superblockOffset: 256 * MiB,
      alOffset: 256 * MiB + 4 * KiB,
      alSize: 32 * KiB,
      bitmapOffset: 256 * MiB + 36 * KiB,
      bitmapAreaSize: 128 * MiB - 36 * KiB,
      bitmapBytes: 32 * KiB,
      usableSize: GiB, // the whole data device
      mdOffset: 256 * MiB,
      mdSize: 128 * MiB,
      limitedBy: 'backing',
    });
  });

  it('indexed: the last slot that fits is accepted, the next one is refused', () => {
    expect(computeLayout({ kind: 'external-indexed', index: 3 }, { dataSize: GiB, metaDeviceSize: 512 * MiB }).superblockOffset).toBe(384 * MiB);
    expect(() => computeLayout({ kind: 'external-indexed', index: 4 }, { dataSize: GiB, metaDeviceSize: 512 * MiB })).toThrow(
      expect.objectContaining({ code: 'ESIZE', message: expect.stringContaining('meta-disk index 4') }),
    );
  });

  it('indexed: a 128 MiB slot covers about 4 TiB; bigger data devices are limited to it', () => {
    const slotMax = (128 * MiB - 36 * KiB) * 8 * 4096; // 4,396,748,521,472 bytes
    const l = computeLayout({ kind: 'external-indexed', index: 0 }, { dataSize: 5 * TiB, metaDeviceSize: 128 * MiB });
    expect(l.usableSize).toBe(slotMax);
    expect(l.limitedBy).toBe('metadata-slot');
  });

  it('flexible: at the start of the meta device, sized for the data', () => {
    const l = computeLayout({ kind: 'external-flexible' }, { dataSize: GiB + 123, metaDeviceSize: MiB });
    expect(l).toMatchObject({
      superblockOffset: 0, alOffset: 4 * KiB, bitmapOffset: 36 * KiB, bitmapAreaSize: 32 * KiB,
      usableSize: GiB, mdSize: 68 * KiB,
    });
    expect(() => computeLayout({ kind: 'external-flexible' }, { dataSize: TiB, metaDeviceSize: MiB })).toThrow(
      expect.objectContaining({ code: 'ESIZE', message: expect.stringContaining('metadata device of 1048576 bytes is too small') }),
    );
  });

  it('external metadata needs the metadata device size', () => {
    expect(() => computeLayout({ kind: 'external-flexible' }, { dataSize: GiB })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});
