import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crc32c } from '../../../src/storage/crc32c-js.js';
import { MetadataError } from '../../../src/storage/metadata-error.js';
import {
  META_FLAG_NAMES,
  flagsFromBits,
  flagsFromLabels,
  flagsToBits,
  flagsToLabelSet,
  noFlags,
  type MetaFlags,
} from '../../../src/storage/metadata-flags.js';
import { computeLayout, type MetaPlacement } from '../../../src/storage/metadata-layout.js';
import { superblockLayoutFields } from '../../../src/storage/metadata-store.js';
import {
  FORMAT_VERSION,
  SUPERBLOCK_BYTES,
  UUID_JUST_CREATED,
  decodeSuperblock,
  encodeSuperblock,
  type Superblock,
} from '../../../src/storage/superblock.js';

const SRC = { device: 'r0', offset: 1234 };

function baseSuperblock(over: Partial<Superblock> = {}): Superblock {
  const layout = computeLayout({ kind: 'internal' }, { dataSize: 64 * 1024 * 1024 });
  return {
    ...superblockLayoutFields(layout),
    laSizeSect: 0,
    bmBytesPerBit: 4096,
    alExtents: 1237,
    uuids: { current: UUID_JUST_CREATED, bitmap: 0n, history: [0n, 0n] },
    flags: { ...noFlags(), alClean: true },
    deviceUuid: 0x1234_5678_9abc_def0n,
    createdAt: 1_700_000_000_000,
    createdBy: 'alpha',
    bitmapCrc32c: null,
    ...over,
  };
}

/** Re-seal a hand-modified block with a correct CRC, to reach the checks behind the CRC. */
function reseal(block: Buffer): Buffer {
  block.writeUInt32BE(crc32c(block.subarray(0, 4092)), 4092);
  return block;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof MetadataError ? err.code : `non-MetadataError: ${String(err)}`;
  }
  return undefined;
}

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const flagsArb: fc.Arbitrary<MetaFlags> = fc.record(
  Object.fromEntries(META_FLAG_NAMES.map((n) => [n, fc.boolean()])) as Record<keyof MetaFlags, fc.Arbitrary<boolean>>,
);
const placementArb: fc.Arbitrary<MetaPlacement> = fc.oneof(
  fc.constant<MetaPlacement>({ kind: 'internal' }),
  fc.constant<MetaPlacement>({ kind: 'external-flexible' }),
  fc.integer({ min: 0, max: 7 }).map<MetaPlacement>((index) => ({ kind: 'external-indexed', index })),
);
const superblockArb: fc.Arbitrary<Superblock> = fc
  .record({
    placement: placementArb,
    dataSize: fc.integer({ min: 1 << 20, max: 2 ** 42 }),
    laSizeSect: fc.integer({ min: 0, max: 2 ** 40 }),
    alExtents: fc.integer({ min: 7, max: 4090 }),
    uuids: fc.record({ current: u64, bitmap: u64, history: fc.tuple(u64, u64) }),
    flags: flagsArb,
    deviceUuid: u64,
    createdAt: fc.integer({ min: 0, max: 2 ** 45 }),
    createdBy: fc.string({ unit: 'grapheme', maxLength: 16 }).filter((s) => Buffer.byteLength(s) <= 64),
    bitmapCrc32c: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: null }),
  })
  .map(({ placement, dataSize, ...rest }) => {
    const metaDeviceSize = placement.kind === 'external-indexed' ? (placement.index + 1) * 128 * 2 ** 20 : 2 ** 30;
    const layout = computeLayout(placement, { dataSize, metaDeviceSize });
    return { ...superblockLayoutFields(layout), bmBytesPerBit: 4096, ...rest };
  });

describe('crc32c (pure TS)', () => {
  it('matches the standard check value and RFC 3720 B.4 vectors', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e);
    expect(crc32c(Buffer.alloc(0))).toBe(0);
  });

  it('continues across splits, whatever the alignment (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (bytes, cut) => {
        const b = Buffer.from(bytes);
        const at = bytes.length ? cut % (bytes.length + 1) : 0;
        expect(crc32c(b.subarray(at), crc32c(b.subarray(0, at)))).toBe(crc32c(b));
      }),
    );
  });
});

describe('metadata flags', () => {
  it("use DRBD's MDF_* bit values", () => {
    expect(flagsToBits({ ...noFlags(), consistent: true })).toBe(0x01);
    expect(flagsToBits({ ...noFlags(), primaryInd: true })).toBe(0x02);
    expect(flagsToBits({ ...noFlags(), connectedInd: true })).toBe(0x04);
    expect(flagsToBits({ ...noFlags(), fullSync: true })).toBe(0x08);
    expect(flagsToBits({ ...noFlags(), wasUpToDate: true })).toBe(0x10);
    expect(flagsToBits({ ...noFlags(), peerOutdated: true })).toBe(0x20);
    expect(flagsToBits({ ...noFlags(), crashedPrimary: true })).toBe(0x40);
    expect(flagsToBits({ ...noFlags(), alClean: true })).toBe(0x80);
    expect(flagsToBits({ ...noFlags(), alDisabled: true })).toBe(0x100);
  });

  it('convert to and from bits and label sets losslessly (property)', () => {
    fc.assert(
      fc.property(flagsArb, (f) => {
        expect(flagsFromBits(flagsToBits(f))).toEqual(f);
        expect(flagsFromLabels(flagsToLabelSet(f))).toEqual(f);
      }),
    );
    expect([...flagsToLabelSet({ ...noFlags(), crashedPrimary: true, primaryInd: true })]).toEqual(['primary-ind', 'crashed-primary']);
    expect(() => flagsFromLabels(['primary'])).toThrow('unknown metadata flag "primary"');
  });
});

