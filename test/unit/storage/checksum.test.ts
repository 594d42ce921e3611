import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c, crc32cHardware, crc32cPortable } from '../../../src/storage/checksum.js';

// Known answers: the CRC catalogue's check value and RFC 3720 (iSCSI) appendix B.4.
const vectors: [string, Buffer, number][] = [
  ['"123456789"', Buffer.from('123456789'), 0xe3069283],
  ['empty', Buffer.alloc(0), 0],
  ['32 bytes of 0x00', Buffer.alloc(32, 0x00), 0x8a9136aa],
  ['32 bytes of 0xff', Buffer.alloc(32, 0xff), 0x62a8ab43],
  ['32 incrementing bytes', Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e],
  ['32 decrementing bytes', Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c],
];

describe('crc32c', () => {
  it.each(vectors)('%s', (_name, data, expected) => {
    expect(crc32c(data)).toBe(expected);
    expect(crc32cPortable(data)).toBe(expected);
  });

  it('reports whether the hardware path is in use', () => {
    expect(typeof crc32cHardware).toBe('boolean');
  });

  it('hardware and table paths agree on any data, offset and length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(7), fc.nat({ max: 0xffffffff }), (bytes, skip, seed) => {
        const view = Buffer.from(bytes).subarray(Math.min(skip, bytes.length)); // unaligned starts
        expect(crc32c(view, seed)).toBe(crc32cPortable(view, seed));
      }),
    );
  });

  it('a seed continues a previous crc', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), (a, b) => {
        const whole = crc32c(Buffer.concat([a, b]));
        expect(crc32c(Buffer.from(b), crc32c(Buffer.from(a)))).toBe(whole);
      }),
    );
  });

  it('handles a large buffer (1 MiB) and returns an unsigned 32-bit value', () => {
    const big = Buffer.alloc(1 << 20, 0xa5);
    const c = crc32c(big);
    expect(c).toBe(crc32cPortable(big));
    expect(c).toBeGreaterThanOrEqual(0);
    expect(c).toBeLessThanOrEqual(0xffffffff);
  });

  it('rejects bad arguments with clear errors', () => {
    expect(() => crc32c('abc' as unknown as Buffer)).toThrow(/Buffer or Uint8Array/);
    expect(() => crc32c(Buffer.from('a'), -1)).toThrow(RangeError);
    expect(() => crc32c(Buffer.from('a'), 2 ** 32)).toThrow(/32-bit/);
  });
});
