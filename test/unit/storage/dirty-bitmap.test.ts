import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DirtyBitmap } from '../../../src/storage/dirty-bitmap.js';

/** The reference model: a set of dirty block indexes over a device of `size` bytes. */
class Model {
  readonly dirty = new Set<number>();
  readonly blocks: number;
  constructor(
    readonly size: number,
    readonly g: number,
  ) {
    this.blocks = Math.ceil(size / g);
  }
  touched(off: number, len: number): number[] {
    if (len === 0) return [];
    const out: number[] = [];
    for (let b = Math.floor(off / this.g); b <= Math.floor((off + len - 1) / this.g); b++) out.push(b);
    return out;
  }
  nextRun(from: number, maxBytes: number): { offset: number; length: number } | null {
    if (from >= this.size) return null;
    let b = Math.floor(from / this.g);
    while (b < this.blocks && !this.dirty.has(b)) b++;
    if (b >= this.blocks) return null;
    const maxBlocks = Math.floor(maxBytes / this.g);
    let k = 0;
    while (k < maxBlocks && this.dirty.has(b + k)) k++;
    const offset = b * this.g;
    return { offset, length: Math.min(k * this.g, this.size - offset) };
  }
  bytes(): Buffer {
    const buf = Buffer.alloc(Math.ceil(this.blocks / 64) * 8);
    for (const b of this.dirty) buf[b >> 3] |= 1 << (b & 7);
    return buf;
  }
}

type Cmd =
  | { t: 'set' | 'clear' | 'test'; a: number; b: number }
  | { t: 'next'; a: number; m: number }
  | { t: 'count' | 'roundtrip' | 'setAll' | 'clearAll' }
  | { t: 'merge'; bits: number[] };

// fc.double spreads over the float encoding, so nearly all its values in [0, 1] are tiny and every
// range would start at block 0: fractions are drawn as integers instead.
const frac = (max = 1): fc.Arbitrary<number> => fc.integer({ min: 0, max: 1_000_000 }).map((x) => (x / 1_000_000) * max);

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 20, arbitrary: fc.record({ t: fc.constantFrom('set' as const, 'clear' as const, 'test' as const), a: frac(), b: frac() }) },
  { weight: 15, arbitrary: fc.record({ t: fc.constant('next' as const), a: frac(1.05), m: fc.integer({ min: 1, max: 80 }) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constantFrom('count' as const, 'roundtrip' as const) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('merge' as const), bits: fc.array(fc.nat(400), { maxLength: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constantFrom('setAll' as const, 'clearAll' as const) }) },
);

/** 32768 blocks per 4 KiB page of the native bitmap (all-clear and all-set pages are not stored) */
const PAGE_BITS = 4096 * 8;

describe.each([
  { name: 'a few words', maxBlocks: 300, runs: 300 },
  // several of the native map's pages, so whole pages go uniform and come back
  { name: 'several 4 KiB pages', maxBlocks: 3 * PAGE_BITS + 1000, runs: 60 },
])('DirtyBitmap against a Set model ($name)', ({ maxBlocks, runs }) => {
  it('agrees on random sequences of set/clear/test/count/nextDirtyRun/toBuffer+loadBuffer/merge', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(512, 4096),
        fc.integer({ min: 0, max: maxBlocks }), // whole blocks: enough to span several 64-bit words
        fc.nat(4095), // a partial last block, sometimes
        fc.array(cmd, { maxLength: 60 }),
        (g, blocks, tail, cmds) => {
          const size = blocks * g + (tail % g);
          const bm = new DirtyBitmap(size, g);
          const m = new Model(size, g);
          expect(bm.totalBits).toBe(m.blocks);
          for (const c of cmds) {
            switch (c.t) {
              case 'set':
              case 'clear':
              case 'test': {
                const off = Math.floor(c.a * size);
                // b < 0.5: a short range of up to ~1.5 pages of blocks, else a share of the rest
                const len = c.b < 0.5 ? Math.min(size - off, Math.floor(c.b * 3 * PAGE_BITS) * g) : Math.floor(c.b * (size - off));
                if (c.t === 'set') {
                  bm.setRange(off, len);
                  for (const b of m.touched(off, len)) m.dirty.add(b);
                } else if (c.t === 'clear') {
                  bm.clearRange(off, len);
                  for (const b of m.touched(off, len)) m.dirty.delete(b);
                } else {
                  expect(bm.testRange(off, len)).toBe(m.touched(off, len).some((b) => m.dirty.has(b)));
                }
                break;
              }
              case 'next': {
                const from = Math.floor(c.a * size);
                expect(bm.nextDirtyRun(from, c.m * g + (c.m % 3))).toEqual(m.nextRun(from, c.m * g + (c.m % 3)));
                break;
              }
              case 'count':
                expect(bm.count()).toBe(m.dirty.size);
                break;
              case 'roundtrip': {
                const buf = bm.toBuffer();
                expect(buf.equals(m.bytes())).toBe(true);
                const other = new DirtyBitmap(size, g);
                other.loadBuffer(buf);
                expect(other.count()).toBe(m.dirty.size);
                bm.clearAll();
                bm.loadBuffer(buf);
                break;
              }
              case 'merge': {
                const other = new Model(size, g);
                for (const b of c.bits) if (b < m.blocks) other.dirty.add(b);
                for (const b of c.bits) if (m.blocks > 0) other.dirty.add(Math.floor((b / 400) * (m.blocks - 1)));
                bm.merge(other.bytes());
                for (const b of other.dirty) m.dirty.add(b);
                break;
              }
              case 'setAll':
                bm.setAll();
                for (let b = 0; b < m.blocks; b++) m.dirty.add(b);
                break;
              case 'clearAll':
                bm.clearAll();
                m.dirty.clear();
                break;
            }
          }
          expect(bm.count()).toBe(m.dirty.size);
          expect(bm.toBuffer().equals(m.bytes())).toBe(true);
          expect(bm.nextDirtyRun(0, size + g)).toEqual(m.nextRun(0, size + g));
        },
      ),
      { numRuns: runs },
    );
  });
});

