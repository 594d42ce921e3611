// Online verify's checksums (net { verify-alg; }), block by block as DRBD compares them: the
// verifying node sends one digest per 4 KiB block of a chunk, the peer answers with the blocks
// whose digest differs, so `oos` and the out-of-sync handler count exactly the blocks that differ.
// crc32c is the native one; any other name is a hash Node's crypto (OpenSSL) knows: md5, sha1,
// sha256, … (the kernel crypto API names drbd.conf uses for these are the same words).
import crypto from 'node:crypto';
import { crc32c } from '../storage/checksum.js';
import { verifyAlgSupported } from '../config/drbd/digests.js';

export const VERIFY_BLOCK = 4096;

export { verifyAlgSupported };

function digestOf(alg: string, block: Buffer): Buffer {
  if (alg === 'crc32c') {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(crc32c(block) >>> 0);
    return b;
  }
  return crypto.createHash(alg).update(block).digest();
}

/** The digests of every 4 KiB block of `data` (the last may be shorter), concatenated. */
export function blockDigests(alg: string, data: Buffer): Buffer {
  const a = alg.toLowerCase();
  const parts: Buffer[] = [];
  for (let o = 0; o < data.length; o += VERIFY_BLOCK) parts.push(digestOf(a, data.subarray(o, Math.min(data.length, o + VERIFY_BLOCK))));
  return Buffer.concat(parts);
}

/**
 * Indices of the blocks of `data` whose digest differs from the peer's. A digest list of the
 * wrong length (another algorithm, a damaged message) makes every block differ: verify must
 * never call unverified data equal.
 */
export function differingBlocks(alg: string, data: Buffer, peerDigests: Buffer): number[] {
  const mine = blockDigests(alg, data);
  const blocks = Math.ceil(data.length / VERIFY_BLOCK);
  const all = Array.from({ length: blocks }, (_, i) => i);
  if (mine.length !== peerDigests.length || blocks === 0) return all;
  const size = mine.length / blocks;
  return all.filter((i) => !mine.subarray(i * size, (i + 1) * size).equals(peerDigests.subarray(i * size, (i + 1) * size)));
}
