// ocf:tandem:tandem's decisions from tables of what ocf:linbit:drbd does (drbd-utils scripts/drbd.ocf:
// drbd_status/drbd_monitor for the exit codes, drbd_update_master_score with the default
// adjust_master_score "0 10 1000 10000" for the scores).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_SCORES, OCF, monitorVerdict, parseScoreTable, promotionAction, type LocalState } from '../../../src/ocf/agent-decisions.js';
import { CONN_STATES, DISK_STATES, ROLES } from '../../../src/replication/drbd-states.js';
import { ocfStatusLines, shellQuote } from '../../../src/ocf/status-lines.js';

const st = (role: LocalState['role'], disk: LocalState['disk'], peerDisk: LocalState['peerDisk'], cs: LocalState['cs']): LocalState => ({ role, disk, peerDisk, cs });

describe('monitor exit code per state', () => {
  const rows: Array<[string, LocalState | null, number]> = [
    ['tandemd not running', null, OCF.NOT_RUNNING],
    ['down (Unconfigured)', st('Secondary', 'Diskless', 'DUnknown', 'StandAlone'), OCF.NOT_RUNNING],
    ['Secondary connected', st('Secondary', 'UpToDate', 'UpToDate', 'Connected'), OCF.SUCCESS],
    ['Secondary waiting for the peer', st('Secondary', 'UpToDate', 'DUnknown', 'WFConnection'), OCF.SUCCESS],
    ['Secondary SyncTarget', st('Secondary', 'Inconsistent', 'UpToDate', 'SyncTarget'), OCF.SUCCESS],
    ['Secondary StandAlone after split brain', st('Secondary', 'UpToDate', 'DUnknown', 'StandAlone'), OCF.SUCCESS],
    ['Secondary detached but connected (diskless, reads through the peer)', st('Secondary', 'Diskless', 'UpToDate', 'Connected'), OCF.SUCCESS],
    ['Primary connected', st('Primary', 'UpToDate', 'UpToDate', 'Connected'), OCF.RUNNING_PROMOTED],
    ['Primary alone (peer fenced)', st('Primary', 'UpToDate', 'Outdated', 'WFConnection'), OCF.RUNNING_PROMOTED],
    ['Primary SyncSource', st('Primary', 'UpToDate', 'Inconsistent', 'SyncSource'), OCF.RUNNING_PROMOTED],
    ['Primary diskless on a connected UpToDate peer', st('Primary', 'Diskless', 'UpToDate', 'Connected'), OCF.RUNNING_PROMOTED],
    ['Primary diskless, peer gone: no data at all', st('Primary', 'Diskless', 'DUnknown', 'WFConnection'), OCF.FAILED_PROMOTED],
    ['Primary on Inconsistent data without a peer', st('Primary', 'Inconsistent', 'DUnknown', 'StandAlone'), OCF.FAILED_PROMOTED],
  ];
  it.each(rows)('%s', (_what, s, rc) => {
    expect(monitorVerdict(s).rc).toBe(rc);
  });
});

