// A MetaIO held in memory as sparse 4 KiB pages (all-zero pages are not stored), so tests can
// create metadata on a "1 TiB" device; it records every write for page-granularity assertions.
import type { MetaIO } from '../../../src/storage/metadata-store.js';

const PAGE = 4096;
const ZERO = Buffer.alloc(PAGE);

export class SparseMetaIO implements MetaIO {
  readonly pages = new Map<number, Buffer>();
  readonly writes: Array<{ offset: number; length: number }> = [];
  flushes = 0;
  constructor(readonly size: number) {}

  async read(offset: number, length: number): Promise<Buffer> {
    this.check(offset, length);
    const out = Buffer.alloc(length);
    for (let pos = offset; pos < offset + length; ) {
      const page = Math.floor(pos / PAGE);
      const inPage = pos - page * PAGE;
      const n = Math.min(PAGE - inPage, offset + length - pos);
      this.pages.get(page)?.copy(out, pos - offset, inPage, inPage + n);
      pos += n;
    }
    return out;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    this.check(offset, data.length);
    this.writes.push({ offset, length: data.length });
    for (let pos = offset; pos < offset + data.length; ) {
      const page = Math.floor(pos / PAGE);
      const inPage = pos - page * PAGE;
      const n = Math.min(PAGE - inPage, offset + data.length - pos);
      const buf = Buffer.from(this.pages.get(page) ?? Buffer.alloc(PAGE));
      data.copy(buf, inPage, pos - offset, pos - offset + n);
      if (buf.equals(ZERO)) this.pages.delete(page);
      else this.pages.set(page, buf);
      pos += n;
    }
  }

  async flush(): Promise<void> {
    this.flushes++;
  }

  private check(offset: number, length: number): void {
    if (offset < 0 || offset + length > this.size) throw new Error(`I/O at ${offset}+${length} beyond ${this.size}`);
  }
}
