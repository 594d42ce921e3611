// Adapts the pure handshake decision (sync-decision.ts) to what the resource needs on connect:
// who syncs which way, or why the connection is dropped, plus the lines to log and handlers to run.
import type { ResolvedResource } from '../config/index.js';
import type { GenerationUuids } from './generation-uuids.js';
import type { DiskState, Role } from './messages.js';
import { decideHandshake, type HandshakeAction } from './sync-decision.js';

export interface ConnectSide {
  uuids: GenerationUuids;
  flags: ReadonlySet<string>;
  dirtyBits: number;
  role: Role;
  disk: DiskState;
  discardMyData: boolean;
}

export interface ConnectDecision {
  action: 'none' | 'sync-source' | 'sync-target' | 'disconnect';
  mode?: 'bitmap' | 'full';
  rule: number;
  reason: string;
  log: string[];
  handlers: string[];
  giveUpPrimary?: boolean;
}

/** DRBD's RESOLVE_CONFLICTS must be set on exactly one node; both derive it from the node names. */
export function resolvesConflicts(selfNode: string, peerNode: string): boolean {
  return selfNode > peerNode;
}

export function decideConnect(
  local: ConnectSide,
  peer: ConnectSide,
  ctx: {
    net: ResolvedResource['net'];
    selfNode: string;
    peerNode: string;
    /** this node, if Primary, could demote now (nobody holds the device open) */
    canDemote?: boolean;
    /**
     * this node is attaching its disk on a live connection (disk Negotiating). DRBD's rr-conflict
     * check deliberately looks at the live disk state, not the negotiated one, so a Primary that
     * reattaches a repaired disk becomes SyncTarget instead of dropping the connection.
     */
    negotiating?: boolean;
  },
): ConnectDecision {
  const a: HandshakeAction = decideHandshake(
    { uuids: local.uuids, crashedPrimary: local.flags.has('crashed-primary'), role: local.role, disk: local.disk, dirtyBits: local.dirtyBits },
    { uuids: peer.uuids, crashedPrimary: peer.flags.has('crashed-primary'), role: peer.role, disk: peer.disk, dirtyBits: peer.dirtyBits },
    {
      afterSb0pri: ctx.net.afterSb0pri,
      afterSb1pri: ctx.net.afterSb1pri,
      afterSb2pri: ctx.net.afterSb2pri,
      rrConflict: ctx.negotiating ? 'violently' : ctx.net.rrConflict,
    },
    {
      discardMyData: local.discardMyData,
      peerDiscardMyData: peer.discardMyData,
      resolveConflicts: resolvesConflicts(ctx.selfNode, ctx.peerNode),
      localNode: ctx.selfNode,
      canDemote: ctx.canDemote ?? false,
    },
  );
  if (ctx.negotiating) a.trail = a.trail.filter((l) => l !== 'Becoming SyncTarget, violating the stable-data assumption');
  const rule = a.decision.rule;
  const handlers = a.handlers.map((h) => (h === 'pri-lost' ? 'pri-lost' : h));
  if (a.action === 'none') return { action: 'none', rule, reason: 'in sync', log: a.trail, handlers };
  if (a.action === 'disconnect') return { action: 'disconnect', rule, reason: a.log, log: a.trail, handlers };
  return {
    action: a.role === 'source' ? 'sync-source' : 'sync-target',
    mode: a.mode,
    rule,
    reason: a.splitBrain ? `split-brain resolved (${a.splitBrain})` : `uuid rule ${rule}`,
    log: a.trail,
    handlers,
    giveUpPrimary: a.giveUpPrimary,
  };
}
