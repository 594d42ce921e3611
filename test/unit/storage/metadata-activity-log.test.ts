import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AL_EXTENTS_MAX,
  ActivityLogWriter,
  alExtentsFor,
  blocksPerTransaction,
  recover,
  type AlWrite,
} from '../../../src/storage/activity-log.js';
import { applyAlToBitmap, countSetBits } from '../../../src/storage/metadata-bitmap.js';

const AREA_OFFSET = 1_000_000 * 4096; // absolute offset of the AL area; writes are relative to it
const AREA_SIZE = 32 * 1024;
const MiB = 1024 * 1024;

function apply(area: Buffer, w: AlWrite, sectorMask?: boolean[]): void {
  const rel = w.offset - AREA_OFFSET;
  expect(rel).toBeGreaterThanOrEqual(0);
  expect(rel + w.data.length).toBeLessThanOrEqual(area.length);
  for (let s = 0; s < w.data.length / 512; s++) {
    if (!sectorMask || sectorMask[s]) w.data.copy(area, rel + s * 512, s * 512, (s + 1) * 512);
  }
}

function writer(area: Buffer, alExtents: number): ActivityLogWriter {
  return new ActivityLogWriter({ areaOffset: AREA_OFFSET, areaSize: AREA_SIZE, alExtents }, recover(area));
}

