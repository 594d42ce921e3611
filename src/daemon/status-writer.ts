// Keeps <run-dir>/status current in the /proc/drbd layout. Rewritten atomically (write a temporary
// file, rename over) so `watch cat` never sees half a file. /proc/drbd is computed when read; the
// nearest a file gets is to render every 100 ms and rewrite it when the text changed, so the
// counters (ns, dw, oos, …) that move with every write, which nothing marks dirty, are at most
// 100 ms old, and an idle node writes nothing.
import fs from 'node:fs';
import path from 'node:path';

export class StatusWriter {
  private timer: NodeJS.Timeout | null = null;
  private last = '';

  constructor(
    private readonly file: string,
    private readonly render: () => string,
    private readonly intervalMs = 100,
  ) {}

  start(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    this.writeNow();
    this.timer = setInterval(() => this.writeNow(), this.intervalMs);
    this.timer.unref();
  }

  /** Renders now and rewrites the file if the text changed. */
  writeNow(): void {
    const text = this.render();
    if (text === this.last) return;
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, this.file);
    this.last = text;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
