// Gathers the writes submitted in one tick into a single writeBatch call. On the Secondary one
// socket read carries many data messages, and on the Primary the NBD server hands over many
// requests at once; one batch costs one hand-off to the addon's thread pool instead of one per
// 4 KiB block (the profile showed that hand-off dominating CPU). Callers keep overlapping writes
// ordered themselves (RangeLock); the batch preserves submission order anyway.
import type { BlockDevice, WriteRequest } from './block-device.js';

interface Pending extends WriteRequest {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Beyond this a batch goes to the pool even when each write is small: the loop must not stall. */
const INLINE_BATCH_BYTES = 1024 * 1024;
/**
 * Writes this large go below the page cache (BlockDevice.writeBulk), as DRBD's do: copying them
 * into the cache cost more CPU than the disk's own write, and whoever reads them back (the
 * filesystem above the exported device) keeps its own cache.
 */
export const BULK_WRITE_BYTES = 256 * 1024;

export class WriteCoalescer {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(private readonly dev: BlockDevice) {}

  write(offset: number, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ offset, data, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // after the current burst of synchronous message/request handling
        queueMicrotask(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    if (this.inline(batch)) return this.flushNow(batch);
    const small = this.submitBulk(batch);
    if (small.length === 0) return;
    this.submitBatch(small);
  }

  /**
   * Sends the bulk writes of `batch` on their own way and returns the others. A bulk write that
   * overlaps another entry of the batch stays in it, where submission order is kept.
   */
  private submitBulk(batch: Pending[]): Pending[] {
    let bulk = 0;
    for (const w of batch) if (w.data.length >= BULK_WRITE_BYTES) bulk++;
    if (bulk === 0) return batch;
    const rest: Pending[] = [];
    for (const w of batch) {
      if (w.data.length < BULK_WRITE_BYTES || overlapsAnother(batch, w)) {
        rest.push(w);
        continue;
      }
      this.dev.writeBulk(w.offset, w.data).then(w.resolve, w.reject);
    }
    return rest;
  }

  private submitBatch(batch: Pending[]): void {
    if (batch.length === 1) {
      const w = batch[0]!;
      this.submitOne(w);
      return;
    }
    try {
      this.dev.writeBatchCb(batch, (err) => {
        if (!err) {
          for (const w of batch) w.resolve();
          return;
        }
        // which entries failed is per block: retry them one by one so each gets its own answer
        for (const w of batch) this.submitOne(w);
      });
    } catch (err) {
      for (const w of batch) w.reject(err as Error);
    }
  }

  /** Small buffered writes are cheaper done here than handed to the I/O pool (BlockDevice.inlineLimit). */
  private inline(batch: readonly Pending[]): boolean {
    const limit = this.dev.inlineLimit;
    if (limit === 0) return false;
    let total = 0;
    for (const w of batch) {
      if (w.data.length > limit) return false;
      total += w.data.length;
    }
    return total <= INLINE_BATCH_BYTES;
  }

  private flushNow(batch: readonly Pending[]): void {
    let err: Error | null;
    try {
      err = this.dev.writeBatchSync(batch);
    } catch (e) {
      err = e as Error;
    }
    if (!err) {
      for (const w of batch) w.resolve();
      return;
    }
    if (batch.length === 1) return batch[0]!.reject(err);
    for (const w of batch) {
      let one: Error | null;
      try {
        one = this.dev.writeBatchSync([w]);
      } catch (e) {
        one = e as Error;
      }
      if (one) w.reject(one);
      else w.resolve();
    }
  }

  private submitOne(w: Pending): void {
    try {
      this.dev.writeCb(w.offset, w.data, (err) => (err ? w.reject(err) : w.resolve()));
    } catch (err) {
      w.reject(err as Error);
    }
  }
}

function overlapsAnother(batch: readonly Pending[], w: Pending): boolean {
  const end = w.offset + w.data.length;
  for (const o of batch) {
    if (o !== w && o.offset < end && w.offset < o.offset + o.data.length) return true;
  }
  return false;
}
