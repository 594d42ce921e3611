// Where the metadata goes on a grown device (planMetadataResize, a table), and the crash-safe
// order of the writes that move it (moveMetadata): interrupted after any of its writes, the
// device still holds one valid superblock at its end, with either the old or the new size, and
// the bitmap bits it had.
import { describe, expect, it } from 'vitest';
import { ActivityLogWriter } from '../../../src/storage/activity-log.js';
import { createMetadata } from '../../../src/storage/create-md.js';
import { DirtyBitmap } from '../../../src/storage/dirty-bitmap.js';
import { bitmapBytesFor, computeLayout, internalUsableSize, type MetaLayout, type MetaPlacement } from '../../../src/storage/metadata-layout.js';
import { moveMetadata, planMetadataResize, superblockAt } from '../../../src/storage/metadata-resize.js';
import { readMetadata, readSuperblock, writeAlTransaction, writeBitmap, type MetaIO } from '../../../src/storage/metadata-store.js';
import { SparseMetaIO } from './sparse-meta-io.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const INTERNAL: MetaPlacement = { kind: 'internal' };
const FLEX: MetaPlacement = { kind: 'external-flexible' };
const INDEXED: MetaPlacement = { kind: 'external-indexed', index: 0 };

const layout = (p: MetaPlacement, dataSize: number, metaDeviceSize?: number): MetaLayout => computeLayout(p, { dataSize, metaDeviceSize });

describe('planMetadataResize', () => {
  const cases: Array<{ name: string; current: MetaLayout; placement: MetaPlacement; data: number; meta?: number; kind: string; reason?: RegExp }> = [
    { name: 'internal, same size', current: layout(INTERNAL, 64 * MiB), placement: INTERNAL, data: 64 * MiB, kind: 'unchanged' },
    { name: 'internal, grown by less than a page', current: layout(INTERNAL, 64 * MiB), placement: INTERNAL, data: 64 * MiB + 4000, kind: 'unchanged' },
    { name: 'internal, doubled', current: layout(INTERNAL, 64 * MiB), placement: INTERNAL, data: 128 * MiB, kind: 'move' },
    { name: 'internal, grown by exactly its new metadata', current: layout(INTERNAL, 64 * MiB), placement: INTERNAL, data: 64 * MiB + 40 * KiB, kind: 'move' },
    {
      name: 'internal, grown by less than its metadata', current: layout(INTERNAL, 64 * MiB), placement: INTERNAL, data: 64 * MiB + 8 * KiB, kind: 'refuse',
      reason: /grew by 8192 bytes, too little to move its metadata \(40960 bytes\) past the current one: the new (bitmap|activity log) would overwrite the current \w+/,
    },
    {
      name: 'internal, shrunk', current: layout(INTERNAL, 64 * MiB), placement: INTERNAL, data: 32 * MiB, kind: 'refuse',
      reason: /now holds \d+ usable bytes, less than the 67067904 its metadata records: it shrank/,
    },
    { name: 'external flexible, grown', current: layout(FLEX, 64 * MiB, 8 * MiB), placement: FLEX, data: 1024 * MiB, meta: 8 * MiB, kind: 'in-place' },
    { name: 'external flexible, same', current: layout(FLEX, 64 * MiB, 8 * MiB), placement: FLEX, data: 64 * MiB, meta: 8 * MiB, kind: 'unchanged' },
    {
      name: 'external flexible, metadata device too small', current: layout(FLEX, 64 * MiB, 40 * KiB), placement: FLEX, data: 1024 * MiB, meta: 40 * KiB, kind: 'refuse',
      reason: /metadata device of 40960 bytes is too small/,
    },
    { name: 'external indexed, grown', current: layout(INDEXED, 64 * MiB, 128 * MiB), placement: INDEXED, data: 1024 * MiB, meta: 128 * MiB, kind: 'in-place' },
  ];
  it.each(cases)('$name → $kind', (c) => {
    const plan = planMetadataResize(c.current, c.placement, { dataSize: c.data, metaDeviceSize: c.meta });
    expect(plan.kind).toBe(c.kind);
    if (plan.kind === 'refuse') expect(plan.reason).toMatch(c.reason!);
    else expect(plan.layout.usableSize).toBe(computeLayout(c.placement, { dataSize: c.data, metaDeviceSize: c.meta }).usableSize);
  });

  it('a pointer superblock left at the new end by an interrupted resize: the areas still move, the superblock stays', () => {
    const old = layout(INTERNAL, 64 * MiB);
    const next = layout(INTERNAL, 128 * MiB);
    // what attach makes of the pointer superblock: found at the new end, areas at the old place
    const pointer: MetaLayout = { ...old, superblockOffset: next.superblockOffset };
    const plan = planMetadataResize(pointer, INTERNAL, { dataSize: 128 * MiB });
    expect(plan.kind).toBe('move');
    if (plan.kind === 'move') expect(plan.layout.superblockOffset).toBe(pointer.superblockOffset);
  });
});

/** The device after a `truncate` to `size`: the same bytes, more of them. */
function grownCopy(io: SparseMetaIO, size: number): SparseMetaIO {
  const out = new SparseMetaIO(size);
  for (const [p, b] of io.pages) out.pages.set(p, Buffer.from(b));
  return out;
}

/** Fails every write after the first `allowed`: the node died there. */
class DyingIO implements MetaIO {
  writes = 0;
  constructor(readonly inner: SparseMetaIO, private readonly allowed: number) {}
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number): Promise<Buffer> {
    return this.inner.read(offset, length);
  }
  async write(offset: number, data: Buffer): Promise<void> {
    if (this.writes >= this.allowed) throw new Error('node died');
    this.writes++;
    await this.inner.write(offset, data);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
}

