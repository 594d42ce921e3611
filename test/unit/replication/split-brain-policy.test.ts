import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SPLIT_BRAIN_POLICIES,
  resolveSplitBrain,
  type AfterSb0pri,
  type AfterSb1pri,
  type AfterSb2pri,
  type SplitBrainInput,
  type SplitBrainOutcome,
} from '../../../src/replication/split-brain-policy.js';

// Bitmap UUIDs: bit 0 set = was Primary when the new generation started ("older primary").
const OLDER = 0xaaaa_0000_0000_0001n;
const YOUNGER = 0xaaaa_0000_0000_0000n;

interface Case {
  roles: ['Primary' | 'Secondary', 'Primary' | 'Secondary'];
  bits?: [bigint, bigint];
  changes?: [number, number];
  resolveConflicts?: boolean;
  canDemote?: boolean;
  localNode?: string;
  p0?: AfterSb0pri;
  p1?: AfterSb1pri;
  p2?: AfterSb2pri;
  code?: 100 | -100;
  alwaysAsbp?: boolean;
  discard?: [boolean, boolean];
}

function run(c: Case): SplitBrainOutcome {
  const input: SplitBrainInput = {
    code: c.code ?? 100,
    local: { role: c.roles[0], bitmapUuid: c.bits?.[0] ?? YOUNGER, changes: c.changes?.[0] ?? 10, discardMyData: c.discard?.[0] ?? false },
    peer: { role: c.roles[1], bitmapUuid: c.bits?.[1] ?? YOUNGER, changes: c.changes?.[1] ?? 10, discardMyData: c.discard?.[1] ?? false },
    policies: {
      afterSb0pri: c.p0 ?? DEFAULT_SPLIT_BRAIN_POLICIES.afterSb0pri,
      afterSb1pri: c.p1 ?? DEFAULT_SPLIT_BRAIN_POLICIES.afterSb1pri,
      afterSb2pri: c.p2 ?? DEFAULT_SPLIT_BRAIN_POLICIES.afterSb2pri,
      alwaysAsbp: c.alwaysAsbp ?? false,
    },
    localNode: c.localNode ?? 'alice',
    resolveConflicts: c.resolveConflicts ?? false,
    canDemote: c.canDemote ?? false,
  };
  return resolveSplitBrain(input);
}

const SS: Case['roles'] = ['Secondary', 'Secondary'];
const PS: Case['roles'] = ['Primary', 'Secondary'];
const SP: Case['roles'] = ['Secondary', 'Primary'];
const PP: Case['roles'] = ['Primary', 'Primary'];

const UNRESOLVED = ['initial-split-brain', 'split-brain'];
const RESOLVED = ['initial-split-brain'];

type Row = [string, Case, SplitBrainOutcome['outcome'], string[]];

