import { describe, expect, it } from 'vitest';
import { UUID_NEW_BM_OFFSET, type GenerationUuids } from '../../../src/replication/generation-uuids.js';
import { decideSync, formatCompareLog, type SyncDecision, type SyncInputs } from '../../../src/replication/sync-decision.js';
import type { Role } from '../../../src/replication/drbd-states.js';

const T = (current: bigint, bitmap: bigint, h1: bigint, h2: bigint): GenerationUuids => ({ current, bitmap, history: [h1, h2] });
const side = (uuids: GenerationUuids, extra: Partial<SyncInputs> = {}): SyncInputs => ({
  uuids,
  crashedPrimary: false,
  role: 'Secondary',
  disk: 'UpToDate',
  dirtyBits: 0,
  ...extra,
});

// Readable generations; bit 0 clear unless a row sets it on purpose.
const A = 0xaaaa_0000_0000_0000n;
const B = 0xbbbb_0000_0000_0000n;
const C = 0xcccc_0000_0000_0000n;
const D = 0xdddd_0000_0000_0000n;
const E = 0xeeee_0000_0000_0000n;
const F = 0xffff_0000_0000_0000n;
const G = 0x1111_0000_0000_0000n;
const H = 0x2222_0000_0000_0000n;

interface Row {
  name: string;
  local: SyncInputs;
  peer: SyncInputs;
  resolveConflicts?: boolean;
  expect: { kind: SyncDecision['kind']; code: number; rule: number };
}

