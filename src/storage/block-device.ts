// Backing storage for a replicated device: a regular file or a raw block device, read and
// written off the event loop by the addon's own I/O threads (native/device_io.cc).
//
// Two styles of every request:
//  - Promise methods (read, readInto, write, writeBatch, flush, discard) for ordinary code;
//  - callback methods (readCb, readIntoCb, writeCb, writeBatchCb, flushCb, discardCb) for the
//    hot path: no Promise per 4 KiB request. Callbacks are always called asynchronously and
//    exactly once. Bad arguments (out of range, misaligned under O_DIRECT, wrong types) throw
//    synchronously from the *Cb methods and reject the Promise methods.
//
// Buffers are passed to the kernel by pointer, never copied (except through an aligned bounce
// buffer when O_DIRECT meets a misaligned Buffer; allocAligned() avoids that). Do not modify a
// Buffer while a request on it is in flight.
//
// Ordering: requests run concurrently on several threads. Overlapping writes that must land in
// order must be issued one after the other (or in one writeBatch, which keeps its order). A
// flush covers the writes that completed before it was issued.
import { constants as osConstants } from 'node:os';
import { ERR_CLOSED, ERR_SHORT_IO, ERR_WOULD_BLOCK, track, untrack } from './io-completions.js';
import { native, type NativeDevice } from './native.js';
import { StorageError, errnoDescription, errnoName, type StorageOp } from './storage-error.js';

export { StorageError } from './storage-error.js';
export type { StorageOp } from './storage-error.js';

export type DeviceKind = 'file' | 'block';

export interface OpenOptions {
  /** O_DIRECT: offsets and lengths must be multiples of `alignment`. */
  direct?: boolean;
  readOnly?: boolean;
}

export interface WriteRequest {
  offset: number;
  data: Buffer;
}

/**
 * A test-only injected error (see injectFaults). 'write' also covers discard; 'any' is read or
 * write; 'flush' fails every flush and ignores offset/length.
 */
export type FaultOp = 'read' | 'write' | 'any' | 'flush';

export interface FaultSpec {
  offset: number;
  length: number;
  op: FaultOp;
  /** errno name; default 'EIO'. */
  errno?: string;
}

export type IoCallback = (err: StorageError | null) => void;
/** `data` is the Buffer read into; its contents are meaningless when `err` is set. */
export type ReadCallback = (err: StorageError | null, data: Buffer) => void;

/** Set to '0' to send every request through the I/O pool (see inlineLimit). */
export const INLINE_ENV = 'TANDEM_INLINE_IO';
const INLINE_MAX_BYTES = 128 * 1024;

/** Set to '1' in the environment before open() to allow injectFaults()/clearFaults(). */
export const FAULTS_ENV = 'TANDEM_TEST_FAULTS';