// after-sb-0pri: no Primary at detection time (reference §2.2, d84 drbd_asb_recover_0p)
const zeroPri: Row[] = [
  ['disconnect', { roles: SS, p0: 'disconnect' }, 'disconnect', UNRESOLVED],
  ['discard-younger-primary: I am younger', { roles: SS, p0: 'discard-younger-primary', bits: [YOUNGER, OLDER] }, 'discard-local', RESOLVED],
  ['discard-younger-primary: peer is younger', { roles: SS, p0: 'discard-younger-primary', bits: [OLDER, YOUNGER] }, 'discard-peer', RESOLVED],
  ['discard-younger-primary: no decision → zero-changes (I have none)', { roles: SS, p0: 'discard-younger-primary', bits: [YOUNGER, YOUNGER], changes: [0, 5] }, 'discard-local', RESOLVED],
  ['discard-younger-primary: no decision → least-changes', { roles: SS, p0: 'discard-younger-primary', bits: [OLDER, OLDER], changes: [7, 3] }, 'discard-peer', RESOLVED],
  ['discard-older-primary: I am older', { roles: SS, p0: 'discard-older-primary', bits: [OLDER, YOUNGER] }, 'discard-local', RESOLVED],
  ['discard-older-primary: peer is older', { roles: SS, p0: 'discard-older-primary', bits: [YOUNGER, OLDER] }, 'discard-peer', RESOLVED],
  ['discard-older-primary: no decision → least-changes, I changed less', { roles: SS, p0: 'discard-older-primary', changes: [3, 7] }, 'discard-local', RESOLVED],
  ['discard-zero-changes: only the peer changed nothing', { roles: SS, p0: 'discard-zero-changes', changes: [5, 0] }, 'discard-peer', RESOLVED],
  ['discard-zero-changes: only I changed nothing', { roles: SS, p0: 'discard-zero-changes', changes: [0, 5] }, 'discard-local', RESOLVED],
  ['discard-zero-changes: neither changed, I hold RESOLVE_CONFLICTS', { roles: SS, p0: 'discard-zero-changes', changes: [0, 0], resolveConflicts: true }, 'discard-local', RESOLVED],
  ['discard-zero-changes: neither changed, peer holds RESOLVE_CONFLICTS', { roles: SS, p0: 'discard-zero-changes', changes: [0, 0], resolveConflicts: false }, 'discard-peer', RESOLVED],
  ['discard-zero-changes: both changed → disconnect', { roles: SS, p0: 'discard-zero-changes', changes: [5, 6] }, 'disconnect', UNRESOLVED],
  ['discard-least-changes: I changed less', { roles: SS, p0: 'discard-least-changes', changes: [3, 7] }, 'discard-local', RESOLVED],
  ['discard-least-changes: peer changed less', { roles: SS, p0: 'discard-least-changes', changes: [7, 3] }, 'discard-peer', RESOLVED],
  ['discard-least-changes: equal, I hold RESOLVE_CONFLICTS', { roles: SS, p0: 'discard-least-changes', changes: [4, 4], resolveConflicts: true }, 'discard-local', RESOLVED],
  ['discard-least-changes: equal, peer holds RESOLVE_CONFLICTS', { roles: SS, p0: 'discard-least-changes', changes: [4, 4] }, 'discard-peer', RESOLVED],
  ['discard-node-alice on alice', { roles: SS, p0: 'discard-node-alice', localNode: 'alice' }, 'discard-local', RESOLVED],
  ['discard-node-alice on bob', { roles: SS, p0: 'discard-node-alice', localNode: 'bob' }, 'discard-peer', RESOLVED],
];

// after-sb-1pri: one Primary (d84 drbd_asb_recover_1p); 0pri fallback is discard-least-changes unless set
const onePri: Row[] = [
  ['disconnect', { roles: PS, p1: 'disconnect', p0: 'discard-least-changes' }, 'disconnect', UNRESOLVED],
  ['consensus: 0pri discards the Secondary (me) → accepted', { roles: SP, p1: 'consensus', p0: 'discard-least-changes', changes: [3, 7] }, 'discard-local', RESOLVED],
  ['consensus: 0pri discards the Secondary (peer) → accepted', { roles: PS, p1: 'consensus', p0: 'discard-least-changes', changes: [7, 3] }, 'discard-peer', RESOLVED],
  ['consensus: 0pri would discard the Primary (me) → disconnect', { roles: PS, p1: 'consensus', p0: 'discard-least-changes', changes: [3, 7] }, 'disconnect', UNRESOLVED],
  ['consensus: 0pri would discard the Primary (peer) → disconnect', { roles: SP, p1: 'consensus', p0: 'discard-least-changes', changes: [7, 3] }, 'disconnect', UNRESOLVED],
  ['consensus: 0pri is disconnect → disconnect', { roles: PS, p1: 'consensus', p0: 'disconnect' }, 'disconnect', UNRESOLVED],
  ['violently-as0p: the Primary (me) loses anyway', { roles: PS, p1: 'violently-as0p', p0: 'discard-least-changes', changes: [3, 7] }, 'discard-local', RESOLVED],
  ['discard-secondary on the Primary', { roles: PS, p1: 'discard-secondary' }, 'discard-peer', RESOLVED],
  ['discard-secondary on the Secondary', { roles: SP, p1: 'discard-secondary' }, 'discard-local', RESOLVED],
  ['call-pri-lost-after-sb: the Primary (me) loses and can demote', { roles: PS, p1: 'call-pri-lost-after-sb', p0: 'discard-least-changes', changes: [3, 7], canDemote: true }, 'discard-local', RESOLVED],
  ['call-pri-lost-after-sb: the Primary (me) loses and cannot demote', { roles: PS, p1: 'call-pri-lost-after-sb', p0: 'discard-least-changes', changes: [3, 7], canDemote: false }, 'disconnect', ['initial-split-brain', 'pri-lost-after-sb', 'split-brain']],
  ['call-pri-lost-after-sb: the Secondary (me) loses: no demotion needed', { roles: SP, p1: 'call-pri-lost-after-sb', p0: 'discard-least-changes', changes: [3, 7] }, 'discard-local', RESOLVED],
  ['call-pri-lost-after-sb: the Primary (me) wins', { roles: PS, p1: 'call-pri-lost-after-sb', p0: 'discard-least-changes', changes: [7, 3] }, 'discard-peer', RESOLVED],
];

