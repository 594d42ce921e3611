// The metadata of an attached resource, held open by tandemd: generation UUIDs and flags, the
// in-memory dirty bitmap (native) and its persistence, and the activity log that makes a crashed
// Primary's possibly-diverging blocks known at the next attach.
import type { ResolvedResource } from '../config/index.js';
import { BlockDevice } from '../storage/block-device.js';
import { DirtyBitmap } from '../storage/dirty-bitmap.js';
import { bitmapBytesFor, computeLayout, type MetaLayout, type MetaPlacement } from '../storage/metadata-layout.js';
import { layoutFromSuperblock, readMetadata, readSuperblock, writeAlTransaction, writeBitmap, writeSuperblock, type MetaIO } from '../storage/metadata-store.js';
import { ActivityLogWriter, AL_EXTENT_SIZE, alExtentsFor, recover } from '../storage/activity-log.js';
import { moveMetadata, planMetadataResize, superblockAt, type MetaResizePlan } from '../storage/metadata-resize.js';
import type { MetaFlags } from '../storage/metadata-flags.js';
import { MetadataError } from '../storage/metadata-error.js';
import type { Superblock } from '../storage/superblock.js';
import type { GenerationUuids } from './generation-uuids.js';

/** Flag names as the resource and the wire use them (kebab-case of DRBD's MDF_* names). */
export type FlagName =
  | 'consistent' | 'primary-ind' | 'connected-ind' | 'full-sync' | 'was-up-to-date'
  | 'peer-outdated' | 'crashed-primary' | 'al-clean' | 'al-disabled';

const FLAG_KEYS: Record<FlagName, keyof MetaFlags> = {
  consistent: 'consistent',
  'primary-ind': 'primaryInd',
  'connected-ind': 'connectedInd',
  'full-sync': 'fullSync',
  'was-up-to-date': 'wasUpToDate',
  'peer-outdated': 'peerOutdated',
  'crashed-primary': 'crashedPrimary',
  'al-clean': 'alClean',
  'al-disabled': 'alDisabled',
};

function flagsToSet(f: MetaFlags): Set<FlagName> {
  const s = new Set<FlagName>();
  for (const [name, key] of Object.entries(FLAG_KEYS) as [FlagName, keyof MetaFlags][]) if (f[key]) s.add(name);
  return s;
}

function setToFlags(s: ReadonlySet<FlagName>): MetaFlags {
  const f = {} as MetaFlags;
  for (const [name, key] of Object.entries(FLAG_KEYS) as [FlagName, keyof MetaFlags][]) f[key] = s.has(name);
  return f;
}

export function placementFor(cfg: ResolvedResource): MetaPlacement {
  const m = cfg.self.metaDisk;
  if (m.kind === 'internal') return { kind: 'internal' };
  if (m.kind === 'external' && m.index !== null) return { kind: 'external-indexed', index: m.index };
  return { kind: 'external-flexible' };
}

/** Bitmap bits are persisted by 4 KiB page; this records which pages changed since the last flush. */
class PageTracker {
  private dirty = new Set<number>();
  constructor(private readonly granularity: number) {}
  touch(offset: number, length: number): void {
    const bytesPerPage = 4096 * 8 * this.granularity;
    const first = Math.floor(offset / bytesPerPage);
    const last = Math.floor((offset + Math.max(length, 1) - 1) / bytesPerPage);
    for (let p = first; p <= last; p++) this.dirty.add(p);
  }
  all(): void {
    this.dirty.add(-1);
  }
  take(): number[] | 'all' {
    const d = this.dirty;
    this.dirty = new Set();
    if (d.has(-1)) return 'all';
    return [...d].sort((a, b) => a - b);
  }
  get pending(): boolean {
    return this.dirty.size > 0;
  }
}

/** The bitmap as the resource sees it: the native bitmap plus change tracking for persistence. */
export class TrackedBitmap {
  constructor(private native_: DirtyBitmap, private readonly pages: PageTracker) {}
  get native(): DirtyBitmap {
    return this.native_;
  }
  /** a resize gives the bitmap a new length (same bit positions, so pending pages stay pending) */
  replace(next: DirtyBitmap): void {
    this.native_ = next;
  }
  get granularity(): number {
    return this.native.granularity;
  }
  setRange(offset: number, length: number): void {
    this.native.setRange(offset, length);
    this.pages.touch(offset, length);
  }
  clearRange(offset: number, length: number): void {
    this.native.clearRange(offset, length);
    this.pages.touch(offset, length);
  }
  testRange(offset: number, length: number): boolean {
    return this.native.testRange(offset, length);
  }
  count(): number {
    return this.native.count();
  }
  nextDirtyRun(from: number, maxBytes: number): { offset: number; length: number } | null {
    return this.native.nextDirtyRun(from, maxBytes);
  }
  setAll(): void {
    this.native.setAll();
    this.pages.all();
  }
  clearAll(): void {
    this.native.clearAll();
    this.pages.all();
  }
  merge(other: Buffer): void {
    this.native.merge(other);
    this.pages.all();
  }
  /** OR a piece of the peer's bitmap (DirtyBitmap.encodeRange form) in at `firstWord`; returns the words it covered. */
  mergeEncodedRange(firstWord: number, encoded: Buffer): number {
    const words = this.native.decodeRange(firstWord, encoded, true);
    this.pages.all();
    return words;
  }
  toBuffer(): Buffer {
    return this.native.toBuffer();
  }
}