const OLD = 16 * MiB;
const NEW = 32 * MiB;

/** create-md on OLD bytes, some bitmap bits and an AL transaction, then grown to NEW. */
async function grownDevice() {
  const io = new SparseMetaIO(OLD);
  const made = await createMetadata({ name: 'r0', data: io, meta: io, placement: INTERNAL }, { force: false, nodeName: 'a', alExtents: 61, now: () => 0, randomUuid: () => 7n });
  const bm = new DirtyBitmap(made.layout.usableSize);
  bm.setRange(0, 4096);
  bm.setRange(made.layout.usableSize - 4096, 4096);
  await writeBitmap(io, made.layout, bm.toBuffer());
  const al = new ActivityLogWriter({ areaOffset: made.layout.alOffset, areaSize: made.layout.alSize, alExtents: 61 }, { active: new Set(), last: null, validTransactions: 0, damagedTransactions: 0 });
  await writeAlTransaction(io, made.layout, al.recordActive([0, 3]));
  const grown = grownCopy(io, NEW);
  const current = made.layout;
  const plan = planMetadataResize(current, INTERNAL, { dataSize: NEW });
  if (plan.kind !== 'move') throw new Error(`expected a move, got ${plan.kind}`);
  const size = plan.layout.usableSize;
  const next: MetaLayout = { ...plan.layout, usableSize: size, usableBlocks: size / 4096, bitmapBytes: bitmapBytesFor(size) };
  const nb = new DirtyBitmap(size);
  nb.loadRange(0, bm.toBuffer());
  nb.setRange(current.usableSize, size - current.usableSize);
  const sb = await readSuperblock(grown, current);
  return { grown, current, next, currentSb: sb, nextSb: { ...sb, usableSize: size, laSizeSect: size / 512 }, bitmap: nb.toBuffer() };
}

describe('moveMetadata', () => {
  it('moves superblock, AL and bitmap to the new end, and wipes the old superblock', async () => {
    const d = await grownDevice();
    await moveMetadata({ io: d.grown, current: d.current, currentSb: d.currentSb, next: d.next, nextSb: d.nextSb, bitmap: d.bitmap });
    const md = await readMetadata(d.grown, computeLayout(INTERNAL, { dataSize: NEW }));
    expect(md.superblock.usableSize).toBe(internalUsableSize(NEW));
    expect(md.superblock.laSizeSect).toBe(internalUsableSize(NEW) / 512);
    expect(md.superblock.uuids).toEqual(d.currentSb.uuids);
    const bm = new DirtyBitmap(md.superblock.usableSize);
    bm.loadBuffer(md.bitmap);
    expect(bm.testRange(0, 4096)).toBe(true);
    expect(bm.testRange(d.current.usableSize - 4096, 4096)).toBe(true);
    expect(bm.testRange(4096, 4096)).toBe(false);
    expect(bm.count()).toBe(2 + (internalUsableSize(NEW) - d.current.usableSize) / 4096);
    expect([...md.alRecovered.active]).toEqual([0, 3]);
    expect((await d.grown.read(d.current.superblockOffset, 4096)).equals(Buffer.alloc(4096))).toBe(true);
  });

  it('interrupted after any write: one valid superblock at the new end, with the old or the new size and the old bits', async () => {
    const total = await (async () => {
      const d = await grownDevice();
      const io = new DyingIO(d.grown, Infinity);
      await moveMetadata({ io, current: d.current, currentSb: d.currentSb, next: d.next, nextSb: d.nextSb, bitmap: d.bitmap });
      return io.writes;
    })();
    expect(total).toBeGreaterThanOrEqual(4);
    const seen = new Set<number>();
    for (let allowed = 1; allowed <= total; allowed++) {
      const d = await grownDevice();
      const io = new DyingIO(d.grown, allowed);
      await moveMetadata({ io, current: d.current, currentSb: d.currentSb, next: d.next, nextSb: d.nextSb, bitmap: d.bitmap }).catch(() => undefined);
      // the restart: attach looks at the end of the device as it is now
      const md = await readMetadata(d.grown, computeLayout(INTERNAL, { dataSize: NEW }));
      expect([d.current.usableSize, d.next.usableSize]).toContain(md.superblock.usableSize);
      seen.add(md.superblock.usableSize);
      const bm = new DirtyBitmap(md.superblock.usableSize);
      bm.loadBuffer(md.bitmap);
      expect(bm.testRange(0, 4096), `after ${allowed} writes`).toBe(true);
      expect(bm.testRange(d.current.usableSize - 4096, 4096), `after ${allowed} writes`).toBe(true);
      expect([...md.alRecovered.active], `after ${allowed} writes`).toEqual([0, 3]);
    }
    expect(seen).toEqual(new Set([d0().old, d0().new]));
  });

  it('the pointer superblock describes the old areas from the new position', () => {
    const old = layout(INTERNAL, OLD);
    const next = layout(INTERNAL, NEW);
    const sb = { alOffset: 0, alSize: 0, bitmapOffset: 0, bitmapAreaSize: 0 } as Parameters<typeof superblockAt>[0];
    const p = superblockAt(sb, next.superblockOffset, old);
    expect(next.superblockOffset + p.alOffset).toBe(old.alOffset);
    expect(next.superblockOffset + p.bitmapOffset).toBe(old.bitmapOffset);
  });
});

function d0(): { old: number; new: number } {
  return { old: internalUsableSize(OLD), new: internalUsableSize(NEW) };
}
