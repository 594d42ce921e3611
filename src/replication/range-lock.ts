// Orders overlapping I/O: a request waits only for earlier requests whose byte ranges overlap it.
// Non-overlapping writes run in parallel (PERFORMANCE.md: "Only overlapping writes need ordering").
// Both the Primary (application writes vs. resync reads) and the Secondary (applying what arrives)
// use it, so overlapping writes land in the same order on both disks.
//
// The uncontended path allocates one small record and one closure: no Promise, because it runs
// once per 4 KiB write on both nodes. Waiters register callbacks on the holders they wait for.

interface Held {
  offset: number;
  end: number;
  /** called once when this holder releases; null while nobody waits for it */
  waiters: (() => void)[] | null;
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
    let blockers: Held[] | null = null;
    for (const h of this.held) {
      if (h.offset < end && offset < h.end) (blockers ??= []).push(h);
    }
    const entry: Held = { offset, end, waiters: null };
    this.held.push(entry);
    const release: Release = () => this.release(entry);
    if (blockers === null) return release;
    return new Promise<Release>((resolve) => {
      let left = blockers.length;
      const one = (): void => {
        if (--left === 0) resolve(release);
      };
      for (const b of blockers) (b.waiters ??= []).push(one);
    });
  }

  /** Resolves when every range held at the time of the call is released. */
  drain(): Promise<void> {
    if (this.held.length === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let left = this.held.length;
      const one = (): void => {
        if (--left === 0) resolve();
      };
      for (const h of this.held) (h.waiters ??= []).push(one);
    });
  }

  private release(entry: Held): void {
    const i = this.held.indexOf(entry);
    if (i < 0) return; // released twice: the first call did the work
    this.held.splice(i, 1);
    const ws = entry.waiters;
    entry.waiters = null;
    if (ws) for (const w of ws) w();
  }
}