describe('promotion score per state (default adjust_master_score 0 10 1000 10000)', () => {
  const rows: Array<[string, LocalState | null, 'set' | 'remove' | 'keep', number | undefined]> = [
    ['Primary UpToDate: as good as it gets', st('Primary', 'UpToDate', 'DUnknown', 'WFConnection'), 'set', 10000],
    ['Secondary UpToDate, peer UpToDate', st('Secondary', 'UpToDate', 'UpToDate', 'Connected'), 'set', 10000],
    ['Secondary UpToDate, peer Outdated (known)', st('Secondary', 'UpToDate', 'Outdated', 'WFConnection'), 'set', 10000],
    ['Secondary UpToDate SyncSource, peer Inconsistent', st('Secondary', 'UpToDate', 'Inconsistent', 'SyncSource'), 'set', 10000],
    ['Secondary UpToDate, peer unknown: local ok', st('Secondary', 'UpToDate', 'DUnknown', 'WFConnection'), 'set', 1000],
    ['SyncTarget: only the peer has UpToDate data', st('Secondary', 'Inconsistent', 'UpToDate', 'SyncTarget'), 'set', 10],
    ['Outdated, connected to an UpToDate peer', st('Secondary', 'Outdated', 'UpToDate', 'Connected'), 'set', 10],
    ['Consistent only: score 0 means removed', st('Secondary', 'Consistent', 'DUnknown', 'WFConnection'), 'remove', undefined],
    ['Outdated alone: never promote', st('Secondary', 'Outdated', 'DUnknown', 'WFConnection'), 'remove', undefined],
    ['Inconsistent alone: never promote', st('Secondary', 'Inconsistent', 'DUnknown', 'WFConnection'), 'remove', undefined],
    ['Inconsistent, peer Inconsistent (fresh pair)', st('Secondary', 'Inconsistent', 'Inconsistent', 'Connected'), 'remove', undefined],
    ['Attaching: transitional, keep', st('Secondary', 'Attaching', 'DUnknown', 'StandAlone'), 'keep', undefined],
    ['Negotiating: transitional, keep', st('Secondary', 'Negotiating', 'UpToDate', 'WFReportParams'), 'keep', undefined],
    ['down', st('Secondary', 'Diskless', 'DUnknown', 'StandAlone'), 'remove', undefined],
    ['tandemd not running', null, 'remove', undefined],
  ];
  it.each(rows)('%s', (_what, s, action, score) => {
    const a = promotionAction(s);
    expect(a.action).toBe(action);
    expect(a.action === 'set' ? a.score : undefined).toBe(score);
  });

  it('uses the configured table; a Consistent score above 0 is set', () => {
    const t = parseScoreTable('5 20 2000 20000');
    expect(promotionAction(st('Secondary', 'Consistent', 'DUnknown', 'WFConnection'), t)).toMatchObject({ action: 'set', score: 5 });
    expect(promotionAction(st('Primary', 'UpToDate', 'UpToDate', 'Connected'), t)).toMatchObject({ action: 'set', score: 20000 });
  });

  it('never scores stale data above data that is UpToDate (any state)', () => {
    const state = fc.record({
      role: fc.constantFrom(...ROLES.filter((r) => r !== 'Unknown')),
      disk: fc.constantFrom(...DISK_STATES),
      peerDisk: fc.constantFrom(...DISK_STATES),
      cs: fc.constantFrom(...CONN_STATES),
    });
    fc.assert(fc.property(state, (s) => {
      const a = promotionAction(s);
      const score = a.action === 'set' ? a.score : 0;
      if (s.disk === 'Outdated' || s.disk === 'Inconsistent' || s.disk === 'Failed' || s.disk === 'Diskless') {
        // only reaching the peer's UpToDate data over a live connection earns anything, and never more than onlyRemote
        expect(score).toBeLessThanOrEqual(DEFAULT_SCORES.onlyRemote);
      }
      if (s.disk === 'UpToDate') expect(score).toBeGreaterThanOrEqual(DEFAULT_SCORES.localOk);
    }));
  });
});

describe('adjust_master_score parsing', () => {
  it.each([
    ['0 10 1000', /four numbers, got 3/],
    ['0 10 x 1000', /'x' is not an integer/],
    ['0 100 10 1000', /must not decrease/],
  ])('refuses %s', (text, msg) => {
    expect(() => parseScoreTable(text)).toThrow(msg);
  });
  it('accepts extra spaces', () => {
    expect(parseScoreTable('  0  10 1000   10000 ')).toEqual(DEFAULT_SCORES);
  });
});

describe('ocf-status output (evaluated by the agent)', () => {
  it('prints shell assignments the agent can eval', () => {
    const out = ocfStatusLines(st('Secondary', 'UpToDate', 'DUnknown', 'WFConnection'), '0 10 1000 10000');
    expect(out).toContain('OCF_STATUS_RC=0\n');
    expect(out).toContain('PROMOTION_ACTION=set\nPROMOTION_SCORE=1000\n');
    expect(out).toContain("OCF_STATUS_REASON='Secondary (UpToDate/DUnknown, WFConnection)'");
  });
  it('quotes single quotes', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});
