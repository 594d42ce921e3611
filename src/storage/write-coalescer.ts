// Gathers the writes submitted in one tick into a single writeBatch call. On the Secondary one
// socket read carries many data messages, and on the Primary the NBD server hands over many
// requests at once; one batch costs one hand-off to the addon's thread pool instead of one per
// 4 KiB block (the profile showed that hand-off dominating CPU). Callers keep overlapping writes
// ordered themselves (RangeLock); the batch preserves submission order anyway.
//
// Application writes of every size go through the page cache, as nbdkit's and as protocol C
// promises (a completed write is in both nodes' page cache; a flush makes it durable). Writes of
// 256 KiB and more used to go below it (O_DIRECT, as DRBD's bios do): on this kind of machine,
// where both nodes' disks share one virtual disk, that made each 1 MiB write wait for the disk
// twice, and /dev/tandem0 wrote 686 MiB/s where the page cache took 977 (bench/README.md, item 11).
// Resync writes still go below the cache (resync.ts): there the copy into fresh cache pages was
// the SyncTarget's bound.
import type { BlockDevice, WriteRequest } from './block-device.js';

interface Pending extends WriteRequest {
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Beyond this a batch goes to the pool even when each write is small: the loop must not stall. */
const INLINE_BATCH_BYTES = 1024 * 1024;
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
    this.submitBatch(batch);
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