describe('DirtyBitmap', () => {
  it('a 1 TiB device at 4 KiB granularity is 2^28 bits in exactly 32 MiB', () => {
    const bm = new DirtyBitmap(2 ** 40);
    expect(bm.granularity).toBe(4096);
    expect(bm.totalBits).toBe(2 ** 28);
    expect(bm.byteLength).toBe(32 * 1024 * 1024);
    bm.setRange(2 ** 40 - 4096, 4096);
    bm.setRange(0, 1);
    expect(bm.count()).toBe(2);
    expect(bm.nextDirtyRun(1, 1 << 20)).toEqual({ offset: 0, length: 4096 }); // the block holding offset 1
    expect(bm.nextDirtyRun(4096, 1 << 20)).toEqual({ offset: 2 ** 40 - 4096, length: 4096 });
    expect(bm.toBuffer().length).toBe(32 * 1024 * 1024);
  });

  it('memory follows the content: clean, fully dirty and resynced-in-order 1 TiB maps hold almost no pages', () => {
    const bm = new DirtyBitmap(2 ** 40);
    const rss0 = process.memoryUsage().rss;
    bm.setAll();
    expect(bm.residentPages()).toBe(0);
    expect(bm.count()).toBe(2 ** 28);
    // a full resync clears front to back, 1 MiB at a time: only the page being cleared is held
    let maxPages = 0;
    for (let off = 0; off < 2 ** 31; off += 1 << 20) {
      bm.clearRange(off, 1 << 20);
      maxPages = Math.max(maxPages, bm.residentPages());
    }
    expect(maxPages).toBe(1);
    expect(bm.residentPages()).toBe(0);
    expect(bm.count()).toBe(2 ** 28 - 2 ** 31 / 4096);
    expect(bm.nextDirtyRun(0, 1 << 20)).toEqual({ offset: 2 ** 31, length: 1 << 20 });
    // scattered writes while disconnected hold only the pages they touch
    bm.clearAll();
    for (let i = 0; i < 100; i++) bm.setRange(i * 2 ** 32, 4096);
    expect(bm.residentPages()).toBe(100);
    expect(bm.count()).toBe(100);
    // the whole walk never came near the 32 MiB a flat map would have touched
    expect(process.memoryUsage().rss - rss0).toBeLessThan(8 * 1024 * 1024);
  });

  it('setAll counts every bit and keeps the serialised tail clean', () => {
    const bm = new DirtyBitmap(65 * 4096 + 100);
    expect(bm.totalBits).toBe(66);
    bm.setAll();
    expect(bm.count()).toBe(66);
    const buf = bm.toBuffer();
    expect(buf.length).toBe(16);
    expect(buf.readBigUInt64LE(0)).toBe(2n ** 64n - 1n);
    expect(buf.readBigUInt64LE(8)).toBe(3n); // bits 64 and 65 only
    expect(bm.dirtyBytes()).toBe(65 * 4096 + 100);
  });

  it('a run stops at the device end when the last block is partial', () => {
    const bm = new DirtyBitmap(10 * 4096 + 512);
    bm.setRange(9 * 4096, 4096 + 512);
    expect(bm.nextDirtyRun(0, 1 << 20)).toEqual({ offset: 9 * 4096, length: 4096 + 512 });
  });

  it('nextDirtyRun caps at whole blocks within maxBytes and resumes after', () => {
    const bm = new DirtyBitmap(1 << 20);
    bm.setRange(0, 1 << 20);
    expect(bm.nextDirtyRun(0, 3 * 4096 + 1000)).toEqual({ offset: 0, length: 3 * 4096 });
    expect(bm.nextDirtyRun(3 * 4096, 1 << 30)).toEqual({ offset: 3 * 4096, length: (1 << 20) - 3 * 4096 });
    expect(bm.nextDirtyRun(1 << 20, 1 << 20)).toBeNull();
  });

  it('clearRange clears every block the range touches, partial ones included', () => {
    const bm = new DirtyBitmap(4 * 4096);
    bm.setAll();
    bm.clearRange(4095, 2); // touches blocks 0 and 1
    expect(bm.testRange(0, 4096)).toBe(false);
    expect(bm.testRange(4096, 4096)).toBe(false);
    expect(bm.count()).toBe(2);
  });

  it('loadBuffer ignores bits past the end of the device', () => {
    const bm = new DirtyBitmap(3 * 4096);
    bm.loadBuffer(Buffer.alloc(8, 0xff));
    expect(bm.count()).toBe(3);
    bm.merge(Buffer.alloc(8, 0xff));
    expect(bm.count()).toBe(3);
  });

  it('an empty device has no bits and no runs', () => {
    const bm = new DirtyBitmap(0);
    expect(bm.totalBits).toBe(0);
    expect(bm.toBuffer().length).toBe(0);
    expect(bm.nextDirtyRun(0, 4096)).toBeNull();
    bm.setRange(0, 0);
    expect(bm.testRange(0, 0)).toBe(false);
  });

  it('rejects bad arguments with clear errors', () => {
    expect(() => new DirtyBitmap(4096, 1000)).toThrow(/power of two/);
    expect(() => new DirtyBitmap(4096, 256)).toThrow(/power of two >= 512/);
    expect(() => new DirtyBitmap(-1)).toThrow(RangeError);
    const bm = new DirtyBitmap(8 * 4096);
    expect(() => bm.setRange(8 * 4096 - 1, 2)).toThrow(/beyond the device end/);
    expect(() => bm.testRange(-1, 1)).toThrow(RangeError);
    expect(() => bm.clearRange(0.5, 1)).toThrow(RangeError);
    expect(() => bm.nextDirtyRun(0, 100)).toThrow(/at least the granularity/);
    expect(() => bm.loadBuffer(Buffer.alloc(16))).toThrow(/16 bytes, expected 8/);
    expect(() => bm.merge(Buffer.alloc(4))).toThrow(RangeError);
    expect(() => bm.loadBuffer('x' as unknown as Buffer)).toThrow(TypeError);
  });
});

