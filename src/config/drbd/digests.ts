// Which digest names Tandem can compute for verify-alg: crc32c (native) or a hash Node's crypto
// (OpenSSL) knows. The kernel crypto API names drbd.conf uses for these are the same words.
import crypto from 'node:crypto';

export function verifyAlgSupported(alg: string): boolean {
  const a = alg.toLowerCase();
  return a === 'crc32c' || crypto.getHashes().includes(a);
}
