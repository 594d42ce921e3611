import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { RangeLock } from '../../../src/replication/range-lock.js';

describe('RangeLock', () => {
  it('non-overlapping ranges are granted at once', () => {
    const l = new RangeLock();
    expect(typeof l.acquire(0, 4096)).toBe('function');
    expect(typeof l.acquire(4096, 4096)).toBe('function');
  });

  it('overlapping ranges are granted in request order', async () => {
    const l = new RangeLock();
    const order: number[] = [];
    const first = l.acquire(0, 8192) as () => void;
    const second = l.acquire(4096, 4096) as Promise<() => void>;
    const third = l.acquire(6000, 10) as Promise<() => void>;
    expect(second).toBeInstanceOf(Promise);
    void second.then((r) => { order.push(2); r(); });
    void third.then((r) => { order.push(3); r(); });
    order.push(1);
    first();
    await l.drain();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual([1, 2, 3]);
  });

  it('property: no two overlapping holders at the same time', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.nat(64), fc.integer({ min: 1, max: 16 })), { minLength: 1, maxLength: 30 }), async (reqs) => {
      const l = new RangeLock();
      const held = new Set<[number, number]>();
      await Promise.all(reqs.map(async ([o, n]) => {
        const h = l.acquire(o, n);
        const release = typeof h === 'function' ? h : await h;
        for (const [a, b] of held) if (a < o + n && o < a + b) throw new Error('overlap held twice');
        const me: [number, number] = [o, n];
        held.add(me);
        await new Promise((r) => setImmediate(r));
        held.delete(me);
        release();
      }));
      expect(l.size).toBe(0);
    }), { numRuns: 50 });
  });

  it('drain waits for every range held when it was called, not for later ones; a second release is harmless', async () => {
    const l = new RangeLock();
    const a = l.acquire(0, 4096) as () => void;
    const b = l.acquire(8192, 4096) as () => void;
    let drained = false;
    const d = l.drain().then(() => (drained = true));
    const later = l.acquire(20000, 10) as () => void;
    a();
    a();
    await Promise.resolve();
    expect(drained).toBe(false);
    b();
    await d;
    expect(drained).toBe(true);
    expect(l.size).toBe(1);
    later();
    expect(l.size).toBe(0);
    await expect(l.drain()).resolves.toBeUndefined();
  });

  it('a waiter blocked by two holders gets the range only after both released', async () => {
    const l = new RangeLock();
    const a = l.acquire(0, 4096) as () => void;
    const b = l.acquire(4096, 4096) as () => void;
    let got = false;
    const w = (l.acquire(0, 8192) as Promise<() => void>).then((r) => {
      got = true;
      return r;
    });
    b();
    await new Promise((r) => setImmediate(r));
    expect(got).toBe(false);
    a();
    (await w)();
    expect(got).toBe(true);
    expect(l.size).toBe(0);
  });
});