// One row per drbd_uuid_compare() rule (reference §1.4), in DRBD's order.
const rows: Row[] = [
  { name: 'rule 10: both just created → no sync, initial sync by hand', local: side(T(4n, 0n, 0n, 0n)), peer: side(T(4n, 0n, 0n, 0n)), expect: { kind: 'both-just-created', code: 0, rule: 10 } },
  { name: 'rule 10: the role bit is masked (5 reads as 4)', local: side(T(5n, 0n, 0n, 0n)), peer: side(T(4n, 0n, 0n, 0n)), expect: { kind: 'both-just-created', code: 0, rule: 10 } },
  { name: 'rule 20: I am just created, peer has data → full sync as target', local: side(T(4n, 0n, 0n, 0n)), peer: side(T(A | 1n, 4n, 0n, 0n)), expect: { kind: 'full-sync', code: -2, rule: 20 } },
  { name: 'rule 20: current 0 counts as just created', local: side(T(0n, 0n, 0n, 0n)), peer: side(T(A, 0n, 0n, 0n)), expect: { kind: 'full-sync', code: -2, rule: 20 } },
  { name: 'rule 30: peer just created → full sync as source (primary --force on a fresh pair)', local: side(T(A | 1n, 4n, 0n, 0n)), peer: side(T(4n, 0n, 0n, 0n)), expect: { kind: 'full-sync', code: 2, rule: 30 } },
  { name: 'rule 34: was SyncSource, missed the resync-finished event', local: side(T(A, B, C, D)), peer: side(T(A, 0n, B, C)), expect: { kind: 'bitmap-resync', code: 1, rule: 34 } },
  { name: 'rule 36: was SyncSource, peer failed to write sync_uuid', local: side(T(A, B, C, D)), peer: side(T(A, 0n, E, F)), expect: { kind: 'bitmap-resync', code: 1, rule: 36 } },
  { name: 'rule 35: was SyncTarget, peer missed the resync-finished event', local: side(T(A, 0n, B, C)), peer: side(T(A, B, C, D)), expect: { kind: 'bitmap-resync', code: -1, rule: 35 } },
  { name: 'rule 37: was SyncTarget, failed to write sync_uuid', local: side(T(A, 0n, E, F)), peer: side(T(A, B, C, D)), expect: { kind: 'bitmap-resync', code: -1, rule: 37 } },
  { name: 'rule 40: same generation, nobody crashed as Primary → link hiccup, no sync', local: side(T(A, 0n, B, 0n)), peer: side(T(A | 1n, 0n, B, 0n)), expect: { kind: 'in-sync', code: 0, rule: 40 } },
  { name: 'rule 40: I crashed as Primary, both Secondary now → I am SyncSource', local: side(T(A, 0n, B, 0n), { crashedPrimary: true }), peer: side(T(A, 0n, B, 0n)), expect: { kind: 'bitmap-resync', code: 1, rule: 40 } },
  { name: 'rule 40: peer crashed as Primary → I am SyncTarget', local: side(T(A, 0n, B, 0n)), peer: side(T(A, 0n, B, 0n), { crashedPrimary: true }), expect: { kind: 'bitmap-resync', code: -1, rule: 40 } },
  { name: 'rule 40: both crashed as Primary, I hold RESOLVE_CONFLICTS → I lose', local: side(T(A, 0n, 0n, 0n), { crashedPrimary: true }), peer: side(T(A, 0n, 0n, 0n), { crashedPrimary: true }), resolveConflicts: true, expect: { kind: 'bitmap-resync', code: -1, rule: 40 } },
  { name: 'rule 40: both crashed as Primary, peer holds RESOLVE_CONFLICTS → I win', local: side(T(A, 0n, 0n, 0n), { crashedPrimary: true }), peer: side(T(A, 0n, 0n, 0n), { crashedPrimary: true }), resolveConflicts: false, expect: { kind: 'bitmap-resync', code: 1, rule: 40 } },
  { name: 'rule 41: crashed flag but I am Primary now (IO was frozen, no rotation) → source', local: side(T(A | 1n, 0n, 0n, 0n), { role: 'Primary' }), peer: side(T(A, 0n, 0n, 0n), { crashedPrimary: true }), expect: { kind: 'bitmap-resync', code: 1, rule: 41 } },
  { name: 'rule 41: crashed flag and the peer is Primary now → target', local: side(T(A, 0n, 0n, 0n), { crashedPrimary: true }), peer: side(T(A | 1n, 0n, 0n, 0n), { role: 'Primary' }), expect: { kind: 'bitmap-resync', code: -1, rule: 41 } },
  { name: 'rule 41: crashed flag and both Primary → cannot resolve (−100)', local: side(T(A | 1n, 0n, 0n, 0n), { role: 'Primary', crashedPrimary: true }), peer: side(T(A | 1n, 0n, 0n, 0n), { role: 'Primary' }), expect: { kind: 'split-brain', code: -100, rule: 41 } },
  { name: 'rule 50: peer wrote on top of my generation (my current = its bitmap) → target', local: side(T(A, 0n, B, 0n)), peer: side(T(C | 1n, A | 1n, B, 0n)), expect: { kind: 'bitmap-resync', code: -1, rule: 50 } },
  { name: 'rule 51: peer lost its last P_SYNC_UUID (my current = its h1, its bitmap = h1 + offset) → target', local: side(T(A, 0n, 0n, 0n)), peer: side(T(C, A + UUID_NEW_BM_OFFSET, A, D)), expect: { kind: 'bitmap-resync', code: -1, rule: 51 } },
  { name: 'rule 60: my current is in the peer history → full sync as target', local: side(T(A, 0n, 0n, 0n)), peer: side(T(C, D, E, A)), expect: { kind: 'full-sync', code: -2, rule: 60 } },
  { name: 'rule 70: I wrote on top of the peer generation (my bitmap = its current) → source', local: side(T(C | 1n, A | 1n, B, 0n)), peer: side(T(A, 0n, B, 0n)), expect: { kind: 'bitmap-resync', code: 1, rule: 70 } },
  { name: 'rule 71: my last P_SYNC_UUID did not get through → source', local: side(T(C, A + UUID_NEW_BM_OFFSET, A, D)), peer: side(T(A, 0n, 0n, 0n)), expect: { kind: 'bitmap-resync', code: 1, rule: 71 } },
  { name: 'rule 80: the peer current is in my history → full sync as source', local: side(T(C, D, E, A)), peer: side(T(A, 0n, 0n, 0n)), expect: { kind: 'full-sync', code: 2, rule: 80 } },
  { name: 'rule 90: both wrote on top of a common generation → split brain, auto-recover (+100)', local: side(T(C | 1n, A | 1n, B, 0n)), peer: side(T(D, A, B, 0n)), expect: { kind: 'split-brain', code: 100, rule: 90 } },
  { name: 'rule 100: only a common ancestor in history → split brain, disconnect (−100)', local: side(T(C, D, G, B)), peer: side(T(E, F, H, B)), expect: { kind: 'split-brain', code: -100, rule: 100 } },
  { name: 'rule 100: DRBD compares history slots as they are, so two empty h2 slots also match', local: side(T(C, D, G, 0n)), peer: side(T(E, F, H, 0n)), expect: { kind: 'split-brain', code: -100, rule: 100 } },
  { name: 'unrelated data: nothing in common → −1000 (DRBD logs rule 100)', local: side(T(C, D, G, A)), peer: side(T(E, F, H, B)), expect: { kind: 'unrelated', code: -1000, rule: 100 } },
];

