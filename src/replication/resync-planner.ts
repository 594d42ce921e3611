// The SyncTarget's side of a resync: which dirty runs to request next, how many may be in flight,
// and when the rate limit allows the next one. Pure: the bitmap is reached through a function,
// time is a parameter, so a test drives a whole resync with a fake clock.
import { RateLimiter } from './rate-limiter.js';

export interface Run {
  offset: number;
  length: number;
}

export interface PlannerOptions {
  /** bytes per request: large runs keep the link busy with few messages */
  maxRequestBytes: number;
  /** requests in flight at once (scattered 4 KiB runs need many to keep the link busy) */
  maxInFlight: number;
  /** bytes in flight at once (large runs need few); unlimited when absent */
  maxInFlightBytes?: number;
  /** resync rate in bytes per second; 0 = unlimited */
  rateBytesPerSec: number;
}

/**
 * How much resync may be outstanding: DRBD caps it at max-buffers / 2 pages of 4 KiB
 * (drbd_rs_number_requests). The default max-buffers 2048 gives 4 MiB, which keeps a loopback or
 * LAN link and an O_DIRECT disk busy here (~1 GiB/s, as with 16 MiB); every byte in flight is
 * resident on both nodes. A request is never larger than the window.
 */
export function resyncWindow(maxBuffers: number, requestBytes = 1 << 20): { maxInFlightBytes: number; maxRequestBytes: number } {
  const maxInFlightBytes = Math.max(1, Math.floor(maxBuffers / 2)) * 4096;
  return { maxInFlightBytes, maxRequestBytes: Math.min(requestBytes, maxInFlightBytes) };
}

export type PlanStep =
  | { kind: 'request'; runs: Run[] }
  | { kind: 'wait'; ms: number; runs: Run[] }
  | { kind: 'idle' }
  | { kind: 'done' };

export class ResyncPlanner {
  private cursor = 0;
  private readonly inFlight = new Map<number, Run>();
  private inFlightBytes = 0;
  private readonly limiter: RateLimiter;
  private paused = false;
  /** a full pass found nothing new, but bits may have been set behind the cursor meanwhile */
  private wrapped = false;
  /** bytes that may still be requested in this controller step (resync-controller.ts); null: no budget */
  private budget: number | null = null;

  constructor(
    private readonly opts: PlannerOptions,
    private readonly nextDirtyRun: (from: number, maxBytes: number) => Run | null,
    private readonly dirtyCount: () => number,
    nowMs: number,
  ) {
    this.limiter = new RateLimiter(opts.rateBytesPerSec, opts.maxRequestBytes, nowMs);
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  get inFlightTotal(): number {
    return this.inFlightBytes;
  }

  /**
   * The dynamic controller's allowance for this step (bytes; what is not requested by the next
   * step is not carried over, as in DRBD), or null for the fixed rate alone. 0 holds requests
   * back (c-min-rate throttling).
   */
  setBudget(bytes: number | null): void {
    this.budget = bytes;
  }

  setRate(bytesPerSec: number): void {
    this.limiter.setRate(bytesPerSec);
  }

  setPaused(p: boolean): void {
    this.paused = p;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * What to do now. Returns the runs to request (already counted as in flight), or how long to
   * wait for the rate limit, or idle (everything requested, replies pending), or done.
   */
  step(nowMs: number): PlanStep {
    const runs: Run[] = [];
    if (this.paused) return { kind: 'idle' };
    if (this.inFlight.size === 0) this.wrapped = false;
    while (this.inFlight.size < this.opts.maxInFlight && this.inFlightBytes < (this.opts.maxInFlightBytes ?? Infinity)) {
      if (this.budget !== null && this.budget <= 0) break;
      // within a budget, requests in 4 KiB units up to what is left of it, as DRBD counts them
      const max = this.budget === null ? this.opts.maxRequestBytes : Math.min(this.opts.maxRequestBytes, Math.ceil(this.budget / 4096) * 4096);
      const run = this.findNext(max);
      if (!run) break;
      const wait = this.limiter.take(run.length, nowMs);
      if (wait > 0) {
        return runs.length > 0 ? { kind: 'request', runs } : { kind: 'wait', ms: wait, runs };
      }
      this.inFlight.set(run.offset, run);
      this.inFlightBytes += run.length;
      if (this.budget !== null) this.budget -= run.length;
      this.cursor = run.offset + run.length;
      runs.push(run);
    }
    if (runs.length > 0) return { kind: 'request', runs };
    if (this.inFlight.size > 0) return { kind: 'idle' };
    return this.dirtyCount() === 0 ? { kind: 'done' } : { kind: 'idle' };
  }

  private findNext(maxBytes: number): Run | null {
    for (;;) {
      const run = this.nextDirtyRun(this.cursor, maxBytes);
      // skip runs overlapping a request already in flight (bits are cleared only when data lands)
      if (run && this.overlapsInFlight(run)) {
        this.cursor = run.offset + run.length;
        continue;
      }
      if (run) {
        this.wrapped = false;
        return run;
      }
      if (this.cursor === 0 || this.wrapped) return null;
      // bits behind the cursor (a failed write marked them): one more pass from the start
      this.cursor = 0;
      this.wrapped = true;
    }
  }

  private overlapsInFlight(run: Run): boolean {
    for (const r of this.inFlight.values()) {
      if (r.offset < run.offset + run.length && run.offset < r.offset + r.length) return true;
    }
    return false;
  }

  /** A reply for the request that started at `offset` arrived (its blocks are written). */
  complete(offset: number): void {
    const run = this.inFlight.get(offset);
    if (run) this.inFlightBytes -= run.length;
    this.inFlight.delete(offset);
    this.wrapped = false;
  }

  /** The link dropped: forget what was in flight (the bits are still set, the next resync resends). */
  reset(): void {
    this.inFlight.clear();
    this.inFlightBytes = 0;
    this.cursor = 0;
    this.wrapped = false;
  }
}
