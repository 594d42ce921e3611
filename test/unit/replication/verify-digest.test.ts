// Online verify's per-block digests: exactly the 4 KiB blocks that differ are named, for every
// verify-alg, and a digest list that does not fit makes every block differ (never "equal").
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import crypto from 'node:crypto';
import { VERIFY_BLOCK, blockDigests, differingBlocks, verifyAlgSupported } from '../../../src/replication/verify-digest.js';

const ALGS = ['crc32c', 'md5', 'sha1', 'sha256'];

describe('verify digests', () => {
  it.each(ALGS)('%s: the digest size per block is the algorithm\'s', (alg) => {
    const size = { crc32c: 4, md5: 16, sha1: 20, sha256: 32 }[alg]!;
    expect(blockDigests(alg, Buffer.alloc(3 * VERIFY_BLOCK)).length).toBe(3 * size);
  });

  it('property: the changed blocks, and only they, differ', () => {
    fc.assert(fc.property(fc.constantFrom(...ALGS), fc.integer({ min: 1, max: 64 }), fc.uniqueArray(fc.nat(63), { maxLength: 8 }), (alg, blocks, changed) => {
      const data = crypto.randomBytes(blocks * VERIFY_BLOCK);
      const peer = Buffer.from(data);
      const want = changed.filter((b) => b < blocks).sort((a, b) => a - b);
      for (const b of want) peer[b * VERIFY_BLOCK + (b % 97)] ^= 0x40;
      expect(differingBlocks(alg, data, blockDigests(alg, peer))).toEqual(want);
    }), { numRuns: 60 });
  });

  it('a digest list of another length (another algorithm) makes every block differ', () => {
    const data = crypto.randomBytes(4 * VERIFY_BLOCK);
    expect(differingBlocks('sha1', data, blockDigests('md5', data))).toEqual([0, 1, 2, 3]);
  });

  it('a short last block is compared too', () => {
    const data = crypto.randomBytes(VERIFY_BLOCK + 100);
    const peer = Buffer.from(data);
    peer[VERIFY_BLOCK + 50] ^= 1;
    expect(differingBlocks('crc32c', data, blockDigests('crc32c', peer))).toEqual([1]);
  });

  it.each([['crc32c', true], ['SHA1', true], ['sha256', true], ['md5', true], ['crct10dif', false], ['hmac(sha256)', false]] as const)('%s supported: %s', (alg, ok) => {
    expect(verifyAlgSupported(alg)).toBe(ok);
  });
});