// after-sb-2pri: both Primary (d84 drbd_asb_recover_2p)
const twoPri: Row[] = [
  ['disconnect', { roles: PP, p2: 'disconnect', p0: 'discard-least-changes' }, 'disconnect', UNRESOLVED],
  ['violently-as0p: takes the 0pri result (younger primary discarded)', { roles: PP, p2: 'violently-as0p', p0: 'discard-younger-primary', bits: [OLDER, YOUNGER] }, 'discard-peer', RESOLVED],
  ['violently-as0p with 0pri disconnect → disconnect', { roles: PP, p2: 'violently-as0p', p0: 'disconnect' }, 'disconnect', UNRESOLVED],
  ['call-pri-lost-after-sb: I lose and can demote', { roles: PP, p2: 'call-pri-lost-after-sb', p0: 'discard-younger-primary', bits: [YOUNGER, OLDER], canDemote: true }, 'discard-local', RESOLVED],
  ['call-pri-lost-after-sb: I lose and cannot demote', { roles: PP, p2: 'call-pri-lost-after-sb', p0: 'discard-younger-primary', bits: [YOUNGER, OLDER] }, 'disconnect', ['initial-split-brain', 'pri-lost-after-sb', 'split-brain']],
  ['call-pri-lost-after-sb: I win', { roles: PP, p2: 'call-pri-lost-after-sb', p0: 'discard-younger-primary', bits: [OLDER, YOUNGER] }, 'discard-peer', RESOLVED],
];

describe.each([
  ['after-sb-0pri (0 primaries)', zeroPri],
  ['after-sb-1pri (1 primary)', onePri],
  ['after-sb-2pri (2 primaries)', twoPri],
] as const)('%s', (_title, table) => {
  it.each(table)('%s', (_name, c, outcome, handlers) => {
    const r = run(c);
    expect(r.outcome).toBe(outcome);
    expect(r.handlers).toEqual(handlers);
    expect(r.mode).toBe('bitmap');
  });
});

describe('log wording (DRBD drbd_sync_handshake)', () => {
  it('automatic resolution names the primaries and the direction', () => {
    expect(run({ roles: SS, p0: 'discard-least-changes', changes: [7, 3] }).reason).toBe(
      'Split-Brain detected, 0 primaries, automatically solved. Sync from this node',
    );
    expect(run({ roles: PS, p1: 'discard-secondary' }).reason).toBe('Split-Brain detected, 1 primaries, automatically solved. Sync from this node');
    expect(run({ roles: SP, p1: 'discard-secondary' }).reason).toBe('Split-Brain detected, 1 primaries, automatically solved. Sync from peer node');
  });
  it('unresolved: exactly DRBD\'s line', () => {
    const r = run({ roles: SS });
    expect(r.reason).toBe('Split-Brain detected but unresolved, dropping connection!');
    expect(r.how).toBe('unresolved');
  });
  it('younger/older without a decision warns before falling through', () => {
    const r = run({ roles: SS, p0: 'discard-older-primary', changes: [3, 7] });
    expect(r.log.slice(0, 2)).toEqual(['Discard younger/older primary did not find a decision', 'Using discard-least-changes instead']);
  });
  it('the loser that gives up the Primary role says so and is told to demote', () => {
    const r = run({ roles: PS, p1: 'call-pri-lost-after-sb', p0: 'discard-least-changes', changes: [3, 7], canDemote: true });
    expect(r.giveUpPrimary).toBe(true);
    expect(r.log).toContain('Successfully gave up primary role.');
  });
  it('a value that is not valid for the option is a configuration error and disconnects', () => {
    const r = run({ roles: PS, p1: 'discard-zero-changes' as unknown as AfterSb1pri });
    expect(r.outcome).toBe('disconnect');
    expect(r.log).toContain('Configuration error.');
    expect(run({ roles: SS, p0: 'consensus' as unknown as AfterSb0pri }).log).toContain('Configuration error.');
    expect(run({ roles: PP, p2: 'discard-secondary' as unknown as AfterSb2pri }).outcome).toBe('disconnect');
  });
});