export class ResourceMetadata {
  flags: Set<FlagName>;
  uuids: GenerationUuids;
  readonly bitmap: TrackedBitmap;
  /** byte ranges of the activity log found at attach: what a crashed Primary may have written alone */
  readonly alRecovered: { offset: number; length: number }[];
  private readonly pages: PageTracker;
  private al: ActivityLogWriter;
  /** hot extents, least recently used first (Map keeps insertion order) */
  private readonly active = new Map<number, number>();
  private alChain: Promise<void> = Promise.resolve();
  private pendingExtents = new Map<number, Promise<void>>();
  private sbWrite: Promise<void> = Promise.resolve();
  /** bitmap flushes, one at a time: a resize must not meet one half-way through the old layout */
  private bmWrite: Promise<void> = Promise.resolve();

  private constructor(
    private readonly io: MetaIO,
    private readonly ownIo: BlockDevice | null,
    private layout: MetaLayout,
    private sb: Superblock,
    native: DirtyBitmap,
    alActive: ReadonlySet<number>,
    al: ActivityLogWriter,
    private readonly alExtents: number,
    allDirty: boolean,
  ) {
    this.flags = flagsToSet(sb.flags);
    this.uuids = { current: sb.uuids.current, bitmap: sb.uuids.bitmap, history: [sb.uuids.history[0], sb.uuids.history[1]] };
    if (allDirty) native.setAll();
    this.pages = new PageTracker(sb.bmBytesPerBit);
    this.bitmap = new TrackedBitmap(native, this.pages);
    this.alRecovered = [...alActive].map((e) => ({ offset: e * AL_EXTENT_SIZE, length: Math.min(AL_EXTENT_SIZE, Math.max(0, sb.usableSize - e * AL_EXTENT_SIZE)) })).filter((r) => r.length > 0);
    this.al = al;
  }

  get usableSize(): number {
    return this.sb.usableSize;
  }

  /** an external metadata device may have grown too */
  refreshMetaDeviceSize(): void {
    this.ownIo?.refreshSize();
  }

  /** where the metadata is, as its superblock records it */
  get currentLayout(): MetaLayout {
    return this.layout;
  }

  /** The metadata's new place on a device of `dataSize` bytes (pure; see metadata-resize.ts). */
  planResize(placement: MetaPlacement, dataSize: number): MetaResizePlan {
    return planMetadataResize(this.layout, placement, { dataSize, metaDeviceSize: this.io.size });
  }