function mirrorCode(code: number): number {
  return Math.abs(code) === 1 || Math.abs(code) === 2 ? -code : code;
}

describe('drbd_uuid_compare decision table', () => {
  for (const row of rows) {
    it(row.name, () => {
      const d = decideSync(row.local, row.peer, { resolveConflicts: row.resolveConflicts ?? false });
      expect({ kind: d.kind, code: d.code, rule: d.rule }).toEqual(row.expect);
      if (d.kind === 'bitmap-resync' || d.kind === 'full-sync') {
        expect(d.direction).toBe(d.code > 0 ? 'become-source' : 'become-target');
      }
    });
    it(`${row.name} — the peer decides the mirror image`, () => {
      const mine = decideSync(row.local, row.peer, { resolveConflicts: row.resolveConflicts ?? false });
      const theirs = decideSync(row.peer, row.local, { resolveConflicts: !(row.resolveConflicts ?? false) });
      expect(theirs.code).toBe(mirrorCode(mine.code));
    });
  }

  it('rule 34 hands back our corrected tuple (history shift, bitmap 0)', () => {
    const d = decideSync(side(T(A, B, C, D)), side(T(A, 0n, B, C)), { resolveConflicts: false });
    expect(d.kind === 'bitmap-resync' && d.corrected).toEqual({ local: T(A, 0n, B, C) });
  });
  it('rule 35 corrects our copy of the peer tuple', () => {
    const d = decideSync(side(T(A, 0n, B, C)), side(T(A, B, C, D)), { resolveConflicts: false });
    expect(d.kind === 'bitmap-resync' && d.corrected).toEqual({ peer: T(A, 0n, B, C) });
  });
  it('rule 51 undoes the peer\'s sync-UUID step on our copy', () => {
    const d = decideSync(side(T(A, 0n, 0n, 0n)), side(T(C, A + UUID_NEW_BM_OFFSET, A, D)), { resolveConflicts: false });
    expect(d.kind === 'bitmap-resync' && d.corrected).toEqual({ peer: T(C, A, D, D) });
    expect(d.kind === 'bitmap-resync' && d.note).toBe('Lost last syncUUID packet, corrected:');
  });
  it('rule 71 undoes our own sync-UUID step', () => {
    const d = decideSync(side(T(C, A + UUID_NEW_BM_OFFSET, A, D)), side(T(A, 0n, 0n, 0n)), { resolveConflicts: false });
    expect(d.kind === 'bitmap-resync' && d.corrected).toEqual({ local: T(C, A, D, D) });
  });
  it('the log line reads like DRBD', () => {
    const d = decideSync(side(T(A, 0n, B, 0n)), side(T(C | 1n, A | 1n, B, 0n)), { resolveConflicts: false });
    expect(formatCompareLog(d)).toBe('uuid_compare()=-1 by rule 50');
  });
});

describe('crashed primary (reference §1.5)', () => {
  it('neither side rotated: the crashed Primary becomes SyncSource (rule 40)', () => {
    const d = decideSync(side(T(A, 0n, B, 0n), { crashedPrimary: true }), side(T(A, 0n, B, 0n)), { resolveConflicts: false });
    expect([d.code, d.rule]).toEqual([1, 40]);
  });
  it('the survivor was promoted meanwhile (rotated): the crashed node becomes SyncTarget (rule 50)', () => {
    const survivor: Role = 'Primary';
    const d = decideSync(side(T(A, 0n, B, 0n), { crashedPrimary: true }), side(T(C | 1n, A, B, 0n), { role: survivor }), { resolveConflicts: false });
    expect([d.code, d.rule]).toEqual([-1, 50]);
  });
});