describe('superblock encode/decode', () => {
  it('round-trips any valid superblock (property)', () => {
    fc.assert(
      fc.property(superblockArb, (sb) => {
        const block = encodeSuperblock(sb);
        expect(block.length).toBe(SUPERBLOCK_BYTES);
        expect(decodeSuperblock(block, SRC)).toEqual(sb);
      }),
      { numRuns: 500 },
    );
  });

  it('detects any single corrupted byte (property)', () => {
    fc.assert(
      fc.property(superblockArb, fc.integer({ min: 0, max: SUPERBLOCK_BYTES - 1 }), fc.integer({ min: 1, max: 255 }), (sb, i, x) => {
        const block = encodeSuperblock(sb);
        block[i] = block[i]! ^ x;
        expect(codeOf(() => decodeSuperblock(block, SRC))).toBe(i < 8 ? 'ENOMETA' : 'EBADSUM');
      }),
      { numRuns: 2000 },
    );
  });

  it('starts with the magic and the format version, big-endian', () => {
    const block = encodeSuperblock(baseSuperblock());
    expect(block.toString('ascii', 0, 8)).toBe('TANDEMMD');
    expect(block.readUInt32BE(8)).toBe(FORMAT_VERSION);
    expect(block.readUInt32BE(12)).toBe(0x80);
    expect(block.readBigUInt64BE(40)).toBe(4n);
  });

  it('names the offset when there is no metadata, and recognises DRBD metadata', () => {
    expect(() => decodeSuperblock(Buffer.alloc(4096), SRC)).toThrow('r0: no Tandem metadata found at offset 1234 (run create-md)');
    const drbd = Buffer.alloc(4096);
    drbd.writeUInt32BE(0x8374026b, 60);
    expect(() => decodeSuperblock(drbd, SRC)).toThrow(/found DRBD 8 \(v08\) metadata instead/);
  });

  it('reports a torn superblock as a checksum mismatch with the recovery path', () => {
    const block = encodeSuperblock(baseSuperblock());
    block.fill(0, 2048); // the second half never reached the disk
    expect(() => decodeSuperblock(block, SRC)).toThrow(
      expect.objectContaining({
        code: 'EBADSUM',
        message: expect.stringMatching(/^r0: metadata superblock checksum mismatch \(torn write or corruption\); .*create-md --force/),
      }),
    );
  });

  it('refuses other format versions, unknown flags and other granularities', () => {
    const v2 = encodeSuperblock(baseSuperblock());
    v2.writeUInt32BE(2, 8);
    expect(() => decodeSuperblock(reseal(v2), SRC)).toThrow(
      expect.objectContaining({ code: 'EVERSION', message: 'r0: metadata format version 2 is not supported (this Tandem reads version 1)' }),
    );
    const flags = encodeSuperblock(baseSuperblock());
    flags.writeUInt32BE(0x80 | 0x4000, 12);
    expect(codeOf(() => decodeSuperblock(reseal(flags), SRC))).toBe('EVERSION');
    const bpb = encodeSuperblock(baseSuperblock());
    bpb.writeUInt32BE(512, 32);
    expect(codeOf(() => decodeSuperblock(reseal(bpb), SRC))).toBe('EVERSION');
  });

  it('refuses a sealed superblock whose fields contradict each other', () => {
    const overlap = encodeSuperblock(baseSuperblock());
    overlap.writeBigInt64BE(-4096n, 112); // bitmap on top of the AL
    expect(() => decodeSuperblock(reseal(overlap), SRC)).toThrow(expect.objectContaining({ code: 'ECORRUPT', message: expect.stringContaining('overlap') }));
    const usable = encodeSuperblock(baseSuperblock());
    usable.writeBigUInt64BE(4097n, 16);
    expect(codeOf(() => decodeSuperblock(reseal(usable), SRC))).toBe('ECORRUPT');
    const name = encodeSuperblock(baseSuperblock());
    name.writeUInt8(200, 132);
    expect(codeOf(() => decodeSuperblock(reseal(name), SRC))).toBe('ECORRUPT');
  });

  it('refuses to encode values that do not fit', () => {
    expect(codeOf(() => encodeSuperblock(baseSuperblock({ createdBy: 'n'.repeat(65) })))).toBe('EINVAL');
    expect(codeOf(() => encodeSuperblock(baseSuperblock({ deviceUuid: 1n << 64n })))).toBe('EINVAL');
    expect(codeOf(() => encodeSuperblock(baseSuperblock({ uuids: { current: -1n, bitmap: 0n, history: [0n, 0n] } })))).toBe('EINVAL');
    expect(codeOf(() => encodeSuperblock(baseSuperblock({ usableSize: 0 })))).toBe('EINVAL');
  });

  it('never throws anything but MetadataError on random blocks (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4096, maxLength: 4096 }), fc.boolean(), (bytes, withMagic) => {
        const block = Buffer.from(bytes);
        if (withMagic) {
          block.write('TANDEMMD', 0, 'ascii');
          block.writeUInt32BE(1, 8);
          reseal(block);
        }
        expect(codeOf(() => decodeSuperblock(block, SRC))).toMatch(/^E[A-Z]+$/);
      }),
      { numRuns: 300 },
    );
  });
});
