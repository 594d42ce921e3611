// Loads the C++ addon (build/Release/tandem_native.node) and describes its raw interface.
// The typed wrappers live in block-device.ts, dirty-bitmap.ts and checksum.ts; nothing else
// should call the addon directly.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeDeviceInfo {
  kind: 'file' | 'block';
  size: number;
  /** Required alignment of offsets, lengths and buffer addresses; 1 unless O_DIRECT. */
  alignment: number;
}

/** Requests carry a caller-chosen id; completion arrives through setCompletionHandler. */
export interface NativeDevice {
  info(): NativeDeviceInfo;
  /** Reads the size again from the open fd (BLKGETSIZE64 or fstat) and returns it. */
  refreshSize(): number;
  read(id: number, offset: number, target: Uint8Array): void;
  write(id: number, offset: number, data: Uint8Array): void;
  /** write() for bulk data: through an O_DIRECT companion fd when the device is buffered and the range aligned. */
  writeBulk(id: number, offset: number, data: Uint8Array): void;
  writeBatch(id: number, offsets: Float64Array, buffers: Uint8Array[]): void;
  /** On the calling thread: 0, or [err, failIndex, done]. */
  readSync(offset: number, target: Uint8Array): 0 | [number, number, number];
  writeSync(offset: number, data: Uint8Array): 0 | [number, number, number];
  writeBatchSync(offsets: Float64Array, buffers: Uint8Array[]): 0 | [number, number, number];
  flush(id: number): void;
  discard(id: number, offset: number, length: number): void;
  /** Quadruples [offset, length, ops bitmask (1 read, 2 write, 4 flush), errno]. */
  injectFaults(flat: Float64Array): void;
  clearFaults(): void;
  close(): void;
}

export interface NativeDeviceConstructor {
  /** Opens synchronously; throws an Error carrying `errno` on failure. */
  new (path: string, direct: boolean, readOnly: boolean, faultsEnabled: boolean): NativeDevice;
}

export interface NativeDirtyBitmap {
  setRange(offset: number, length: number): void;
  clearRange(offset: number, length: number): void;
  testRange(offset: number, length: number): boolean;
  count(): number;
  nextDirtyRun(fromOffset: number, maxBytes: number): { offset: number; length: number } | null;
  toBuffer(): Buffer;
  toBufferRange(firstWord: number, wordCount: number): Buffer;
  loadRange(firstWord: number, bytes: Uint8Array, merge: boolean): void;
  storeRange(firstWord: number, target: Uint8Array): void;
  encodeRange(firstWord: number, wordCount: number): Buffer;
  decodeRange(firstWord: number, encoded: Uint8Array, merge: boolean): number;
  loadBuffer(buf: Uint8Array): void;
  merge(buf: Uint8Array): void;
  setAll(): void;
  clearAll(): void;
  info(): { totalBits: number; granularity: number; byteLength: number; mixedPages: number };
}

/** The kernel device's FUSE connection (native/fuse_channel.cc). */
export interface NativeFuseChannel {
  reply(unique: number, errno: number, data?: Uint8Array, data2?: Uint8Array): number;
  replyWrite(unique: number, size: number): number;
  /** an unsolicited message (FUSE_NOTIFY_*): 0, or the errno of the write */
  notify(code: number, data: Uint8Array): number;
  close(): void;
}

export interface NativeFuseChannelConstructor {
  /**
   * onRequests(count, arena, chunks): `count` requests are in the table's slots (slotBytes each:
   * the first headBytes bytes of the request, then u32 offset into `arena`, u32 payload bytes, u32
   * total length, u32 chunk index: 0 when the payload is in `arena`, i when it is `chunks[i - 1]`,
   * a Buffer of its own for payloads above copyMaxBytes); count < 0: the connection ended with
   * errno -count (ENODEV: unmounted).
   */
  new (fd: number, table: Uint8Array, onRequests: (count: number, arena: Buffer | null, chunks: Buffer[] | null) => void): NativeFuseChannel;
}

/** A non-blocking AF_UNIX SOCK_DGRAM socket (native/unix_dgram.cc): answers 0 / bytes or -errno. */
export interface NativeUnixDgram {
  sendTo(data: Uint8Array, path: string): number;
  bind(path: string): number;
  recv(target: Uint8Array): number;
  close(): void;
}

export interface NativeAddon {
  /** records: Float64Array of [id, err, failIndex, done] records; fn(count) once per batch. */
  setCompletionHandler(records: Float64Array, fn: (count: number) => void): void;
  alignPad(buf: Uint8Array, alignment: number): number;
  /** Frees the FUSE buffers kept for reuse and the free memory glibc's malloc holds (malloc_trim). */
  releaseIdleMemory(): void;
  NativeDevice: NativeDeviceConstructor;
  NativeDirtyBitmap: new (deviceBytes: number, granularity: number) => NativeDirtyBitmap;
  crc32c(data: Uint8Array, seed?: number): number;
  crc32cTable(data: Uint8Array, seed?: number): number;
  crc32cHardware: boolean;
  /** Opens /dev/fuse and mounts it on `mountpoint` as fuse.tandem (root only); returns the fd. */
  fuseMount(mountpoint: string, source: string, options: string): number;
  FuseChannel: NativeFuseChannelConstructor;
  fuseLimits: { slotBytes: number; maxBatch: number; headBytes: number; maxWrite: number; copyMaxBytes: number };
  /** Throws an Error carrying `errno` when no socket can be made. */
  UnixDgram: new () => NativeUnixDgram;
}

/** The nearest directory at or above `start` that holds package.json (src/ and dist/src/ alike). */
export function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`tandem: no package.json above ${start}`);
    dir = up;
  }
}

function load(): NativeAddon {
  const root = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
  const file = join(root, 'build', 'Release', 'tandem_native.node');
  if (!existsSync(file)) {
    throw new Error(`tandem native addon is not built (expected ${file}); run "npm install"`);
  }
  const require = createRequire(import.meta.url);
  return require(file) as NativeAddon;
}

export const native: NativeAddon = load();
