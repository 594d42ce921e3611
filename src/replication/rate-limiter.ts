// Token bucket over bytes for resync traffic (`syncer { rate }` / `resync-rate`). Pure: the caller
// passes the clock, so tests drive it with a fake one.

export class RateLimiter {
  private tokens: number;
  private last: number;

  /**
   * @param bytesPerSec sustained rate; 0 means unlimited
   * @param burstBytes how far ahead a caller may go; one resync request's worth keeps the rate even
   */
  constructor(
    private bytesPerSec: number,
    private readonly burstBytes: number,
    nowMs: number,
  ) {
    this.tokens = burstBytes;
    this.last = nowMs;
  }

  setRate(bytesPerSec: number): void {
    this.bytesPerSec = bytesPerSec;
  }

  get rate(): number {
    return this.bytesPerSec;
  }

  private refill(nowMs: number): void {
    if (nowMs > this.last) {
      this.tokens = Math.min(this.burstBytes, this.tokens + ((nowMs - this.last) * this.bytesPerSec) / 1000);
      this.last = nowMs;
    }
  }

  /** Milliseconds to wait before `bytes` may be sent; 0 means send now (and the bytes are taken). */
  take(bytes: number, nowMs: number): number {
    if (this.bytesPerSec <= 0) return 0;
    this.refill(nowMs);
    if (this.tokens >= Math.min(bytes, this.burstBytes)) {
      this.tokens -= bytes;
      return 0;
    }
    const need = Math.min(bytes, this.burstBytes) - this.tokens;
    return Math.max(1, Math.ceil((need * 1000) / this.bytesPerSec));
  }
}