  /**
   * Take the plan's layout with `size` bytes in use (the size agreed with the peer, at most what
   * the layout holds), `mark` (the grown area) out of sync. Runs after every superblock, AL and
   * bitmap write queued before it; the caller holds off new writes (the whole range lock). Both
   * nodes record the agreed size, not what their own device could hold, so their bitmaps keep the
   * same length and the bitmap exchange stays bit for bit.
   */
  async resize(area: MetaLayout, size: number, mark: { offset: number; length: number } | null): Promise<void> {
    if (size > area.usableSize || size <= 0 || size % 4096 !== 0) throw new Error(`cannot record a usable size of ${size} bytes in a layout for ${area.usableSize}`);
    await this.alChain.catch(() => undefined);
    const flushes = this.bmWrite;
    const run = async (): Promise<void> => {
      await flushes.catch(() => undefined);
      const next: MetaLayout = { ...area, usableSize: size, usableBlocks: size / 4096, bitmapBytes: bitmapBytesFor(size) };
      const old = this.bitmap.native;
      const native = new DirtyBitmap(size, old.granularity);
      const words = Math.min(old.byteLength, native.byteLength) / 8;
      if (words > 0) native.loadRange(0, old.toBufferRange(0, words));
      if (mark && mark.length > 0 && mark.offset < size) native.setRange(mark.offset, Math.min(mark.length, size - mark.offset));
      const currentSb: Superblock = { ...this.sb, uuids: { ...this.uuids, history: [this.uuids.history[0], this.uuids.history[1]] }, flags: setToFlags(this.flags), bitmapCrc32c: null };
      const nextSb: Superblock = { ...currentSb, usableSize: size, laSizeSect: size / 512 };
      const current = this.layout;
      const at: { stage: 'before' | 'pointer' | 'committed' } = { stage: 'before' };
      try {
        await moveMetadata({ io: this.io, current, currentSb, next, nextSb, bitmap: native.toBuffer(), progress: (s) => (at.stage = s) });
      } catch (err) {
        // superblock updates from here on must go where the next attach looks: the pointer
        // superblock at the new end (old areas), or the committed one; the caller detaches
        if (at.stage === 'pointer') {
          const pointer = superblockAt(currentSb, next.superblockOffset, current);
          this.layout = layoutFromSuperblock(next.superblockOffset, pointer, current.limitedBy);
          this.sb = pointer;
        }
        if (at.stage !== 'committed') throw err;
      }
      const recovered = recover(await this.io.read(next.alOffset, next.alSize));
      this.al = new ActivityLogWriter({ areaOffset: next.alOffset, areaSize: next.alSize, alExtents: this.alExtents }, recovered);
      this.layout = next;
      this.sb = { ...nextSb, alOffset: next.alOffset - next.superblockOffset, bitmapOffset: next.bitmapOffset - next.superblockOffset, bitmapAreaSize: next.bitmapAreaSize };
      // bits set while the move ran (a peer's out-of-sync) are still only in the old bitmap:
      // carried over, and their pages stay pending for the next flush into the new place
      if (words > 0) native.loadRange(0, old.toBufferRange(0, words), true);
      this.bitmap.replace(native);
    };
    const p = this.sbWrite.then(run);
    this.sbWrite = p.catch(() => undefined);
    // a bitmap flush asked for meanwhile waits too: it must write into the layout that is current then
    this.bmWrite = this.sbWrite;
    await p;
  }

  close(): void {
    this.ownIo?.close();
  }

  /**
   * Before a write to [offset, offset+length) reaches the disk, its extents must be in the on-disk
   * activity log. Returns null on the fast path (all extents already hot), else a Promise that
   * resolves once the AL transaction is durable.
   */
  markActive(offset: number, length: number): Promise<void> | null {
    const extents = alExtentsFor(offset, length);
    let waits: Promise<void>[] | null = null;
    let missing: number[] | null = null;
    for (const e of extents) {
      const pending = this.pendingExtents.get(e);
      if (pending) (waits ??= []).push(pending);
      else if (this.active.has(e)) {
        this.active.delete(e);
        this.active.set(e, 1);
      } else (missing ??= []).push(e);
    }
    if (!missing && !waits) return null;
    if (missing) {
      for (const e of missing) this.active.set(e, 1);
      this.evictBeyondCapacity();
      const hot = [...this.active.keys()];
      const p = (this.alChain = this.alChain.then(async () => {
        const tx = this.al.recordActive(hot);
        await writeAlTransaction(this.io, this.layout, tx);
        if (this.flags.has('al-clean')) {
          // Attach ignores the AL of a superblock that says "clean": the flag must be off on disk
          // before the first data write it covers, or a crash right after would resync nothing.
          this.flags.delete('al-clean');
          await this.saveSuperblock();
        }
      }));
      for (const e of missing) this.pendingExtents.set(e, p);
      void p.finally(() => {
        for (const e of missing!) if (this.pendingExtents.get(e) === p) this.pendingExtents.delete(e);
      }).catch(() => undefined);
      (waits ??= []).push(p);
    }
    return Promise.all(waits!).then(() => undefined);
  }

  private evictBeyondCapacity(): void {
    if (this.active.size <= this.alExtents) return;
    for (const e of this.active.keys()) {
      if (this.active.size <= this.alExtents) break;
      // least recently used first; an extent whose AL write is still pending stays
      if (!this.pendingExtents.has(e)) this.active.delete(e);
    }
  }

  saveSuperblock(): Promise<void> {
    const next = this.sbWrite.then(() => {
      this.sb = { ...this.sb, uuids: { ...this.uuids, history: [this.uuids.history[0], this.uuids.history[1]] }, flags: setToFlags(this.flags), bitmapCrc32c: null };
      return writeSuperblock(this.io, this.layout, this.sb);
    });
    this.sbWrite = next.catch(() => undefined);
    return next;
  }

  /**
   * Persist the bitmap pages changed since the last call. Only those pages are copied out of the
   * native bitmap: copying all of it (32 MiB at 1 TiB) every second would double tandemd's memory.
   */
  /** bitmap pages written to disk since attach: /proc/drbd's `bm` */
  bitmapWrites = 0;

  flushBitmap(): Promise<void> {
    const p = this.bmWrite.then(() => this.flushBitmapNow());
    this.bmWrite = p.catch(() => undefined);
    return p;
  }

