// The torture's self-describing blocks: what is written is recognised, anything else is not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BLOCK_SIZE, HEADER_SIZE, decodeBlock, encodeBlock } from '../../../scripts/torture/block-format.js';

const stampArb = fc.record({ runId: fc.nat({ max: 0xffffffff }), block: fc.nat({ max: 1 << 30 }), version: fc.nat({ max: Number.MAX_SAFE_INTEGER }) });

describe('torture block format', () => {
  it('round-trips run id, block number and version', () => {
    fc.assert(fc.property(stampArb, (s) => {
      expect(decodeBlock(encodeBlock(s))).toEqual({ kind: 'stamp', stamp: s });
    }));
  });

  it('is deterministic, and different versions of a block differ in the fill too', () => {
    const a = encodeBlock({ runId: 1, block: 2, version: 3 });
    expect(a.equals(encodeBlock({ runId: 1, block: 2, version: 3 }))).toBe(true);
    const b = encodeBlock({ runId: 1, block: 2, version: 4 });
    expect(a.subarray(HEADER_SIZE).equals(b.subarray(HEADER_SIZE))).toBe(false);
  });

  it('reads an all-zero block as never written', () => {
    expect(decodeBlock(Buffer.alloc(BLOCK_SIZE))).toEqual({ kind: 'zero' });
  });

  it('catches any single flipped byte anywhere in the block', () => {
    fc.assert(fc.property(stampArb, fc.nat({ max: BLOCK_SIZE - 1 }), fc.integer({ min: 1, max: 255 }), (s, at, x) => {
      const buf = encodeBlock(s);
      buf[at] = buf[at]! ^ x;
      expect(decodeBlock(buf).kind).toBe('corrupt');
    }));
  });

  it('names what is wrong: foreign data, torn block, wrong size', () => {
    const foreign = Buffer.alloc(BLOCK_SIZE, 0xab);
    expect(decodeBlock(foreign)).toEqual({ kind: 'corrupt', reason: 'no torture magic (foreign or torn data)' });
    // the first half of one version and the second half of another: a torn write
    const torn = Buffer.concat([encodeBlock({ runId: 9, block: 1, version: 1 }).subarray(0, 2048), encodeBlock({ runId: 9, block: 1, version: 2 }).subarray(2048)]);
    expect(decodeBlock(torn)).toMatchObject({ kind: 'corrupt', reason: expect.stringMatching(/^checksum mismatch/) });
    expect(decodeBlock(Buffer.alloc(512))).toEqual({ kind: 'corrupt', reason: 'block is 512 bytes, not 4096' });
  });
});
