// Resync progress as /proc/drbd shows it: percent done, what is left, the current speed over a
// short window of marks and the average since the start, and the finish estimate. Pure.

export interface ProgressSnapshot {
  totalKiB: number;
  leftKiB: number;
  percent: number;
  speedKiBs: number;
  avgSpeedKiBs: number;
  etaSec: number;
}

interface Mark {
  atMs: number;
  leftBytes: number;
}

/** DRBD keeps a ring of "sync marks" a few seconds apart; the current speed is over the last window. */
const MARK_STEP_MS = 1000;
const MARKS = 6;

export class SyncProgress {
  private marks: Mark[] = [];
  private readonly startMs: number;
  private readonly totalBytes: number;
  private pausedMs = 0;
  private pausedAt: number | null = null;

  constructor(totalBytes: number, nowMs: number) {
    this.totalBytes = Math.max(totalBytes, 0);
    this.startMs = nowMs;
    this.marks.push({ atMs: nowMs, leftBytes: totalBytes });
  }

  pause(nowMs: number): void {
    if (this.pausedAt === null) this.pausedAt = nowMs;
  }
  resume(nowMs: number): void {
    if (this.pausedAt !== null) {
      this.pausedMs += nowMs - this.pausedAt;
      this.pausedAt = null;
      this.marks = [{ atMs: nowMs, leftBytes: this.marks[this.marks.length - 1]!.leftBytes }];
    }
  }

  /** record the bytes still out of sync */
  update(leftBytes: number, nowMs: number): void {
    const last = this.marks[this.marks.length - 1]!;
    if (nowMs - last.atMs >= MARK_STEP_MS) {
      this.marks.push({ atMs: nowMs, leftBytes });
      if (this.marks.length > MARKS) this.marks.shift();
    }
  }

  snapshot(leftBytes: number, nowMs: number): ProgressSnapshot {
    const totalKiB = Math.ceil(this.totalBytes / 1024);
    const leftKiB = Math.ceil(leftBytes / 1024);
    const done = this.totalBytes - leftBytes;
    const percent = this.totalBytes === 0 ? 100 : Math.max(0, Math.min(100, (done * 100) / this.totalBytes));
    const first = this.marks[0]!;
    const windowMs = nowMs - first.atMs;
    const windowBytes = first.leftBytes - leftBytes;
    const speed = windowMs > 0 ? (windowBytes * 1000) / windowMs : 0;
    const activeMs = nowMs - this.startMs - this.pausedMs - (this.pausedAt !== null ? nowMs - this.pausedAt : 0);
    const avg = activeMs > 0 ? (done * 1000) / activeMs : 0;
    const etaSec = speed > 0 ? Math.round(leftBytes / speed) : avg > 0 ? Math.round(leftBytes / avg) : 0;
    return {
      totalKiB,
      leftKiB,
      percent,
      speedKiBs: Math.max(0, Math.round(speed / 1024)),
      avgSpeedKiBs: Math.max(0, Math.round(avg / 1024)),
      etaSec,
    };
  }
}