  private async flushBitmapNow(): Promise<void> {
    if (!this.pages.pending) return;
    const taken = this.pages.take();
    const wordsPerPage = 4096 / 8;
    const totalWords = this.layout.bitmapBytes / 8;
    const totalPages = Math.ceil(totalWords / wordsPerPage);
    // 'all' goes page range by page range too, 256 pages (1 MiB) at a time
    const pages = taken === 'all' ? Array.from({ length: totalPages }, (_, p) => p) : taken;
    // one scratch buffer for every run of pages: flushing all of a 1 TiB bitmap must not leave
    // 32 MiB of copies behind for the garbage collector
    const scratch = Buffer.allocUnsafe(Math.min(256, totalPages) * 4096);
    let i = 0;
    while (i < pages.length) {
      let j = i;
      while (j + 1 < pages.length && pages[j + 1] === pages[j]! + 1 && j - i < 255) j++;
      const firstWord = pages[i]! * wordsPerPage;
      const endWord = Math.min(totalWords, (pages[j]! + 1) * wordsPerPage);
      if (firstWord < endWord) {
        // whole 4 KiB pages on disk; the tail of the last page is zero
        const bytes = scratch.subarray(0, Math.ceil(((endWord - firstWord) * 8) / 4096) * 4096);
        bytes.fill(0, (endWord - firstWord) * 8);
        this.bitmap.native.storeRange(firstWord, bytes.subarray(0, (endWord - firstWord) * 8));
        await this.io.write(this.layout.bitmapOffset + firstWord * 8, bytes);
        this.bitmapWrites += j - i + 1;
      }
      i = j + 1;
    }
    await this.io.flush();
  }

  /**
   * Clean stop: the whole bitmap goes to disk with its checksum recorded in the superblock, and
   * an empty AL transaction says there is nothing to replay.
   */
  async markClean(): Promise<void> {
    await this.alChain.catch(() => undefined);
    const tx = this.al.recordActive([]);
    await writeAlTransaction(this.io, this.layout, tx);
    this.active.clear();
    this.flags.add('al-clean');
    this.pages.take();
    const crc = await writeBitmap(this.io, this.layout, this.bitmap.toBuffer());
    await this.sbWrite;
    this.sb = { ...this.sb, uuids: { ...this.uuids, history: [this.uuids.history[0], this.uuids.history[1]] }, flags: setToFlags(this.flags), bitmapCrc32c: crc };
    await writeSuperblock(this.io, this.layout, this.sb);
  }
}

export async function openResourceMetadata(dev: BlockDevice, cfg: ResolvedResource): Promise<ResourceMetadata> {
  const placement = placementFor(cfg);
  let metaIo: MetaIO = dev;
  let own: BlockDevice | null = null;
  if (placement.kind !== 'internal') {
    const m = cfg.self.metaDisk as { path: string };
    own = BlockDevice.open(m.path);
    metaIo = own;
  }
  try {
    const layout = computeLayout(placement, { dataSize: dev.size, metaDeviceSize: metaIo.size });
    const ctx = { device: `${cfg.name} (${cfg.self.disk})` };
    // the superblock says how large the bitmap is; the bitmap then streams straight into it
    const sb = await readSuperblock(metaIo, layout, ctx).catch((err: unknown) => {
      // internal metadata is looked for at the device's end: one that grew while tandemd was
      // down has it further in, and create-md (the message's advice) would throw it away
      if (err instanceof MetadataError && err.code === 'ENOMETA' && placement.kind === 'internal') {
        throw new MetadataError('ENOMETA', `${err.message}; if the backing device grew while the resource was down, give it its old size back, attach, and run tandemadm resize`);
      }
      throw err;
    });
    const native = new DirtyBitmap(sb.usableSize, sb.bmBytesPerBit);
    const contents = await readMetadata(metaIo, layout, ctx, (byteOffset, bytes) => {
      const whole = bytes.length - (bytes.length % 8);
      if (whole > 0) native.loadRange(byteOffset / 8, bytes.subarray(0, whole));
    });
    if (contents.superblock.usableSize !== sb.usableSize) throw new Error(`${ctx.device}: metadata changed while it was read`);
    // a damaged bitmap cannot say what is in sync: treat everything as out of sync
    const allDirty = contents.bitmapChecksum === 'mismatch';
    const alExtents = contents.superblock.alExtents;
    const al = new ActivityLogWriter({ areaOffset: contents.layout.alOffset, areaSize: contents.layout.alSize, alExtents }, contents.alRecovered);
    const active = contents.superblock.flags.alClean ? new Set<number>() : contents.alRecovered.active;
    return new (ResourceMetadata as unknown as new (...a: unknown[]) => ResourceMetadata)(
      metaIo, own, contents.layout, contents.superblock, native, active, al, alExtents, allDirty,
    );
  } catch (err) {
    own?.close();
    throw err;
  }
}
