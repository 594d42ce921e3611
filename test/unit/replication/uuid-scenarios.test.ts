// Whole histories of a two-node pair, driven through the real rotation functions and the real
// connect decision: the generation UUIDs must always point the resync from the node that started
// a new data generation to the one that did not, and call it split brain when both did.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  justCreatedUuids,
  maskRoleBit,
  onDemote,
  onPeerDataLost,
  onPromote,
  onResyncFinishedSource,
  onResyncFinishedTarget,
  onResyncStartSource,
  onResyncStartTarget,
  type GenerationUuids,
} from '../../../src/replication/generation-uuids.js';
import { decideHandshake, decideSync, type HandshakePolicies, type SyncInputs } from '../../../src/replication/sync-decision.js';

interface Node {
  name: 'alice' | 'bob';
  uuids: GenerationUuids;
  role: 'Primary' | 'Secondary';
  /** ground truth: started a new data generation since the last resync */
  newGeneration: boolean;
}

interface Pair {
  a: Node;
  b: Node;
  connected: boolean;
  rng: () => bigint;
}

/** Distinct, never 0 or 4, deterministic. */
function counterRng(): () => bigint {
  let k = 0n;
  return () => {
    k += 1n;
    return (k << 20n) | 0x5a5a0n;
  };
}

const masked = (u: GenerationUuids) => [u.current, u.bitmap, u.history[0], u.history[1]].map(maskRoleBit);

const inputs = (n: Node): SyncInputs => ({ uuids: n.uuids, crashedPrimary: false, role: n.role, disk: 'UpToDate', dirtyBits: 0 });

/** Run a complete resync from `src` to `tgt` through the rotation functions. */
function resync(src: Node, tgt: Node, rng: () => bigint): void {
  const srcBefore = src.uuids;
  const start = onResyncStartSource(src.uuids, rng);
  const tgtStarted = onResyncStartTarget(tgt.uuids, start.syncUuid, tgt.role);
  src.uuids = onResyncFinishedSource(start.uuids);
  tgt.uuids = onResyncFinishedTarget(tgtStarted, srcBefore, tgt.role);
  src.newGeneration = false;
  tgt.newGeneration = false;
}

function freshPair(): Pair {
  const rng = counterRng();
  const a: Node = { name: 'alice', uuids: justCreatedUuids(), role: 'Secondary', newGeneration: false };
  const b: Node = { name: 'bob', uuids: justCreatedUuids(), role: 'Secondary', newGeneration: false };
  // initial sync: primary --force on alice, full sync by rule 30
  a.uuids = onPromote(a.uuids, { peerDataReachable: true, forced: true }, rng).uuids;
  a.role = 'Primary';
  const d = decideSync(inputs(a), inputs(b), { resolveConflicts: false });
  expect([d.code, d.rule]).toEqual([2, 30]);
  resync(a, b, rng);
  return { a, b, connected: true, rng };
}

function promote(p: Pair, n: Node): void {
  const other = n === p.a ? p.b : p.a;
  if (n.role === 'Primary' || (p.connected && other.role === 'Primary')) return; // one Primary while connected
  const r = onPromote(n.uuids, { peerDataReachable: p.connected, forced: false }, p.rng);
  n.uuids = r.uuids;
  n.role = 'Primary';
  if (r.rotated) n.newGeneration = true;
}

function demote(n: Node): void {
  if (n.role !== 'Primary') return;
  n.uuids = onDemote(n.uuids);
  n.role = 'Secondary';
}

function disconnect(p: Pair): void {
  if (!p.connected) return;
  p.connected = false;
  for (const n of [p.a, p.b]) {
    const r = onPeerDataLost(n.uuids, { role: n.role, peerRole: 'Unknown', disk: 'UpToDate', ioFrozen: false }, p.rng);
    n.uuids = r.uuids;
    if (r.outcome === 'rotated') n.newGeneration = true;
  }
}

const policies: HandshakePolicies = { afterSb0pri: 'disconnect', afterSb1pri: 'disconnect', afterSb2pri: 'disconnect', rrConflict: 'disconnect' };

