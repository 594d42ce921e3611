import { describe, it, expect } from 'vitest';
import { ResyncPlanner, type Run } from '../../../src/replication/resync-planner.js';
import { RateLimiter } from '../../../src/replication/rate-limiter.js';

/** a model bitmap over 4 KiB blocks */
function model(blocks: number, dirty: number[]) {
  const set = new Set(dirty);
  const next = (from: number, max: number): Run | null => {
    for (let b = Math.ceil(from / 4096); b < blocks; b++) {
      if (set.has(b)) {
        let e = b;
        while (e + 1 < blocks && set.has(e + 1) && (e + 2 - b) * 4096 <= max) e++;
        return { offset: b * 4096, length: (e - b + 1) * 4096 };
      }
    }
    return null;
  };
  const clear = (r: Run) => { for (let b = r.offset / 4096; b < (r.offset + r.length) / 4096; b++) set.delete(b); };
  return { set, next, clear };
}

describe('ResyncPlanner with a fake clock', () => {
  it('requests exactly the dirty runs, bounded by in-flight and request size', () => {
    const m = model(1000, [1, 2, 3, 10, 500, 501, 999]);
    const p = new ResyncPlanner({ maxRequestBytes: 8192, maxInFlight: 2, rateBytesPerSec: 0 }, m.next, () => m.set.size, 0);
    const requested: Run[] = [];
    let now = 0;
    for (let i = 0; i < 100; i++) {
      const s = p.step(now);
      if (s.kind === 'done') break;
      if (s.kind === 'request') {
        expect(p.inFlightCount).toBeLessThanOrEqual(2);
        for (const r of s.runs) { requested.push(r); expect(r.length).toBeLessThanOrEqual(8192); }
        for (const r of s.runs) { m.clear(r); p.complete(r.offset); }
      }
      now += 1;
    }
    expect(requested.map((r) => r.offset / 4096)).toEqual([1, 3, 10, 500, 999]);
    expect(requested.reduce((a, r) => a + r.length, 0)).toBe(7 * 4096);
    expect(p.step(now).kind).toBe('done');
  });

  it('meters bytes by the rate: 1 MiB at 256 KiB/s takes about 4 s of fake time', () => {
    const m = model(256, Array.from({ length: 256 }, (_, i) => i));
    const p = new ResyncPlanner({ maxRequestBytes: 64 * 1024, maxInFlight: 100, rateBytesPerSec: 256 * 1024 }, m.next, () => m.set.size, 0);
    let now = 0;
    for (let guard = 0; guard < 10_000; guard++) {
      const s = p.step(now);
      if (s.kind === 'done') break;
      if (s.kind === 'request') for (const r of s.runs) { m.clear(r); p.complete(r.offset); }
      if (s.kind === 'wait') now += s.ms;
    }
    // the bucket starts full (one request), so 15 of 16 requests wait: 15 * 250 ms
    expect(now).toBeGreaterThanOrEqual(3700);
    expect(now).toBeLessThanOrEqual(4100);
  });

  it('picks up bits set behind the cursor (a write that failed to replicate)', () => {
    const m = model(100, [50]);
    const p = new ResyncPlanner({ maxRequestBytes: 4096, maxInFlight: 4, rateBytesPerSec: 0 }, m.next, () => m.set.size, 0);
    const s1 = p.step(0);
    expect(s1).toMatchObject({ kind: 'request', runs: [{ offset: 50 * 4096 }] });
    m.clear({ offset: 50 * 4096, length: 4096 });
    p.complete(50 * 4096);
    m.set.add(5);
    const s2 = p.step(1);
    expect(s2).toMatchObject({ kind: 'request', runs: [{ offset: 5 * 4096 }] });
  });

  it('pause holds requests', () => {
    const m = model(10, [1]);
    const p = new ResyncPlanner({ maxRequestBytes: 4096, maxInFlight: 4, rateBytesPerSec: 0 }, m.next, () => m.set.size, 0);
    p.setPaused(true);
    expect(p.step(0).kind).toBe('idle');
    p.setPaused(false);
    expect(p.step(0).kind).toBe('request');
  });
});

describe('RateLimiter', () => {
  it('unlimited when rate is 0', () => {
    const r = new RateLimiter(0, 1000, 0);
    expect(r.take(1e9, 0)).toBe(0);
  });
  it('sustains the configured rate over time', () => {
    const r = new RateLimiter(1000, 100, 0);
    let now = 0;
    let sent = 0;
    while (now < 10_000) {
      const w = r.take(100, now);
      if (w === 0) sent += 100;
      else now += w;
    }
    expect(sent).toBeGreaterThanOrEqual(9_900);
    expect(sent).toBeLessThanOrEqual(10_200);
  });
});

describe('ResyncPlanner in-flight bytes', () => {
  it('stops issuing at the byte budget even below the request count', () => {
    const m = model(1000, Array.from({ length: 1000 }, (_, i) => i));
    const p = new ResyncPlanner({ maxRequestBytes: 64 * 1024, maxInFlight: 100, maxInFlightBytes: 256 * 1024, rateBytesPerSec: 0 }, m.next, () => m.set.size, 0);
    const s = p.step(0);
    expect(s.kind).toBe('request');
    expect(s.kind === 'request' && s.runs.length).toBe(4);
    expect(p.step(0).kind).toBe('idle');
    if (s.kind === 'request') p.complete(s.runs[0]!.offset);
    const s2 = p.step(0);
    expect(s2.kind === 'request' && s2.runs.length).toBe(1);
  });
});
