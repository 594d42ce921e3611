import type { NbdBackend } from './backend.js';
import { NbdError } from './errors.js';

/** An export held in memory: for tests and benchmarks. Trim zero-fills, like a thin device. */
export class MemoryBackend implements NbdBackend {
  readonly data: Buffer;
  constructor(
    readonly size: number,
    readonly readOnly = false,
  ) {
    this.data = Buffer.alloc(size);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.check(offset, length);
    // A copy: the reply may still be queued on the socket while a later write lands.
    return Buffer.from(this.data.subarray(offset, offset + length));
  }
  async write(offset: number, data: Buffer): Promise<void> {
    this.check(offset, data.length);
    data.copy(this.data, offset);
  }
  async flush(): Promise<void> {}
  async trim(offset: number, length: number): Promise<void> {
    this.check(offset, length);
    this.data.fill(0, offset, offset + length);
  }
  async writeZeroes(offset: number, length: number): Promise<void> {
    this.check(offset, length);
    this.data.fill(0, offset, offset + length);
  }

  private check(offset: number, length: number): void {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new NbdError('EINVAL', `range ${offset}+${length} outside export of ${this.size} bytes`);
    }
  }
}