/** Reconnect: check both sides' decisions against the ground truth, then carry out the resync. */
function connect(p: Pair): void {
  if (p.connected) return;
  const { a, b } = p;
  const da = decideSync(inputs(a), inputs(b), { resolveConflicts: true });
  const db = decideSync(inputs(b), inputs(a), { resolveConflicts: false });
  if (a.newGeneration && b.newGeneration) {
    expect(da.kind).toBe('split-brain');
    expect(db.kind).toBe('split-brain');
    // manual recovery: bob is the victim, demoted first, and reconnects with --discard-my-data
    demote(b);
    const ha = decideHandshake(inputs(a), inputs(b), policies, { discardMyData: false, peerDiscardMyData: true, resolveConflicts: true, localNode: 'alice' });
    const hb = decideHandshake(inputs(b), inputs(a), policies, { discardMyData: true, peerDiscardMyData: false, resolveConflicts: false, localNode: 'bob' });
    expect(ha).toMatchObject({ action: 'sync', role: 'source', mode: 'bitmap', splitBrain: 'manual' });
    expect(hb).toMatchObject({ action: 'sync', role: 'target', mode: 'bitmap', splitBrain: 'manual' });
    resync(a, b, p.rng);
  } else if (a.newGeneration || b.newGeneration) {
    const [src, tgt, dSrc, dTgt] = a.newGeneration ? [a, b, da, db] : [b, a, db, da];
    expect(dSrc.code).toBe(1);
    expect(dTgt.code).toBe(-1);
    const hs = decideHandshake(inputs(src), inputs(tgt), policies, { discardMyData: false, peerDiscardMyData: false, resolveConflicts: src === a, localNode: src.name });
    const ht = decideHandshake(inputs(tgt), inputs(src), policies, { discardMyData: false, peerDiscardMyData: false, resolveConflicts: tgt === a, localNode: tgt.name });
    expect(hs).toMatchObject({ action: 'sync', role: 'source', mode: 'bitmap' });
    expect(ht).toMatchObject({ action: 'sync', role: 'target', mode: 'bitmap' });
    resync(src, tgt, p.rng);
  } else {
    expect([da.kind, db.kind]).toEqual(['in-sync', 'in-sync']);
  }
  expect(masked(a.uuids)).toEqual(masked(b.uuids));
  p.connected = true;
}

type Event = 'promote-a' | 'promote-b' | 'demote-a' | 'demote-b' | 'disconnect' | 'connect';

function apply(p: Pair, e: Event): void {
  switch (e) {
    case 'promote-a': return promote(p, p.a);
    case 'promote-b': return promote(p, p.b);
    case 'demote-a': return demote(p.a);
    case 'demote-b': return demote(p.b);
    case 'disconnect': return disconnect(p);
    case 'connect': return connect(p);
  }
}

describe('UUID rotation scenarios', () => {
  it('become Primary while disconnected, reconnect: the peer current equals our bitmap → we are SyncSource (rule 70)', () => {
    const p = freshPair();
    demote(p.a);
    disconnect(p);
    promote(p, p.b); // bob promoted while alone
    demote(p.b);
    const db = decideSync(inputs(p.b), inputs(p.a), { resolveConflicts: false });
    const da = decideSync(inputs(p.a), inputs(p.b), { resolveConflicts: true });
    expect(maskRoleBit(p.b.uuids.bitmap)).toBe(maskRoleBit(p.a.uuids.current));
    expect([db.kind, db.code, db.rule]).toEqual(['bitmap-resync', 1, 70]);
    expect([da.kind, da.code, da.rule]).toEqual(['bitmap-resync', -1, 50]);
  });

  it('Primary loses the link, keeps writing, reconnects: it is SyncSource; its bitmap UUID has bit 0 set', () => {
    const p = freshPair(); // alice Primary
    disconnect(p);
    expect(p.a.uuids.bitmap & 1n).toBe(1n);
    const d = decideSync(inputs(p.a), inputs(p.b), { resolveConflicts: false });
    expect([d.code, d.rule]).toEqual([1, 70]);
  });

  it('both Primary while disconnected → split brain (rule 90); alice is the older primary, bob the younger', () => {
    const p = freshPair(); // alice Primary
    disconnect(p);
    promote(p, p.b);
    const d = decideSync(inputs(p.a), inputs(p.b), { resolveConflicts: false });
    expect([d.kind, d.code, d.rule]).toEqual(['split-brain', 100, 90]);
    expect(p.a.uuids.bitmap & 1n).toBe(1n); // was Primary when the link broke
    expect(p.b.uuids.bitmap & 1n).toBe(0n); // promoted afterwards
    const h = decideHandshake(inputs(p.a), inputs(p.b), { ...policies, afterSb2pri: 'violently-as0p', afterSb0pri: 'discard-younger-primary' }, {
      discardMyData: false, peerDiscardMyData: false, resolveConflicts: false, localNode: 'alice',
    });
    expect(h).toMatchObject({ action: 'sync', role: 'source', mode: 'bitmap', splitBrain: 'automatic' });
  });

  it('a Secondary that loses its Primary does not rotate; reconnecting without writes is a plain resync from the Primary', () => {
    const p = freshPair();
    disconnect(p);
    expect(p.b.newGeneration).toBe(false);
    connect(p);
  });

  it('property: over any history, the decision follows who started a new generation, and resyncs converge', () => {
    const events: Event[] = ['promote-a', 'promote-b', 'demote-a', 'demote-b', 'disconnect', 'connect'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...events), { maxLength: 60 }), (history) => {
        const p = freshPair();
        for (const e of history) apply(p, e);
        connect(p);
      }),
      { numRuns: 300 },
    );
  });
});
