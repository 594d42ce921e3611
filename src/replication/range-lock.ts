// Orders overlapping I/O: a request waits only for earlier requests whose byte ranges overlap it.
// Non-overlapping writes run in parallel (PERFORMANCE.md: "Only overlapping writes need ordering").
// Both the Primary (application writes vs. resync reads) and the Secondary (applying what arrives)
// use it, so overlapping writes land in the same order on both disks.

interface Held {
  offset: number;
  end: number;
  /** resolved when this holder releases */
  done: Promise<void>;
  release: () => void;
}

export type Release = () => void;

export class RangeLock {
  private held: Held[] = [];

  /** Number of ranges currently held or waiting. */
  get size(): number {
    return this.held.length;
  }

  /**
   * Takes the range [offset, offset+length). Returns immediately (no Promise) when nothing
   * earlier overlaps, which is the common case on the hot path; otherwise a Promise that resolves
   * once every earlier overlapping holder has released.
   */
  acquire(offset: number, length: number): Release | Promise<Release> {
    const end = offset + Math.max(length, 1);
    const waits: Promise<void>[] = [];
    for (const h of this.held) {
      if (h.offset < end && offset < h.end) waits.push(h.done);
    }
    let release!: () => void;
    const done = new Promise<void>((r) => (release = r));
    const entry: Held = { offset, end, done, release: () => undefined };
    entry.release = () => {
      const i = this.held.indexOf(entry);
      if (i >= 0) this.held.splice(i, 1);
      release();
    };
    this.held.push(entry);
    if (waits.length === 0) return entry.release;
    return Promise.all(waits).then(() => entry.release);
  }

  /** Resolves when every range held at the time of the call is released. */
  async drain(): Promise<void> {
    await Promise.all(this.held.map((h) => h.done));
  }
}
