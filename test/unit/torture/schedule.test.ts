// The fault schedule is a function of the seed: a failing run is replayed exactly.
import { describe, expect, it } from 'vitest';
import { ALL_FAULTS, LOOPBACK_FAULTS, drawSchedule } from '../../../scripts/torture/schedule.js';
import { Prng } from '../../../scripts/torture/prng.js';

describe('drawSchedule', () => {
  it('is the same for the same seed and differs for another', () => {
    expect(drawSchedule(42, 20, LOOPBACK_FAULTS)).toEqual(drawSchedule(42, 20, LOOPBACK_FAULTS));
    expect(drawSchedule(43, 20, LOOPBACK_FAULTS)).not.toEqual(drawSchedule(42, 20, LOOPBACK_FAULTS));
  });

  it('draws only the kinds asked for, numbers the rounds and keeps timings in range', () => {
    const plans = drawSchedule(1, 200, ['kill-primary', 'crash-both']);
    expect(plans.map((p) => p.round)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(new Set(plans.map((p) => p.fault))).toEqual(new Set(['kill-primary', 'crash-both']));
    for (const p of plans) {
      expect(p.acksBefore).toBeGreaterThanOrEqual(200);
      expect(p.acksAfter).toBeGreaterThanOrEqual(100);
      // the crash-both window must stay well below ping-int + ping-timeout (2 s)
      expect(p.freezeMs).toBeLessThanOrEqual(300);
    }
  });

  it('reaches every kind over enough rounds', () => {
    expect(new Set(drawSchedule(5, 400, ALL_FAULTS).map((p) => p.fault))).toEqual(new Set(ALL_FAULTS));
  });

  it('refuses an empty list of kinds', () => {
    expect(() => drawSchedule(1, 1, [])).toThrow(/no fault kinds/);
  });
});

describe('Prng', () => {
  it('stays in range and is reproducible', () => {
    const a = new Prng(7);
    const b = new Prng(7);
    for (let i = 0; i < 1000; i++) {
      const x = a.int(3, 9);
      expect(x).toBe(b.int(3, 9));
      expect(x).toBeGreaterThanOrEqual(3);
      expect(x).toBeLessThanOrEqual(9);
    }
  });
});
