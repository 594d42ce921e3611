// The acknowledged-write ledger: the latest acknowledged version or a later sent one passes,
// anything older or missing is a loss.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBlock, encodeBlock, type DecodedBlock } from '../../../scripts/torture/block-format.js';
import { WriteLedger } from '../../../scripts/torture/ledger.js';

const RUN = 77;
const stamp = (block: number, version: number): DecodedBlock => ({ kind: 'stamp', stamp: { runId: RUN, block, version } });

describe('WriteLedger', () => {
  // one block: v1 acked, v2 acked, v3 sent and lost in a crash (fate unknown)
  const ledger = new WriteLedger(RUN);
  for (const fate of ['ack', 'ack', 'unknown'] as const) {
    const v = ledger.issue(5);
    if (fate === 'ack') ledger.acknowledge(5, v);
    else ledger.unknownFate(5, v);
  }

  it.each<[string, DecodedBlock, string]>([
    ['the latest acknowledged version', stamp(5, 2), 'ok'],
    ['a later version sent but not acknowledged', stamp(5, 3), 'ok'],
    ['an older acknowledged version', stamp(5, 1), 'lost'],
    ['zeros', { kind: 'zero' }, 'lost'],
    ['a version never issued', stamp(5, 4), 'lost'],
    ["another block's data (misdirected write)", stamp(6, 2), 'lost'],
    ["another run's data", { kind: 'stamp', stamp: { runId: RUN + 1, block: 5, version: 2 } }, 'lost'],
    ['a torn block while a write was in doubt', { kind: 'corrupt', reason: 'checksum mismatch' }, 'torn'],
  ])('reading %s', (_what, got, verdict) => {
    expect(ledger.check(5, got).kind).toBe(verdict);
  });

  it('a block never acknowledged may be zeros or an unacknowledged version; garbage there is an anomaly', () => {
    const l = new WriteLedger(RUN);
    l.unknownFate(3, l.issue(3));
    expect(l.check(3, { kind: 'zero' })).toEqual({ kind: 'ok', version: 0, unackedVisible: false });
    expect(l.check(3, stamp(3, 1))).toEqual({ kind: 'ok', version: 1, unackedVisible: true });
    expect(l.check(4, stamp(4, 1)).kind).toBe('anomaly');
    expect(l.check(4, { kind: 'corrupt', reason: 'x' }).kind).toBe('anomaly');
  });

  it('a corrupt block with nothing in doubt is a loss, not a torn write', () => {
    const l = new WriteLedger(RUN);
    l.acknowledge(1, l.issue(1));
    expect(l.check(1, { kind: 'corrupt', reason: 'checksum mismatch' }).kind).toBe('lost');
  });

  it('an acknowledgement retires the versions in doubt below it', () => {
    const l = new WriteLedger(RUN);
    l.unknownFate(1, l.issue(1)); // v1 in doubt
    l.acknowledge(1, l.issue(1)); // v2 acknowledged
    expect(l.check(1, stamp(1, 1)).kind).toBe('lost');
    expect(l.check(1, stamp(1, 2)).kind).toBe('ok');
  });

  it('refuses a second write to a block in flight, and settling a write that is not in flight', () => {
    const l = new WriteLedger(RUN);
    const v = l.issue(1);
    expect(l.isBusy(1)).toBe(true);
    expect(() => l.issue(1)).toThrow(/already has version 1 in flight/);
    expect(() => l.acknowledge(1, v + 1)).toThrow(/not in flight/);
    l.acknowledge(1, v);
    expect(l.isBusy(1)).toBe(false);
    expect(l.acknowledged).toBe(1);
    expect(l.acknowledgedBlocks()).toEqual([1]);
  });

  // A model of a disk behind the protocol: an acknowledged write is always applied; a write in
  // doubt may or may not be. Whatever the disk ends up holding, the ledger accepts it; rolling any
  // block back to an older acknowledged version is always caught.
  it('accepts every outcome a correct device can produce, and catches every rollback', () => {
    const op = fc.record({ block: fc.nat({ max: 7 }), acked: fc.boolean(), applied: fc.boolean() });
    fc.assert(fc.property(fc.array(op, { maxLength: 80 }), fc.nat({ max: 7 }), (ops, victim) => {
      const l = new WriteLedger(RUN);
      const disk = new Map<number, Buffer>();
      const history = new Map<number, number[]>(); // acknowledged versions per block
      for (const o of ops) {
        const v = l.issue(o.block);
        if (o.acked || o.applied) disk.set(o.block, encodeBlock({ runId: RUN, block: o.block, version: v }));
        if (o.acked) {
          l.acknowledge(o.block, v);
          history.set(o.block, [...(history.get(o.block) ?? []), v]);
        } else l.unknownFate(o.block, v);
      }
      for (let b = 0; b < 8; b++) {
        const got = disk.get(b);
        expect(l.check(b, got ? decodeBlock(got) : { kind: 'zero' }).kind).toBe('ok');
      }
      const acked = history.get(victim) ?? [];
      if (acked.length >= 2) {
        const older = acked[acked.length - 2]!;
        expect(l.check(victim, decodeBlock(encodeBlock({ runId: RUN, block: victim, version: older }))).kind).toBe('lost');
      }
      if (acked.length >= 1) expect(l.check(victim, { kind: 'zero' }).kind).toBe('lost');
    }));
  });
});
