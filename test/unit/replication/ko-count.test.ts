// ko-count × timeout (drbd.conf(5) 8.4): the same write pending for ko-count ticks expels the peer.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KoWatch } from '../../../src/replication/ko-count.js';

describe('KoWatch', () => {
  it('expels when one write stays pending for ko-count timeouts', () => {
    const w = new KoWatch(3);
    expect(w.tick(7)).toBe('ok'); // first seen
    expect(w.tick(7)).toBe('ok'); // 1 timeout
    expect(w.tick(7)).toBe('ok'); // 2
    expect(w.tick(7)).toBe('expel'); // 3 = ko-count
  });
  it('a peer that keeps completing writes is never expelled, however busy', () => {
    const w = new KoWatch(2);
    for (let seq = 1; seq < 100; seq++) expect(w.tick(seq)).toBe('ok');
  });
  it('nothing pending resets the count', () => {
    const w = new KoWatch(2);
    w.tick(5);
    w.tick(5);
    expect(w.tick(undefined)).toBe('ok');
    expect(w.tick(5)).toBe('ok');
    expect(w.tick(5)).toBe('ok');
    expect(w.tick(5)).toBe('expel');
  });
  it('ko-count 0 never expels (DRBD 8.3 default: disabled)', () => {
    const w = new KoWatch(0);
    expect(w.enabled).toBe(false);
    for (let i = 0; i < 50; i++) expect(w.tick(1)).toBe('ok');
  });
  it('property: expels exactly at the ko-count-th consecutive tick on the same write', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 60 }), (ko, seqs) => {
      const w = new KoWatch(ko);
      let prev: number | undefined;
      let run = 0;
      for (const s of seqs) {
        run = s === prev ? run + 1 : 0;
        prev = s;
        expect(w.tick(s)).toBe(run >= ko ? 'expel' : 'ok');
      }
    }));
  });
});
