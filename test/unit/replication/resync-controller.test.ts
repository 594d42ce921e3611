// DRBD's dynamic resync controller (drbd_rs_controller) and c-min-rate throttle
// (drbd_rs_c_min_rate_throttle), from ../shared/reference/drbd.md §4.4, driven step by step
// against a simulated link: what is requested arrives `rttSteps` later, at most `bandwidth` per step.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONTROLLER_STEP_MS, ResyncController, minRateThrottled, type ControllerSettings } from '../../../src/replication/resync-controller.js';

const KiB = 1024;
const MiB = 1024 * KiB;
// DRBD 8.4's defaults: c-plan-ahead 20 (2 s), c-fill-target 100 sectors, c-delay-target 10 (1 s), c-max-rate 100M
const DEFAULTS: ControllerSettings = { planAheadMs: 2000, fillTargetBytes: 100 * 512, delayTargetMs: 1000, maxRateBytesPerSec: 100 * MiB, resyncRateBytesPerSec: 250 * KiB };

function simulate(s: ControllerSettings, link: { rttSteps: number; bandwidth: number }, steps: number): { inFlight: number[]; requested: number[] } {
  const c = new ResyncController(s);
  const pipe: number[] = new Array(link.rttSteps).fill(0); // bytes arriving in 1..rtt steps
  let inFlight = 0;
  let backlog = 0; // requested, waiting for bandwidth
  let arrived = 0;
  const out = { inFlight: [] as number[], requested: [] as number[] };
  for (let t = 0; t < steps; t++) {
    const req = c.step(arrived, inFlight);
    out.requested.push(req);
    inFlight += req;
    backlog += req;
    const sent = Math.min(backlog, link.bandwidth);
    backlog -= sent;
    pipe.push(sent);
    arrived = pipe.shift()!;
    inFlight -= arrived;
    out.inFlight.push(inFlight);
  }
  return out;
}

describe('resync controller (c-plan-ahead > 0)', () => {
  it('the first step requests resync-rate for one step', () => {
    const c = new ResyncController({ ...DEFAULTS, resyncRateBytesPerSec: 10 * MiB });
    expect(c.step(0, 0)).toBeCloseTo((10 * MiB * CONTROLLER_STEP_MS) / 1000, -1);
  });

  it('c-fill-target: the bytes in flight settle at the target (a LAN: replies within a step)', () => {
    const s = { ...DEFAULTS, fillTargetBytes: 4 * MiB };
    const { inFlight } = simulate(s, { rttSteps: 1, bandwidth: Infinity }, 300);
    for (const x of inFlight.slice(-50)) expect(Math.abs(x - 4 * MiB)).toBeLessThan(0.1 * 4 * MiB);
  });

  it('c-delay-target (fill-target 0): in flight settles at what arrives in the delay target', () => {
    const bandwidth = 2 * MiB; // per step: 20 MiB/s
    const s = { ...DEFAULTS, fillTargetBytes: 0, delayTargetMs: 500 };
    const { inFlight } = simulate(s, { rttSteps: 1, bandwidth }, 400);
    const want = bandwidth * (500 / CONTROLLER_STEP_MS);
    for (const x of inFlight.slice(-50)) expect(Math.abs(x - want)).toBeLessThan(0.15 * want);
  });

  it('a larger c-fill-target resyncs faster over the same link (why DRBD users raise it)', () => {
    const link = { rttSteps: 3, bandwidth: Infinity };
    const total = (fill: number) => simulate({ ...DEFAULTS, fillTargetBytes: fill }, link, 200).requested.reduce((a, b) => a + b, 0);
    expect(total(8 * MiB)).toBeGreaterThan(3 * total(1 * MiB));
  });

  it('never requests a negative amount nor more than c-max-rate per step', () => {
    fc.assert(
      fc.property(
        fc.record({ planAheadMs: fc.integer({ min: 100, max: 30_000 }), fillTargetBytes: fc.integer({ min: 0, max: 64 * MiB }), delayTargetMs: fc.integer({ min: 100, max: 10_000 }), maxRateBytesPerSec: fc.integer({ min: 250 * KiB, max: 4 * 1024 * MiB }), resyncRateBytesPerSec: fc.integer({ min: 1, max: 4 * 1024 * MiB }) }),
        fc.array(fc.tuple(fc.nat(64 * MiB), fc.nat(256 * MiB)), { maxLength: 100 }),
        (s, seq) => {
          const c = new ResyncController(s);
          for (const [bytesIn, inFlight] of seq) {
            const r = c.step(bytesIn, inFlight);
            expect(r).toBeGreaterThanOrEqual(0);
            expect(r).toBeLessThanOrEqual((s.maxRateBytesPerSec * CONTROLLER_STEP_MS) / 1000);
          }
        },
      ),
    );
  });

  it('c-max-rate caps the throughput however large the fill target', () => {
    const s = { ...DEFAULTS, fillTargetBytes: 512 * MiB, maxRateBytesPerSec: 10 * MiB };
    const { requested } = simulate(s, { rttSteps: 1, bandwidth: Infinity }, 100);
    expect(Math.max(...requested)).toBeLessThanOrEqual(1 * MiB);
    expect(requested.slice(-10).every((r) => r === 1 * MiB)).toBe(true);
  });
});

describe('c-min-rate throttle', () => {
  it.each([
    // min rate, app IO since last check, recent resync rate, throttled
    [250 * KiB, 1 * MiB, 10 * MiB, true],
    [250 * KiB, 1 * MiB, 100 * KiB, false], // already below c-min-rate: resync keeps going
    [250 * KiB, 64 * 512, 10 * MiB, false], // up to 64 sectors of IO is not application IO
    [250 * KiB, 0, 10 * MiB, false],
    [0, 1 * MiB, 10 * MiB, false], // 0 disables the throttle
  ])('c-min-rate %i, app IO %i, resync %i B/s -> %s', (min, io, rate, throttled) => {
    expect(minRateThrottled(min, io, rate)).toBe(throttled);
  });
});
