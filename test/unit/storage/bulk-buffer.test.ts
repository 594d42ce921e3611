import { afterEach, describe, expect, it } from 'vitest';
import { ALIGN_FROM_BYTES, POOLED_BYTES, allocPayload, drainPayloadPool, pooledPayloads, recyclePayload } from '../../../src/storage/bulk-buffer.js';
import { native } from '../../../src/storage/native.js';

afterEach(() => drainPayloadPool());

describe('bulk payload buffers', () => {
  it('large payloads are page-aligned (an O_DIRECT write needs no bounce copy); small ones are plain', () => {
    for (const n of [ALIGN_FROM_BYTES, POOLED_BYTES, 3 * POOLED_BYTES + 17]) {
      const b = allocPayload(n);
      expect(b.length).toBe(n);
      expect(native.alignPad(b, 4096)).toBe(0);
    }
    expect(allocPayload(100).length).toBe(100);
  });

  it('a recycled resync payload is handed out again instead of a fresh one', () => {
    const a = allocPayload(POOLED_BYTES);
    recyclePayload(a);
    recyclePayload(a); // twice: still one entry
    expect(pooledPayloads()).toBe(1);
    expect(allocPayload(POOLED_BYTES)).toBe(a);
    expect(pooledPayloads()).toBe(0);
  });

  it('only its own Buffers come back: never a view into another chunk, never another size', () => {
    const chunk = Buffer.alloc(POOLED_BYTES * 2);
    recyclePayload(chunk.subarray(0, POOLED_BYTES));
    recyclePayload(allocPayload(ALIGN_FROM_BYTES));
    recyclePayload(Buffer.alloc(POOLED_BYTES));
    expect(pooledPayloads()).toBe(0);
  });

  it('keeps a bounded number, and lets them all go when a resync ends', () => {
    const bufs = Array.from({ length: 40 }, () => allocPayload(POOLED_BYTES));
    for (const b of bufs) recyclePayload(b);
    expect(pooledPayloads()).toBeGreaterThan(0);
    expect(pooledPayloads()).toBeLessThan(40);
    drainPayloadPool();
    expect(pooledPayloads()).toBe(0);
  });
});
