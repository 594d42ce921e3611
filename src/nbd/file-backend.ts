import { close, constants, fdatasync, fstat, ftruncate, open, read, write } from 'node:fs';
import type { NbdBackend } from './backend.js';

const ZERO_CHUNK = 1024 * 1024;

/**
 * An export backed by a regular file, through node:fs on the libuv thread pool. For tests and
 * as a non-replicated baseline; the replicated device uses the native addon instead.
 * The callback API is used rather than FileHandle promises: it costs one promise per request
 * instead of several, which is most of the difference at 4 KiB.
 * Trim is a no-op: the spec leaves trimmed contents unspecified.
 */
export class FileBackend implements NbdBackend {
  private zeroes: Buffer | undefined;
  private closed = false;

  private constructor(
    private readonly fd: number,
    readonly size: number,
    readonly readOnly: boolean,
  ) {}

  /** Opens `path`; with `size` the file is created or extended to that size. */
  static async open(path: string, opts: { size?: number; readOnly?: boolean } = {}): Promise<FileBackend> {
    const readOnly = opts.readOnly ?? false;
    // Not 'a+': O_APPEND would make every positioned write land at the end of the file.
    const flags = readOnly ? constants.O_RDONLY : constants.O_RDWR | (opts.size !== undefined ? constants.O_CREAT : 0);
    const fd = await new Promise<number>((resolve, reject) => open(path, flags, 0o644, (err, fd) => (err ? reject(err) : resolve(fd))));
    try {
      let size = await new Promise<number>((resolve, reject) => fstat(fd, (err, st) => (err ? reject(err) : resolve(st.size))));
      if (opts.size !== undefined && size < opts.size) {
        const want = opts.size;
        await new Promise<void>((resolve, reject) => ftruncate(fd, want, (err) => (err ? reject(err) : resolve())));
        size = want;
      }
      return new FileBackend(fd, size, readOnly);
    } catch (err) {
      close(fd);
      throw err;
    }
  }

  read(offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    return new Promise((resolve, reject) => {
      const step = (done: number): void => {
        read(this.fd, buf, done, length - done, offset + done, (err, n) => {
          if (err) return reject(err);
          if (n === 0) {
            buf.fill(0, done + n); // past the end of a short file reads as zeroes
            return resolve(buf);
          }
          if (done + n === length) return resolve(buf);
          step(done + n);
        });
      };
      step(0);
    });
  }

  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const step = (done: number): void => {
        write(this.fd, data, done, data.length - done, offset + done, (err, n) => {
          if (err) return reject(err);
          if (done + n < data.length) return step(done + n);
          if (!fua) return resolve();
          fdatasync(this.fd, (e) => (e ? reject(e) : resolve()));
        });
      };
      step(0);
    });
  }

  flush(): Promise<void> {
    return new Promise((resolve, reject) => fdatasync(this.fd, (err) => (err ? reject(err) : resolve())));
  }

  async trim(): Promise<void> {}

  async writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    this.zeroes ??= Buffer.alloc(ZERO_CHUNK);
    let done = 0;
    while (done < length) {
      const n = Math.min(ZERO_CHUNK, length - done);
      await this.write(offset + done, this.zeroes.subarray(0, n), false);
      done += n;
    }
    if (fua) await this.flush();
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve, reject) => close(this.fd, (err) => (err ? reject(err) : resolve())));
  }
}
