// The run summary: the verdict, the totals by fault kind and the README table.
import { describe, expect, it } from 'vitest';
import { markdownTable, summarize, textReport, type RoundResult } from '../../../scripts/torture/summary.js';
import { tally } from '../../../scripts/torture/verify.js';
import { WriteLedger } from '../../../scripts/torture/ledger.js';

const round = (over: Partial<RoundResult>): RoundResult => ({
  round: 1, fault: 'kill-primary', primaryBefore: 'node1', primaryAfter: 'node2', acked: 100, checked: 180, lost: 0, torn: 0,
  anomalies: 0, unackedVisible: 0, forced: false, splitBrain: false, disksIdentical: true, lostExamples: [], durationMs: 1000, ...over,
});

describe('summarize', () => {
  it('passes only with no loss, no anomaly, identical disks and no failed round', () => {
    expect(summarize('loopback', 1, [round({})], 5).ok).toBe(true);
    expect(summarize('loopback', 1, [round({ lost: 1 })], 5).ok).toBe(false);
    expect(summarize('loopback', 1, [round({ anomalies: 1 })], 5).ok).toBe(false);
    expect(summarize('loopback', 1, [round({ disksIdentical: false })], 5).ok).toBe(false);
    expect(summarize('loopback', 1, [round({ error: 'timed out' })], 5).ok).toBe(false);
    expect(summarize('loopback', 1, [], 5).ok).toBe(false);
    // torn blocks where a write was in doubt are allowed
    expect(summarize('loopback', 1, [round({ torn: 2 })], 5).ok).toBe(true);
  });

  it('adds up by kind; a skipped round is not counted as a fault injected', () => {
    const s = summarize('lab', 7, [
      round({ round: 1 }),
      round({ round: 2, fault: 'crash-both', forced: true, lost: 0 }),
      round({ round: 3 }),
      round({ round: 4, fault: 'netem', skipped: 'netem skipped: no sch_netem' }),
    ], 10);
    expect(s.faultsInjected).toEqual({ 'kill-primary': 2, 'crash-both': 1 });
    expect(s.byKind['kill-primary']).toMatchObject({ rounds: 2, acked: 200, checked: 360 });
    expect(s.byKind.netem).toMatchObject({ rounds: 1, skipped: 1 });
    expect(s.forcedPromotions).toBe(1);
    expect(s.ackedWrites).toBe(400);
    const table = markdownTable(s);
    expect(table).toContain('| kill-primary: kill -9 Primary, promote Secondary | 2 | 200 | 360 | 0 | 0 | 0 | 0 |');
    expect(table).toContain('| netem: tc netem delay + loss on the link | 1 (1 skipped) |');
    expect(table).toContain('| **total** | **4** | **400** |');
  });

  it('the text report names the losses and ends in FAIL', () => {
    const text = textReport(summarize('loopback', 3, [round({ lost: 2, lostExamples: ['block 1: acknowledged v2, read zeros'] })], 5));
    expect(text).toContain('lost: 2');
    expect(text).toContain('block 1: acknowledged v2, read zeros');
    expect(text.trim().endsWith('FAIL')).toBe(true);
  });
});

describe('tally', () => {
  it('counts checked blocks, losses (with the write that was lost) and unacked-but-visible reads', () => {
    const l = new WriteLedger(1);
    l.acknowledge(0, l.issue(0));
    l.acknowledge(1, l.issue(1));
    l.unknownFate(1, l.issue(1));
    const o = tally([
      { kind: 'lost', block: 0, acked: 1, found: 'zeros' },
      { kind: 'ok', version: 2, unackedVisible: true },
      { kind: 'ok', version: 0, unackedVisible: false },
    ], l, [0, 1, 2]);
    expect(o).toMatchObject({ checked: 2, lost: 1, lostWrites: ['0@v1'], unackedVisible: 1, examples: ['block 0: acknowledged v1, read zeros'] });
  });
});