describe('hg −100 (only a common ancestor)', () => {
  it('the policies are not consulted without always-asbp', () => {
    expect(run({ roles: SS, code: -100, p0: 'discard-least-changes', changes: [3, 7] }).outcome).toBe('disconnect');
  });
  it('with always-asbp they are, and the resync is a full one', () => {
    const r = run({ roles: SS, code: -100, alwaysAsbp: true, p0: 'discard-least-changes', changes: [3, 7] });
    expect([r.outcome, r.mode, r.how]).toEqual(['discard-local', 'full', 'automatic']);
  });
});

describe('manual recovery: connect --discard-my-data', () => {
  it('the victim becomes SyncTarget with a bitmap-based resync', () => {
    const r = run({ roles: SS, discard: [true, false] });
    expect([r.outcome, r.mode, r.how]).toEqual(['discard-local', 'bitmap', 'manual']);
    expect(r.reason).toBe('Split-Brain detected, manually solved. Sync from peer node');
    expect(r.handlers).toEqual(['initial-split-brain']);
  });
  it('the survivor sees the peer flag and becomes SyncSource', () => {
    const r = run({ roles: PS, discard: [false, true] });
    expect([r.outcome, r.reason]).toEqual(['discard-peer', 'Split-Brain detected, manually solved. Sync from this node']);
  });
  it('both sides discarding is no decision', () => {
    expect(run({ roles: SS, discard: [true, true] }).outcome).toBe('disconnect');
  });
  it('applies after a policy that did not decide, too', () => {
    expect(run({ roles: SS, p0: 'discard-zero-changes', changes: [5, 6], discard: [true, false] }).outcome).toBe('discard-local');
  });
  it('a policy decision wins over --discard-my-data', () => {
    expect(run({ roles: SS, p0: 'discard-least-changes', changes: [7, 3], discard: [true, false] }).outcome).toBe('discard-peer');
  });
});

describe('both nodes reach mirror decisions', () => {
  const all: Row[] = [...zeroPri, ...onePri, ...twoPri];
  it.each(all)('%s', (_name, c) => {
    if (c.p0?.startsWith('discard-node-') === true) return; // the mirror runs on the other host name; covered above
    const mine = run(c);
    const theirs = run({
      ...c,
      roles: [c.roles[1], c.roles[0]],
      bits: c.bits ? [c.bits[1], c.bits[0]] : undefined,
      changes: c.changes ? [c.changes[1], c.changes[0]] : undefined,
      resolveConflicts: !(c.resolveConflicts ?? false),
      // only the loser's ability to demote matters; give the peer the same
    });
    const mirror = { 'discard-local': 'discard-peer', 'discard-peer': 'discard-local', disconnect: 'disconnect' } as const;
    if (mine.outcome === 'disconnect' || theirs.outcome === 'disconnect') {
      // call-pri-lost-after-sb: whether the loser can demote is local, so only the loser may disconnect
      if (c.p1 === 'call-pri-lost-after-sb' || c.p2 === 'call-pri-lost-after-sb') return;
    }
    expect(theirs.outcome).toBe(mirror[mine.outcome]);
  });
});
