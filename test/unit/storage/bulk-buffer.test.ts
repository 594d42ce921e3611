import { afterEach, describe, expect, it, vi } from 'vitest';
import { ALIGN_FROM_BYTES, IDLE_RELEASE_MS, POOLED_BYTES, allocPayload, drainPayloadPool, idleReleasePending, noteBulkReceived, pooledPayloads, recyclePayload } from '../../../src/storage/bulk-buffer.js';
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

describe('memory kept for bulk I/O is given back once it stops', () => {
  afterEach(() => {
    vi.useRealTimers();
    drainPayloadPool();
  });

  it(`${IDLE_RELEASE_MS} ms after the last 16 MiB of bulk data the payload pool is emptied and the addon releases its buffers; more data first postpones it`, () => {
    vi.useFakeTimers();
    const release = vi.spyOn(native, 'releaseIdleMemory');
    release.mockClear();
    recyclePayload(allocPayload(POOLED_BYTES));
    expect(pooledPayloads()).toBe(1);
    noteBulkReceived(16 << 20);
    expect(idleReleasePending()).toBe(true);
    vi.advanceTimersByTime(IDLE_RELEASE_MS - 100);
    noteBulkReceived(16 << 20); // still busy: the release waits for quiet again
    vi.advanceTimersByTime(IDLE_RELEASE_MS - 100);
    expect(release).not.toHaveBeenCalled();
    expect(pooledPayloads()).toBe(1);
    vi.advanceTimersByTime(200);
    expect(release).toHaveBeenCalledTimes(1);
    expect(pooledPayloads()).toBe(0);
    expect(idleReleasePending()).toBe(false);
    release.mockRestore();
  });

  it('a little bulk data (under 16 MiB) arms nothing', () => {
    vi.useFakeTimers();
    noteBulkReceived(4096);
    expect(idleReleasePending()).toBe(false);
  });
});
