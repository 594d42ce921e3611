// The resource's state: the rules every transition applies (DRBD's sanitize_state) and the
// metadata flags DRBD recomputes from the state on every change (drbd_state.c ~1430).
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { ResourceState, applyStateToFlags, type StateFields } from '../../../src/replication/resource-state.js';
import type { ResourceMetadata } from '../../../src/replication/resource-metadata.js';

type Flags = ResourceMetadata['flags'];

function observed(): { state: ResourceState; seen: [StateFields, StateFields][] } {
  const state = new ResourceState(pino({ level: 'silent' }));
  const seen: [StateFields, StateFields][] = [];
  state.observe((before, after) => seen.push([before, after]));
  return { state, seen };
}

describe('ResourceState transitions', () => {
  it('starts as a Secondary without a disk, StandAlone', () => {
    const { state } = observed();
    expect(state.snapshot()).toEqual({ role: 'Secondary', peerRole: 'Unknown', disk: 'Diskless', peerDisk: 'DUnknown', cs: 'StandAlone' });
  });

  it('a connected peer role and disk are forgotten when the connection goes; a known-bad peer disk is kept', () => {
    const table: { peerDisk: StateFields['peerDisk']; after: StateFields['peerDisk'] }[] = [
      { peerDisk: 'UpToDate', after: 'DUnknown' },
      { peerDisk: 'Consistent', after: 'DUnknown' },
      { peerDisk: 'Diskless', after: 'DUnknown' },
      { peerDisk: 'Outdated', after: 'Outdated' },
      { peerDisk: 'Inconsistent', after: 'Inconsistent' },
    ];
    for (const row of table) {
      const { state } = observed();
      state.change({ cs: 'Connected', peerRole: 'Primary', peerDisk: row.peerDisk });
      expect(state.peerRole).toBe('Primary');
      state.change({ cs: 'NetworkFailure' });
      expect({ peerDisk: row.peerDisk, peerRole: state.peerRole, after: state.peerDisk }).toEqual({ peerDisk: row.peerDisk, peerRole: 'Unknown', after: row.after });
    }
  });

  it('the observer sees each change once with the states before and after, and nothing for a no-op', () => {
    const { state, seen } = observed();
    state.change({ disk: 'UpToDate' });
    state.change({ disk: 'UpToDate' });
    expect(seen).toHaveLength(1);
    expect(seen[0]![0].disk).toBe('Diskless');
    expect(seen[0]![1].disk).toBe('UpToDate');
  });

  it('a quiet role switch is not a transition, and a later change to the same role reports nothing', () => {
    const { state, seen } = observed();
    state.setRoleQuietly('Primary');
    state.change({ role: 'Primary' });
    expect(state.role).toBe('Primary');
    expect(seen).toHaveLength(0);
  });
});

describe('applyStateToFlags', () => {
  const base: StateFields = { role: 'Secondary', peerRole: 'Unknown', disk: 'UpToDate', peerDisk: 'DUnknown', cs: 'StandAlone' };
  const rows: { state: Partial<StateFields>; want: string[] }[] = [
    { state: {}, want: ['consistent', 'was-up-to-date'] },
    { state: { role: 'Primary' }, want: ['primary-ind', 'consistent', 'was-up-to-date'] },
    { state: { cs: 'Connected', peerDisk: 'UpToDate', peerRole: 'Secondary' }, want: ['connected-ind', 'consistent', 'was-up-to-date'] },
    // a diskless peer Primary writes through us: we hold its data as if we were Primary
    { state: { cs: 'Connected', peerRole: 'Primary', peerDisk: 'Diskless' }, want: ['primary-ind', 'connected-ind', 'consistent', 'was-up-to-date'] },
    { state: { disk: 'Outdated' }, want: ['consistent'] },
    { state: { disk: 'Inconsistent' }, want: [] },
    { state: { peerDisk: 'Outdated' }, want: ['consistent', 'was-up-to-date', 'peer-outdated'] },
  ];
  for (const row of rows) {
    it(`${JSON.stringify(row.state)} -> ${row.want.join(', ') || 'no flags'}`, () => {
      const md = { flags: new Set(['crashed-primary']) as Flags };
      applyStateToFlags(md, { ...base, ...row.state });
      const got = [...md.flags].filter((f) => f !== 'crashed-primary');
      expect(got.sort()).toEqual([...row.want].sort());
    });
  }

  it('clears crashed-primary only once both disks are UpToDate, and reports whether anything changed', () => {
    const md = { flags: new Set(['crashed-primary', 'consistent', 'was-up-to-date']) as Flags };
    expect(applyStateToFlags(md, base)).toBe(false);
    expect(md.flags.has('crashed-primary')).toBe(true);
    expect(applyStateToFlags(md, { ...base, cs: 'Connected', peerDisk: 'UpToDate' })).toBe(true);
    expect(md.flags.has('crashed-primary')).toBe(false);
  });

  it('leaves the flags of a failing or negotiating disk alone', () => {
    for (const disk of ['Failed', 'Negotiating'] as const) {
      const md = { flags: new Set(['consistent', 'was-up-to-date']) as Flags };
      expect(applyStateToFlags(md, { ...base, disk, role: 'Primary' })).toBe(false);
      expect([...md.flags].sort()).toEqual(['consistent', 'was-up-to-date']);
    }
  });
});
