// Buffers for block data that arrives in pieces (an NBD WRITE payload, a peer frame's payload)
// and may end up in a bulk write (BlockDevice.writeBulk, O_DIRECT). Joining the pieces into a
// page-aligned Buffer costs nothing extra and spares the addon a bounce copy of the whole payload.
import { native } from './native.js';

const PAGE = 4096;

/** At or above this size a joined payload is page-aligned; below it alignment buys nothing. */
export const ALIGN_FROM_BYTES = 64 * 1024;

/** An uninitialised Buffer of `length` bytes; page-aligned when it is large. */
export function allocPayload(length: number): Buffer {
  if (length < ALIGN_FROM_BYTES) return Buffer.allocUnsafe(length);
  const raw = Buffer.allocUnsafeSlow(length + PAGE);
  const pad = native.alignPad(raw, PAGE);
  return raw.subarray(pad, pad + length);
}
