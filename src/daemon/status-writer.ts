// Keeps <run-dir>/status current in the /proc/drbd layout. Rewritten atomically (write a temporary
// file, rename over) so `watch cat` never sees half a file; at most once per interval while
// anything changes, and once per interval anyway while a resync runs (speed and ETA move).
import fs from 'node:fs';
import path from 'node:path';

export class StatusWriter {
  private timer: NodeJS.Timeout | null = null;
  private dirty = true;
  private last = '';
  private soon: NodeJS.Timeout | null = null;

  constructor(
    private readonly file: string,
    private readonly render: () => string,
    private readonly intervalMs = 500,
  ) {}

  start(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    this.writeNow();
    this.timer = setInterval(() => {
      if (this.dirty) this.writeNow();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** A change is written within ~100 ms (tests and `watch` see it promptly), at most 10 times a second. */
  markDirty(): void {
    this.dirty = true;
    if (this.soon || !this.timer) return;
    this.soon = setTimeout(() => {
      this.soon = null;
      if (this.dirty) this.writeNow();
    }, 100);
    this.soon.unref();
  }

  writeNow(): void {
    this.dirty = false;
    const text = this.render();
    if (text === this.last) return;
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, this.file);
    this.last = text;
  }

  stop(): void {
    if (this.soon) clearTimeout(this.soon);
    this.soon = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