describe('DirtyBitmap piecewise load, merge and store', () => {
  it('property: loadRange/toBufferRange in pieces equal loadBuffer/toBuffer of the whole', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.array(fc.nat(4999)), fc.array(fc.nat(4999)), fc.integer({ min: 1, max: 9 }), (blocks, a, b, pieceWords) => {
        const size = blocks * 4096 - 100; // a partial last block too
        const x = new DirtyBitmap(size);
        const y = new DirtyBitmap(size);
        for (const i of a) if (i < blocks) x.setRange(i * 4096, 1);
        for (const i of b) if (i < blocks) y.setRange(i * 4096, 1);
        const whole = new DirtyBitmap(size);
        whole.loadBuffer(x.toBuffer());
        whole.merge(y.toBuffer());
        const pieces = new DirtyBitmap(size);
        const words = x.byteLength / 8;
        for (let w = 0; w < words; w += pieceWords) pieces.loadRange(w, x.toBufferRange(w, Math.min(pieceWords, words - w)));
        for (let w = 0; w < words; w += pieceWords) pieces.loadRange(w, y.toBufferRange(w, Math.min(pieceWords, words - w)), true);
        expect(pieces.toBuffer().equals(whole.toBuffer())).toBe(true);
        expect(pieces.count()).toBe(whole.count());
      }),
      { numRuns: 100 },
    );
  });
  it('refuses a range outside the bitmap', () => {
    const x = new DirtyBitmap(64 * 4096);
    expect(() => x.toBufferRange(1, 1)).toThrow(/outside/);
    expect(() => x.loadRange(0, Buffer.alloc(16))).toThrow(/do not fit/);
  });
});

