// Buffers for block data that arrives in pieces (an NBD WRITE payload, a peer frame's payload)
// and may end up in a bulk write (BlockDevice.writeBulk, O_DIRECT). Joining the pieces into a
// page-aligned Buffer costs nothing extra and spares the addon a bounce copy of the whole payload.
//
// Resync moves 1 MiB payloads at close to a GiB a second. Allocating each one fresh left tens of
// MiB of dead Buffers between two garbage collections on both nodes (the RSS during a resync was
// twice the idle RSS), so payloads of exactly POOLED_BYTES are recycled: the resync gives each one
// back once it is written (to disk on the SyncTarget, to the socket on the SyncSource).
import { native } from './native.js';

const PAGE = 4096;

/** At or above this size a joined payload is page-aligned; below it alignment buys nothing. */
export const ALIGN_FROM_BYTES = 64 * 1024;

/** The size of a resync request, and of the payloads worth recycling. */
export const POOLED_BYTES = 1 << 20;
/** enough for every resync request in flight (4 MiB, RESYNC_IN_FLIGHT_BYTES) plus the ones being written */
const POOL_MAX = 6;

const free: Buffer[] = [];
/** Buffers this module handed out for pooling: only these may come back (never a view into someone else's chunk). */
const ours = new WeakSet<Buffer>();

/** An uninitialised Buffer of `length` bytes; page-aligned when it is large. */
export function allocPayload(length: number): Buffer {
  if (length === POOLED_BYTES) {
    const b = free.pop();
    if (b) return b;
  }
  if (length < ALIGN_FROM_BYTES) return Buffer.allocUnsafe(length);
  const raw = Buffer.allocUnsafeSlow(length + PAGE);
  const pad = native.alignPad(raw, PAGE);
  const buf = raw.subarray(pad, pad + length);
  if (length === POOLED_BYTES) ours.add(buf);
  return buf;
}

/**
 * Gives a payload back for reuse. The caller guarantees nothing reads or writes it any more;
 * a Buffer this module did not allocate, or one too many, is left to the garbage collector.
 */
export function recyclePayload(buf: Buffer): void {
  if (ours.has(buf) && free.length < POOL_MAX && !free.includes(buf)) free.push(buf);
}

/** Lets the pooled payloads go (a resync ended: idle RSS should not keep them). */
export function drainPayloadPool(): void {
  free.length = 0;
}

/** Buffers waiting in the pool; for tests. */
export function pooledPayloads(): number {
  return free.length;
}

/**
 * Bytes read from a socket between two young-generation collections forced here. Each socket
 * read used to make a fresh 64 KiB Buffer; at resync speed V8 left ~40 MiB of them dead between
 * its own collections (the SyncTarget's RSS during a resync: 105 MiB, 83 MiB with this pacing).
 * The peer link now reads into 256 KiB slabs and payloads of its own (in-place-reader.ts), which
 * die the same way, and so do the FUSE path's large payloads (fuse-mount.ts). A scavenge of
 * tandemd's small young generation takes about a millisecond at 1 MiB writes (`--trace-gc`).
 */
const YOUNG_GC_EVERY_BYTES = 16 << 20;
let receivedSinceGc = 0;
const gc = (globalThis as { gc?: (opts?: { type: 'minor' | 'major' }) => void }).gc;

/**
 * Quiet time after bulk data before the memory kept for it is given back. After a burst of 1 MiB
 * writes the Secondary stayed at about 120 MiB resident (glibc keeps freed 1 MiB payloads in its
 * heaps) and the Primary kept its FUSE chunks; given back, about 80 and 65 MiB.
 */
export const IDLE_RELEASE_MS = 2000;
let idleTimer: NodeJS.Timeout | null = null;

/** Counts bulk bytes received; runs a young GC every YOUNG_GC_EVERY_BYTES when tandemd exposes gc (--expose-gc). */
export function noteBulkReceived(bytes: number): void {
  receivedSinceGc += bytes;
  if (receivedSinceGc < YOUNG_GC_EVERY_BYTES) return;
  receivedSinceGc = 0;
  gc?.({ type: 'minor' });
  if (idleTimer) idleTimer.refresh();
  else {
    idleTimer = setTimeout(releaseIdleMemory, IDLE_RELEASE_MS);
    idleTimer.unref();
  }
}

/**
 * The bulk I/O has stopped: the payload pool, the dead payloads (a full GC: many were promoted
 * before they died), the FUSE buffers kept for reuse and malloc's free pages go back.
 */
export function releaseIdleMemory(): void {
  idleTimer = null;
  drainPayloadPool();
  if (!gc) return native.releaseIdleMemory();
  gc({ type: 'major' });
  // V8 frees the backing stores of dead Buffers on a background thread after the GC: trim once
  // that has happened, or malloc still holds them
  setTimeout(() => native.releaseIdleMemory(), SWEEP_WAIT_MS).unref();
}
const SWEEP_WAIT_MS = 250;

/** Whether a release is waiting for the bulk I/O to stay quiet; for tests. */
export function idleReleasePending(): boolean {
  return idleTimer !== null;
}