const FAULT_OPS: Record<FaultOp, number> = { read: 1, write: 2, any: 3, flush: 4 };

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class BlockDevice {
  readonly path: string;
  readonly kind: DeviceKind;
  /** bytes; changes only through refreshSize() */
  size: number;
  readonly direct: boolean;
  readonly readOnly: boolean;
  /** Required alignment of offset, length and (to avoid a bounce copy) buffer address; 1 unless direct. */
  readonly alignment: number;
  #handle: NativeDevice;
  #closed = false;
  #inlineLimit: number;

  private constructor(handle: NativeDevice, path: string, opts: OpenOptions) {
    const info = handle.info();
    this.#handle = handle;
    this.path = path;
    this.kind = info.kind;
    this.size = info.size;
    this.alignment = info.alignment;
    this.direct = opts.direct === true;
    this.readOnly = opts.readOnly === true;
    this.#inlineLimit = this.direct || process.env[INLINE_ENV] === '0' ? 0 : INLINE_MAX_BYTES;
  }

  /**
   * Opens synchronously. A block device is always opened O_EXCL, so a mounted device (or one
   * another process holds exclusively) is refused with code 'EBUSY'.
   */
  static open(path: string, opts: OpenOptions = {}): BlockDevice {
    if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
    const faults = process.env[FAULTS_ENV] === '1';
    let handle: NativeDevice;
    try {
      handle = new native.NativeDevice(path, opts.direct === true, opts.readOnly === true, faults);
    } catch (e) {
      const errno = (e as { errno?: unknown }).errno;
      if (typeof errno !== 'number') throw e;
      throw new StorageError(describe(e), { code: errnoName(errno), errno, op: 'open', offset: 0, path });
    }
    return new BlockDevice(handle, path, opts);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** An uninitialised Buffer whose address satisfies `alignment` (so O_DIRECT needs no bounce). */
  allocAligned(length: number): Buffer {
    if (this.alignment <= 1) return Buffer.allocUnsafe(length);
    const raw = Buffer.allocUnsafeSlow(length + this.alignment);
    const pad = native.alignPad(raw, this.alignment);
    return raw.subarray(pad, pad + length);
  }

  // ---- Promise API ---------------------------------------------------------------------------

  read(offset: number, length: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.readCb(offset, length, (err, data) => (err ? reject(err) : resolve(data)));
    });
  }

  readInto(offset: number, target: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.readIntoCb(offset, target, (err) => (err ? reject(err) : resolve()));
    });
  }

  write(offset: number, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.writeCb(offset, data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /**
   * A large write whose data nobody is about to read back (resync). On a buffered device an
   * aligned range bypasses the page cache (an O_DIRECT companion fd, as DRBD's resync writes go
   * below the cache): copying a whole resync into fresh page-cache pages was the SyncTarget's
   * main cost. Same durability as write(); reads afterwards see the data.
   */
  writeBulk(offset: number, data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#write(offset, data, (err) => (err ? reject(err) : resolve()), true);
    });
  }

  /** Several writes in one request: contiguous neighbours go down as one pwritev. */
  writeBatch(writes: WriteRequest[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.writeBatchCb(writes, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** fdatasync: everything written before this call was made is durable when it resolves. */
  flush(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.flushCb((err) => (err ? reject(err) : resolve()));
    });
  }

  /** Punches a hole in a file (reads back as zeros) or issues BLKDISCARD on a device. */
  discard(offset: number, length: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.discardCb(offset, length, (err) => (err ? reject(err) : resolve()));
    });
  }

  // ---- Callback API (hot path) ---------------------------------------------------------------

  readCb(offset: number, length: number, cb: ReadCallback): void {
    this.#checkLength('read', length);
    this.#checkRange('read', offset, length, true);
    const buf = this.allocAligned(length);
    this.readIntoCb(offset, buf, (err) => cb(err, buf));
  }

  readIntoCb(offset: number, target: Buffer, cb: IoCallback): void {
    this.#checkBuffer('read', target);
    this.#checkRange('read', offset, target.length, true);
    if (this.#refuse('read', offset, cb)) return;
    const length = target.length;
    const id = track((err, _i, done) => cb(err === 0 ? null : this.#ioError('read', offset, err, done, length)));
    this.#submit(id, () => this.#handle.read(id, offset, target));
  }

  writeCb(offset: number, data: Buffer, cb: IoCallback): void {
    this.#write(offset, data, cb, false);
  }

  #write(offset: number, data: Buffer, cb: IoCallback, bulk: boolean): void {
    this.#checkBuffer('write', data);
    this.#checkRange('write', offset, data.length, true);
    if (this.#refuse('write', offset, cb)) return;
    const length = data.length;
    const id = track((err, _i, done) => cb(err === 0 ? null : this.#ioError('write', offset, err, done, length)));
    if (bulk) this.#submit(id, () => this.#handle.writeBulk(id, offset, data));
    else this.#submit(id, () => this.#handle.write(id, offset, data));
  }

  writeBatchCb(writes: WriteRequest[], cb: IoCallback): void {
    if (!Array.isArray(writes)) throw new TypeError('writeBatch: writes must be an array');
    const n = writes.length;
    const offsets = new Float64Array(n);
    const buffers: Buffer[] = new Array<Buffer>(n);
    for (let i = 0; i < n; i++) {
      const w = writes[i];
      if (w === null || typeof w !== 'object') throw new TypeError(`writeBatch: entry ${i} is not a WriteRequest`);
      this.#checkBuffer('write', w.data);
      this.#checkRange('write', w.offset, w.data.length, true);
      offsets[i] = w.offset;
      buffers[i] = w.data;
    }
    const first = n > 0 ? offsets[0] : 0;
    if (this.#refuse('write', first, cb)) return;
    if (n === 0) {
      process.nextTick(cb, null);
      return;
    }
    const id = track((err, failIndex, done) => {
      if (err === 0) return cb(null);
      const at = offsets[failIndex] ?? first;
      const len = buffers[failIndex]?.length ?? 0;
      cb(this.#ioError('write', at, err, done, len, n > 1 ? ` (batch entry ${failIndex} of ${n})` : ''));
    });
    this.#submit(id, () => this.#handle.writeBatch(id, offsets, buffers));
  }

  flushCb(cb: IoCallback): void {
    if (this.#refuse('flush', 0, cb, true)) return;
    const id = track((err, _i, done) => cb(err === 0 ? null : this.#ioError('flush', 0, err, done, 0)));
    this.#submit(id, () => this.#handle.flush(id));
  }

  discardCb(offset: number, length: number, cb: IoCallback): void {
    this.#checkLength('discard', length);
    this.#checkRange('discard', offset, length, false);
    if (this.#refuse('discard', offset, cb)) return;
    const id = track((err, _i, done) => cb(err === 0 ? null : this.#ioError('discard', offset, err, done, length)));
    this.#submit(id, () => this.#handle.discard(id, offset, length));
  }

  // ---- Synchronous API (small buffered requests) ---------------------------------------------

  /**
   * Largest request worth doing synchronously on the calling thread: buffered I/O of a few pages
   * is a page-cache copy that costs less than the round trip through the I/O pool. 0 under
   * O_DIRECT (the disk's own latency would stall the event loop) or when TANDEM_INLINE_IO=0.
   */
  get inlineLimit(): number {
    return this.#inlineLimit;
  }

  /**
   * Reads into `target` now if every page is in the page cache (preadv2 RWF_NOWAIT), so the event
   * loop never waits for the disk: null when done, 'not-cached' when the caller should use
   * readInto instead, or the error (bad arguments still throw).
   */
  readIntoSync(offset: number, target: Buffer): StorageError | null | 'not-cached' {
    this.#checkBuffer('read', target);
    this.#checkRange('read', offset, target.length, true);
    const refused = this.#stateError('read', offset, true);
    if (refused) return refused;
    const r = this.#handle.readSync(offset, target);
    if (r === 0) return null;
    if (r[0] === ERR_WOULD_BLOCK) return 'not-cached';
    return this.#ioError('read', offset, r[0], r[2], target.length);
  }

  /** One write done now; returns the error instead of throwing it (bad arguments still throw). */
  writeSync(offset: number, data: Buffer): StorageError | null {
    this.#checkBuffer('write', data);
    this.#checkRange('write', offset, data.length, true);
    const refused = this.#stateError('write', offset, false);
    if (refused) return refused;
    const r = this.#handle.writeSync(offset, data);
    return r === 0 ? null : this.#ioError('write', offset, r[0], r[2], data.length);
  }

  /** writeBatch done now, in order; returns the error (naming the failed entry) instead of throwing it. */
  writeBatchSync(writes: readonly WriteRequest[]): StorageError | null {
    const n = writes.length;
    const offsets = new Float64Array(n);
    const buffers: Buffer[] = new Array<Buffer>(n);
    for (let i = 0; i < n; i++) {
      const w = writes[i]!;
      this.#checkBuffer('write', w.data);
      this.#checkRange('write', w.offset, w.data.length, true);
      offsets[i] = w.offset;
      buffers[i] = w.data;
    }
    const first = n > 0 ? offsets[0]! : 0;
    const refused = this.#stateError('write', first, false);
    if (refused) return refused;
    const r = this.#handle.writeBatchSync(offsets, buffers);
    if (r === 0) return null;
    const [err, failIndex, done] = r;
    return this.#ioError('write', offsets[failIndex] ?? first, err, done, buffers[failIndex]?.length ?? 0, n > 1 ? ` (batch entry ${failIndex} of ${n})` : '');
  }

  // ---- Fault injection (tests only) ----------------------------------------------------------

  /**
   * Makes matching requests fail with the given errno before any syscall, in the I/O thread,
   * exactly as a failing disk would report it. Faults accumulate until clearFaults(). Only
   * available when TANDEM_TEST_FAULTS=1 was set when the device was opened.
   */
  injectFaults(faults: FaultSpec[]): void {
    const flat = new Float64Array(faults.length * 4);
    faults.forEach((f, i) => {
      const ops = FAULT_OPS[f.op];
      if (ops === undefined) throw new TypeError(`injectFaults: op must be read, write, any or flush, got ${String(f.op)}`);
      const name = f.errno ?? 'EIO';
      const errno = (osConstants.errno as Record<string, number | undefined>)[name];
      if (errno === undefined) throw new TypeError(`injectFaults: unknown errno name ${name}`);
      if (!Number.isSafeInteger(f.offset) || f.offset < 0 || !Number.isSafeInteger(f.length) || f.length < 0) {
        throw new RangeError('injectFaults: offset and length must be non-negative integers');
      }
      flat.set([f.offset, f.length, ops, errno], i * 4);
    });
    this.#faultCall(() => this.#handle.injectFaults(flat));
  }

  clearFaults(): void {
    this.#faultCall(() => this.#handle.clearFaults());
  }

  /**
   * The backing file or LV may have grown since open (`tandemadm resize`): read its size again.
   * I/O beyond the old end is allowed from here on.
   */
  refreshSize(): number {
    if (this.#closed) throw new StorageError(`${this.path}: device is closed`, { code: 'ECLOSED', op: 'read', offset: 0, path: this.path });
    this.size = this.#handle.refreshSize();
    return this.size;
  }

  /**
   * Idempotent. Requests not yet started fail with code 'ECLOSED'; requests already inside a
   * syscall finish first (close waits for them), so the device can be reopened right away.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle.close();
  }

  // ---- internals -----------------------------------------------------------------------------

  #faultCall(f: () => void): void {
    try {
      f();
    } catch (e) {
      throw new StorageError(describe(e), { code: 'ENOTSUP', op: 'faults', offset: 0, path: this.path });
    }
  }

  #submit(id: number, f: () => void): void {
    try {
      f();
    } catch (e) {
      untrack(id);
      throw e;
    }
  }

  /** State errors (closed, read-only) go to the callback, asynchronously like I/O errors. */
  #refuse(op: StorageOp, offset: number, cb: IoCallback, readLike = op === 'read'): boolean {
    const err = this.#stateError(op, offset, readLike);
    if (err === null) return false;
    process.nextTick(cb, err);
    return true;
  }

  /** Why a request cannot run at all (closed, or a write on a read-only device), or null. */
  #stateError(op: StorageOp, offset: number, readLike: boolean): StorageError | null {
    if (this.#closed) return new StorageError(`${this.path}: device is closed`, { code: 'ECLOSED', op, offset, path: this.path });
    if (this.readOnly && !readLike) return new StorageError(`${this.path}: opened read-only, cannot ${op}`, { code: 'EROFS', op, offset, path: this.path });
    return null;
  }

  #checkBuffer(op: StorageOp, b: unknown): void {
    if (!(b instanceof Uint8Array)) throw new TypeError(`${this.path}: ${op} needs a Buffer`);
  }

  #checkLength(op: StorageOp, length: number): void {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`${this.path}: ${op} length must be a non-negative integer, got ${length}`);
    }
  }

  #checkRange(op: StorageOp, offset: number, length: number, aligned: boolean): void {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new RangeError(`${this.path}: ${op} offset must be a non-negative integer, got ${offset}`);
    }
    if (offset + length > this.size) {
      throw new RangeError(
        `${this.path}: ${op} of ${length} bytes at offset ${offset} is beyond the device end (${this.size} bytes)`,
      );
    }
    if (aligned && this.alignment > 1 && (offset % this.alignment !== 0 || length % this.alignment !== 0)) {
      throw new RangeError(
        `${this.path}: O_DIRECT ${op} needs offset and length aligned to ${this.alignment} bytes (offset ${offset}, length ${length})`,
      );
    }
  }

  #ioError(op: StorageOp, offset: number, err: number, done: number, length: number, where = ''): StorageError {
    const path = this.path;
    if (err === ERR_CLOSED) {
      return new StorageError(`${path}: device was closed before the ${op} at offset ${offset} ran`, {
        code: 'ECLOSED',
        op,
        offset,
        path,
      });
    }
    if (err === ERR_SHORT_IO) {
      return new StorageError(`${path}: short ${op} at offset ${offset}: ${done} of ${length} bytes${where}`, {
        code: 'EIO',
        op,
        offset,
        path,
      });
    }
    return new StorageError(`${path}: ${op} at offset ${offset} failed: ${errnoDescription(err)}${where}`, {
      code: errnoName(err),
      errno: err,
      op,
      offset,
      path,
    });
  }
}
