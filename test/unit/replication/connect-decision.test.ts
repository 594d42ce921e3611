// The resource's view of the connect handshake: both sides of a pair computed independently must
// agree (one SyncSource, one SyncTarget, or both disconnect), a losing Primary gives up its role
// only when it can, and a Primary reattaching a disk (Negotiating) is not stopped by rr-conflict.
import { describe, it, expect } from 'vitest';
import { decideConnect, resolvesConflicts, type ConnectSide } from '../../../src/replication/connect-decision.js';
import type { ResolvedResource } from '../../../src/config/index.js';
import type { GenerationUuids } from '../../../src/replication/generation-uuids.js';

type Net = ResolvedResource['net'];
const NET: Net = {
  pingIntSec: 1, pingTimeoutMs: 500, connectIntSec: 1, timeoutMs: 6000,
  afterSb0pri: 'disconnect', afterSb1pri: 'disconnect', afterSb2pri: 'disconnect', rrConflict: 'disconnect',
  maxBuffers: 2048, maxEpochSize: 2048, koCount: 7, sndbufSizeBytes: 0, rcvbufSizeBytes: 0, allowTwoPrimaries: false,
};

const X = 0x1111_0000_0000_0000n;
/** node1 was Primary at the split: bit 0 of its bitmap UUID is set (older primary) */
const SPLIT1: GenerationUuids = { current: 0x2222_0000_0000_0001n, bitmap: X | 1n, history: [0n, 0n] };
/** node2 was promoted after the split (younger primary) */
const SPLIT2: GenerationUuids = { current: 0x3333_0000_0000_0001n, bitmap: X, history: [0n, 0n] };

function side(uuids: GenerationUuids, role: 'Primary' | 'Secondary', dirtyBits: number, extra: Partial<ConnectSide> = {}): ConnectSide {
  return { uuids, flags: new Set(), dirtyBits, role, disk: 'UpToDate', discardMyData: false, ...extra };
}

function both(n1: ConnectSide, n2: ConnectSide, net: Partial<Net>, opts: { canDemote1?: boolean; canDemote2?: boolean } = {}) {
  const cfg = { ...NET, ...net } as Net;
  return {
    node1: decideConnect(n1, n2, { net: cfg, selfNode: 'node1', peerNode: 'node2', canDemote: opts.canDemote1 }),
    node2: decideConnect(n2, n1, { net: cfg, selfNode: 'node2', peerNode: 'node1', canDemote: opts.canDemote2 }),
  };
}

describe('decideConnect after a split brain (rule 90)', () => {
  it('exactly one node resolves conflicts', () => {
    expect(resolvesConflicts('node1', 'node2')).not.toBe(resolvesConflicts('node2', 'node1'));
  });

  it.each([
    ['discard-younger-primary', 'sync-source', 'sync-target'],
    ['discard-older-primary', 'sync-target', 'sync-source'],
    ['discard-least-changes', 'sync-target', 'sync-source'],
    ['discard-node-node1', 'sync-target', 'sync-source'],
    ['discard-node-node2', 'sync-source', 'sync-target'],
    ['disconnect', 'disconnect', 'disconnect'],
  ] as const)('0pri %s: node1 %s, node2 %s (bitmap-based)', (p0, a1, a2) => {
    const d = both(side(SPLIT1, 'Secondary', 5), side(SPLIT2, 'Secondary', 7), { afterSb0pri: p0 });
    expect([d.node1.action, d.node2.action]).toEqual([a1, a2]);
    if (a1 !== 'disconnect') expect(d.node1.mode).toBe('bitmap');
    expect(d.node1.handlers[0]).toBe('initial-split-brain');
    if (a1 === 'disconnect') expect(d.node1.handlers).toContain('split-brain');
  });

  it('call-pri-lost-after-sb: the losing Primary gives up its role when it can', () => {
    const net = { afterSb0pri: 'discard-older-primary', afterSb1pri: 'call-pri-lost-after-sb' } as const;
    const d = both(side(SPLIT1, 'Primary', 5), side(SPLIT2, 'Secondary', 7), net, { canDemote1: true });
    expect(d.node1).toMatchObject({ action: 'sync-target', giveUpPrimary: true });
    expect(d.node1.log).toContain('Successfully gave up primary role.');
    expect(d.node2.action).toBe('sync-source');
  });

  it('call-pri-lost-after-sb: a Primary held open runs pri-lost-after-sb and disconnects', () => {
    const net = { afterSb0pri: 'discard-older-primary', afterSb1pri: 'call-pri-lost-after-sb' } as const;
    const d = both(side(SPLIT1, 'Primary', 5), side(SPLIT2, 'Secondary', 7), net, { canDemote1: false });
    expect(d.node1.action).toBe('disconnect');
    expect(d.node1.handlers).toEqual(['initial-split-brain', 'pri-lost-after-sb', 'split-brain']);
  });

  it('violently-as0p: a losing Primary hits rr-conflict unless it is "violently"', () => {
    const base = { afterSb0pri: 'discard-older-primary', afterSb1pri: 'violently-as0p' } as const;
    const strict = both(side(SPLIT1, 'Primary', 5), side(SPLIT2, 'Secondary', 7), base);
    expect(strict.node1).toMatchObject({ action: 'disconnect', reason: 'I shall become SyncTarget, but I am primary!' });
    const violent = both(side(SPLIT1, 'Primary', 5), side(SPLIT2, 'Secondary', 7), { ...base, rrConflict: 'violently' });
    expect(violent.node1.action).toBe('sync-target');
    expect(violent.node1.log).toContain('Becoming SyncTarget, violating the stable-data assumption');
  });

  it('--discard-my-data on one side settles an unresolved split brain by bitmap', () => {
    const d = both(side(SPLIT1, 'Secondary', 5, { discardMyData: true }), side(SPLIT2, 'Secondary', 7), {});
    expect(d.node1).toMatchObject({ action: 'sync-target', mode: 'bitmap' });
    expect(d.node2).toMatchObject({ action: 'sync-source', mode: 'bitmap' });
  });
});

describe('decideConnect for a Primary reattaching a disk', () => {
  // the peer rotated its current UUID when this Primary lost its disk: rule 50 makes us SyncTarget
  const MINE: GenerationUuids = { current: X | 1n, bitmap: 0n, history: [0n, 0n] };
  const PEER: GenerationUuids = { current: 0x4444_0000_0000_0000n, bitmap: X, history: [0n, 0n] };

  it('Negotiating: becomes SyncTarget by bitmap, rr-conflict does not apply', () => {
    const d = decideConnect(side(MINE, 'Primary', 8, { disk: 'Consistent', flags: new Set(['crashed-primary']) }), side(PEER, 'Secondary', 3), {
      net: NET, selfNode: 'node1', peerNode: 'node2', negotiating: true,
    });
    expect(d).toMatchObject({ action: 'sync-target', mode: 'bitmap', rule: 50 });
    expect(d.log).not.toContain('Becoming SyncTarget, violating the stable-data assumption');
  });

  it('without Negotiating the same facts hit rr-conflict', () => {
    const d = decideConnect(side(MINE, 'Primary', 8, { disk: 'Consistent' }), side(PEER, 'Secondary', 3), { net: NET, selfNode: 'node1', peerNode: 'node2' });
    expect(d.action).toBe('disconnect');
  });
});