describe('activity log transactions', () => {
  it('fresh (zeroed) area: nothing active, no transaction', () => {
    const r = recover(Buffer.alloc(AREA_SIZE));
    expect(r.active.size).toBe(0);
    expect(r.last).toBeNull();
    expect(r.validTransactions).toBe(0);
  });

  it('sizes a transaction by al-extents: 1, 2 or 4 blocks; refuses out-of-range values', () => {
    const table: Array<[number, number]> = [[7, 1], [127, 1], [1018, 1], [1019, 2], [1237, 2], [2042, 2], [2043, 4], [4090, 4]];
    for (const [ext, blocks] of table) expect([ext, blocksPerTransaction(ext)]).toEqual([ext, blocks]);
    expect(AL_EXTENTS_MAX).toBe(4090);
    for (const bad of [6, 4091, 6433, 1.5]) {
      expect(() => blocksPerTransaction(bad)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringContaining(`al-extents ${bad} is out of range`) }));
    }
  });

  it('records the set, sorted and deduplicated, with a growing sequence number', () => {
    const area = Buffer.alloc(AREA_SIZE);
    const w = writer(area, 127);
    const a = w.recordActive([5, 3, 5, 900]);
    apply(area, a);
    expect(a.seq).toBe(1);
    expect(a.offset).toBe(AREA_OFFSET);
    expect(a.data.length).toBe(4096);
    expect([...recover(area).active]).toEqual([3, 5, 900]);
    const b = w.recordActive([7]);
    expect(b.seq).toBe(2);
    expect(b.offset).toBe(AREA_OFFSET + 4096);
    apply(area, b);
    expect([...recover(area).active]).toEqual([7]);
  });

  it('refuses more extents than al-extents and invalid extent numbers', () => {
    const w = writer(Buffer.alloc(AREA_SIZE), 7);
    expect(() => w.recordActive([1, 2, 3, 4, 5, 6, 7, 8])).toThrow('8 active extents exceed al-extents 7');
    expect(() => w.recordActive([-1])).toThrow(/not a valid extent number/);
    expect(() => w.recordActive([2 ** 32])).toThrow(/not a valid extent number/);
  });

  it('wraps around the 8-block ring', () => {
    const area = Buffer.alloc(AREA_SIZE);
    const w = writer(area, 1237); // 2 blocks per transaction, 4 slots
    const offsets: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t = w.recordActive([i]);
      offsets.push((t.offset - AREA_OFFSET) / 4096);
      apply(area, t);
    }
    expect(offsets).toEqual([0, 2, 4, 6, 0, 2]);
    expect(recover(area)).toMatchObject({ active: new Set([5]), last: { seq: 6, block: 2, blocks: 2 }, validTransactions: 4 });
  });

  // The model: the recovered set is the set of the last transaction that reached the disk
  // completely, or that of an interrupted one issued after it whose bytes all landed over several
  // torn attempts (same slot, same sequence number after each crash). Such a set was the whole hot
  // set when it was issued and nothing was written after it, so it is as safe to resync as the
  // last completed one. Operations: a complete write, a torn write (a strict subset of its 512-byte
  // sectors lands, then the node "crashes" and restarts), or a clean restart with another al-extents.
  it('recover returns the last completely written set, whatever was torn (property against a model)', () => {
    const alChoices = [7, 127, 1018, 1237, 2042, 2043, 4090];
    type Op =
      | { kind: 'write'; extents: number[] }
      | { kind: 'torn'; extents: number[]; mask: boolean[] }
      | { kind: 'restart'; alExtents: number };
    // big sets too: a transaction's extents must span several sectors for a tear to matter
    const extentsArb = fc.oneof(
      fc.array(fc.integer({ min: 0, max: 300_000 }), { maxLength: 40 }),
      fc.tuple(fc.integer({ min: 0, max: 300_000 }), fc.integer({ min: 0, max: 4090 }))
        .map(([start, n]) => Array.from({ length: n }, (_, i) => start + 3 * i)),
    );
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: extentsArb.map((extents) => ({ kind: 'write' as const, extents })) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('torn' as const), extents: extentsArb, mask: fc.array(fc.boolean(), { minLength: 32, maxLength: 32 }) }) },
      { weight: 1, arbitrary: fc.constantFrom(...alChoices).map((alExtents) => ({ kind: 'restart' as const, alExtents })) },
    );
    fc.assert(
      fc.property(fc.constantFrom(...alChoices), fc.array(opArb, { maxLength: 40 }), (al0, ops) => {
        const area = Buffer.alloc(AREA_SIZE);
        let alExtents = al0;
        let w = writer(area, alExtents);
        let model = new Set<number>();
        let interrupted: Array<Set<number>> = []; // torn transactions issued since the last complete one
        for (const op of ops) {
          if (op.kind === 'restart') {
            alExtents = op.alExtents;
            w = writer(area, alExtents);
          } else {
            const set = op.extents.slice(0, alExtents);
            const tx = w.recordActive(set);
            if (op.kind === 'write') {
              apply(area, tx);
              model = new Set(set);
              interrupted = [];
            } else {
              const sectors = tx.data.length / 512;
              const mask = Array.from({ length: sectors }, (_, i) => op.mask[i % op.mask.length]!);
              if (mask.every(Boolean)) mask[sectors - 1] = false; // torn: at least one sector missing
              const before = Buffer.from(area);
              apply(area, tx, mask);
              const full = Buffer.from(before);
              apply(full, tx);
              // a sector that was not written may already hold the right bytes (e.g. zero padding)
              if (area.equals(full)) {
                model = new Set(set);
                interrupted = [];
              } else {
                interrupted.push(new Set(set));
              }
              w = writer(area, alExtents); // crash and restart: the writer starts from recovery
            }
          }
          const r = recover(area);
          const got = new Set(r.active);
          const allowed = [model, ...interrupted];
          expect(allowed.some((a) => a.size === got.size && [...a].every((e) => got.has(e))), `recovered ${[...got]}`).toBe(true);
          if (op.kind === 'write') expect(got).toEqual(model); // a completed write always wins
          if (r.last) expect(r.last.seq).toBeGreaterThanOrEqual(1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a transaction never overwrites the newest valid one, even after al-extents changes (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(7, 1237, 4090), { minLength: 1, maxLength: 30 }), (configs) => {
        const area = Buffer.alloc(AREA_SIZE);
        for (const al of configs) {
          const before = recover(area).last;
          const tx = writer(area, al).recordActive([1]);
          const start = (tx.offset - AREA_OFFSET) / 4096;
          const end = start + tx.data.length / 4096;
          if (before) expect(end <= before.block || start >= before.block + before.blocks).toBe(true);
          apply(area, tx);
        }
      }),
    );
  });

  it('ignores garbage, including blocks that carry the magic but fail the CRC', () => {
    const area = Buffer.alloc(AREA_SIZE);
    apply(area, writer(area, 127).recordActive([42]));
    const junk = Buffer.alloc(4096, 0x5a);
    junk.writeUInt32BE(0x54414c54, 0);
    junk.copy(area, 4096 * 3);
    const r = recover(area);
    expect([...r.active]).toEqual([42]);
    expect(r.damagedTransactions).toBe(1);
    expect(() => recover(Buffer.from(Array.from({ length: AREA_SIZE }, (_, i) => (i * 7919) & 0xff)))).not.toThrow();
  });
});

describe('AL extents and apply-al', () => {
  it('maps a write to the 4 MiB extents it touches', () => {
    expect(alExtentsFor(0, 4096)).toEqual([0]);
    expect(alExtentsFor(4 * MiB - 512, 1024)).toEqual([0, 1]);
    expect(alExtentsFor(12 * MiB, 8 * MiB)).toEqual([3, 4]);
    expect(alExtentsFor(100, 0)).toEqual([]);
  });

  it('sets every 4 KiB bit of every active extent, clipped to the device', () => {
    const usableBlocks = 2500; // 9.77 MiB: extent 2 is partial (blocks 2048..2499)
    const bitmap = Buffer.alloc(Math.ceil(usableBlocks / 64) * 8);
    expect(applyAlToBitmap(bitmap, [0, 2, 7], usableBlocks)).toBe(1024 + 452);
    expect(countSetBits(bitmap, usableBlocks)).toBe(1476);
    expect(bitmap[0]).toBe(0xff);
    expect(bitmap[128]).toBe(0); // extent 1 untouched
    // already-set bits do not count twice
    expect(applyAlToBitmap(bitmap, [0], usableBlocks)).toBe(0);
  });
});