describe('DirtyBitmap run-length pieces (the peer link bitmap exchange)', () => {
  const PAGE = 4096 * 8;
  it('property: encodeRange pieces decoded into another map (load or merge) give the same bytes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 * PAGE + 500 }),
        fc.array(fc.record({ a: frac(), n: fc.integer({ min: 1, max: 2 * PAGE }), set: fc.boolean() }), { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.integer({ min: 1, max: 20_000 }),
        (blocks, ranges, scatter, piece) => {
          const size = blocks * 4096;
          const a = new DirtyBitmap(size);
          for (const r of ranges) {
            const off = Math.floor(r.a * blocks) * 4096;
            const len = Math.min(size - off, r.n * 4096);
            if (r.set) a.setRange(off, len);
            else a.clearRange(off, len);
          }
          for (const x of scatter) a.setRange((x % blocks) * 4096, 4096);
          const words = a.byteLength / 8;
          const loaded = new DirtyBitmap(size);
          loaded.setAll(); // load must replace, clear runs included
          const merged = new DirtyBitmap(size);
          merged.setRange(0, 4096);
          for (let w = 0; w < words; w += piece) {
            const n = Math.min(piece, words - w);
            const enc = a.encodeRange(w, n);
            expect(loaded.decodeRange(w, enc)).toBe(n);
            expect(merged.decodeRange(w, enc, true)).toBe(n);
          }
          expect(loaded.toBuffer().equals(a.toBuffer())).toBe(true);
          expect(loaded.count()).toBe(a.count());
          const want = a.toBuffer();
          want[0] |= 1;
          expect(merged.toBuffer().equals(want)).toBe(true);
        },
      ),
      { numRuns: 80 },
    );
  });

  it('a clean or fully dirty 1 TiB bitmap is a few bytes on the wire', () => {
    const bm = new DirtyBitmap(2 ** 40);
    expect(bm.encodeRange(0, bm.byteLength / 8).length).toBeLessThan(64);
    bm.setAll();
    expect(bm.encodeRange(0, bm.byteLength / 8).length).toBeLessThan(64);
  });

  it.each([
    ['a truncated run header', Buffer.from([0, 1, 0]), /truncated run header/],
    ['an empty run', Buffer.from([1, 0, 0, 0, 0]), /empty run/],
    ['a run past the end', Buffer.from([1, 200, 0, 0, 0]), /runs past the end/],
    ['missing literal words', Buffer.from([2, 2, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]), /truncated literal words/],
    ['an unknown run kind', Buffer.from([7, 1, 0, 0, 0]), /unknown run kind/],
  ])('refuses %s with a RangeError', (_name, bytes, reason) => {
    const bm = new DirtyBitmap(64 * 4096 * 10); // 10 words
    expect(() => bm.decodeRange(0, bytes)).toThrow(RangeError);
    expect(() => bm.decodeRange(0, bytes)).toThrow(reason);
  });

  it('storeRange fills a reusable buffer exactly like toBufferRange', () => {
    const bm = new DirtyBitmap(5000 * 4096);
    bm.setRange(123 * 4096, 900 * 4096);
    const target = Buffer.alloc(40);
    bm.storeRange(3, target);
    expect(target.equals(bm.toBufferRange(3, 5))).toBe(true);
    expect(() => bm.storeRange(78, Buffer.alloc(16))).toThrow(RangeError); // 79 words in all
  });
});
