// CRC-32C (Castagnoli), DRBD's usual csums-alg/verify-alg: SSE4.2 crc32 instructions when the
// CPU has them (checked at run time), a slicing-by-8 table otherwise.
import { native } from './native.js';

/**
 * CRC-32C of `data`. `seed` continues an earlier result, so
 * crc32c(b, crc32c(a)) === crc32c(Buffer.concat([a, b])). Returns an unsigned 32-bit number.
 */
export function crc32c(data: Uint8Array, seed?: number): number {
  return native.crc32c(data, seed);
}

/** The portable table path, for tests that compare it with the hardware path. */
export function crc32cPortable(data: Uint8Array, seed?: number): number {
  return native.crc32cTable(data, seed);
}

/** Whether crc32c() uses the SSE4.2 instruction on this CPU. */
export const crc32cHardware: boolean = native.crc32cHardware;
