// The decision on connect: DRBD 8.4's drbd_uuid_compare() rule by rule, then the rest of
// drbd_sync_handshake() (disk-state override, split brain, "inconsistent source", rr-conflict).
// Reference §1.4 and §2; d84:drbd_receiver.c drbd_uuid_compare / drbd_sync_handshake.
//
// Tandem speaks one protocol version, so DRBD's branches for old peers (−1091/−1096, FF_WSAME) are
// taken as "modern" (protocol ≥ 96). Every decision names the DRBD rule it came from, so a log line
// can say `uuid_compare()=-1 by rule 50` exactly as DRBD does.

import type { DiskState, Role } from './drbd-states.js';
import { diskRank } from './drbd-states.js';
import type { GenerationUuids } from './generation-uuids.js';
import { UUID_JUST_CREATED, UUID_NEW_BM_OFFSET, formatUuidDump, maskRoleBit } from './generation-uuids.js';
import type { SplitBrainHandler, SplitBrainPolicies } from './split-brain-policy.js';
import { resolveSplitBrain } from './split-brain-policy.js';

export interface SyncInputs {
  uuids: GenerationUuids;
  /** went down while Primary without demoting (runtime CRASHED_PRIMARY; UUID flag 2 from the peer) */
  crashedPrimary: boolean;
  /** the role now, at the handshake */
  role: Role;
  /** the disk state being negotiated (for the peer: as it reported it) */
  disk: DiskState;
  /** bitmap weight: 4 KiB blocks marked out of sync (comm_bm_set / UI_SIZE) */
  dirtyBits: number;
}

/** Facts about the connection rather than either node. */
export interface LinkFacts {
  /** DRBD's RESOLVE_CONFLICTS: set on exactly one node (the one that accepted the peer's meta socket); it loses ties */
  resolveConflicts: boolean;
}

export type SyncDirection = 'become-source' | 'become-target';

export interface UuidCorrection {
  /** our own tuple, fixed (rules 34, 71): the caller persists it */
  local?: GenerationUuids;
  /** our copy of the peer's tuple, fixed (rules 35, 51): used e.g. when the resync finishes */
  peer?: GenerationUuids;
}

export type SyncDecision =
  | { kind: 'both-just-created'; rule: 10; code: 0 }
  | { kind: 'in-sync'; rule: 40; code: 0 }
  | {
      kind: 'bitmap-resync';
      direction: SyncDirection;
      rule: 34 | 35 | 36 | 37 | 40 | 41 | 50 | 51 | 70 | 71;
      code: 1 | -1;
      note?: string;
      corrected?: UuidCorrection;
    }
  | { kind: 'full-sync'; direction: SyncDirection; rule: 20 | 30 | 60 | 80; code: 2 | -2 }
  | { kind: 'split-brain'; recovery: 'auto-recover' | 'disconnect'; rule: 41 | 90 | 100; code: 100 | -100; note?: string }
  | { kind: 'unrelated'; rule: 100; code: -1000 };

const m = maskRoleBit;
const U64 = (1n << 64n) - 1n;

function bitmapResync(code: 1 | -1, rule: 34 | 35 | 36 | 37 | 40 | 41 | 50 | 51 | 70 | 71, extra: { note?: string; corrected?: UuidCorrection } = {}): SyncDecision {
  return { kind: 'bitmap-resync', direction: code > 0 ? 'become-source' : 'become-target', rule, code, ...extra };
}
function fullSync(code: 2 | -2, rule: 20 | 30 | 60 | 80): SyncDecision {
  return { kind: 'full-sync', direction: code > 0 ? 'become-source' : 'become-target', rule, code };
}

/** `drbd_uuid_compare()`: the first matching rule wins. */
export function decideSync(local: SyncInputs, peer: SyncInputs, link: LinkFacts): SyncDecision {
  const s = local.uuids;
  const p = peer.uuids;
  const selfC = m(s.current);
  const peerC = m(p.current);

  if (selfC === UUID_JUST_CREATED && peerC === UUID_JUST_CREATED) return { kind: 'both-just-created', rule: 10, code: 0 };
  if ((selfC === UUID_JUST_CREATED || selfC === 0n) && peerC !== UUID_JUST_CREATED) return fullSync(-2, 20);
  if (selfC !== UUID_JUST_CREATED && (peerC === UUID_JUST_CREATED || peerC === 0n)) return fullSync(2, 30);

  if (selfC === peerC) {
    if (p.bitmap === 0n && s.bitmap !== 0n) {
      if (m(s.bitmap) === m(p.history[0]) && m(s.history[0]) === m(p.history[1])) {
        return bitmapResync(1, 34, {
          note: 'was SyncSource, missed the resync finished event, corrected myself:',
          corrected: { local: { current: s.current, bitmap: 0n, history: [s.bitmap, s.history[0]] } },
        });
      }
      return bitmapResync(1, 36, { note: 'was SyncSource (peer failed to write sync_uuid)' });
    }
    if (s.bitmap === 0n && p.bitmap !== 0n) {
      if (m(s.history[0]) === m(p.bitmap) && m(s.history[1]) === m(p.history[0])) {
        return bitmapResync(-1, 35, {
          note: 'was SyncTarget, peer missed the resync finished event, corrected peer:',
          corrected: { peer: { current: p.current, bitmap: 0n, history: [p.bitmap, p.history[0]] } },
        });
      }
      return bitmapResync(-1, 37, { note: 'was SyncTarget (failed to write sync_uuid)' });
    }

    // Same generation, no bitmap UUID told us more: who went down while Primary?
    const rct = (local.crashedPrimary ? 1 : 0) + (peer.crashedPrimary ? 2 : 0);
    if (rct === 0) return { kind: 'in-sync', rule: 40, code: 0 };
    if (local.role === 'Primary' || peer.role === 'Primary') {
      // Unrotated UUIDs with a live Primary: IO was frozen, so no new generation was started.
      if (local.role === 'Primary' && peer.role === 'Primary') {
        return {
          kind: 'split-brain',
          recovery: 'disconnect',
          rule: 41,
          code: -100,
          note: 'Equivalent unrotated UUIDs, but both are primary. Can not resolve this.',
        };
      }
      return bitmapResync(local.role === 'Primary' ? 1 : -1, 41);
    }
    // Both Secondary: recovery from a simultaneous hard crash; the crashed Primary has the newer data.
    if (rct === 1) return bitmapResync(1, 40);
    if (rct === 2) return bitmapResync(-1, 40);
    return bitmapResync(link.resolveConflicts ? -1 : 1, 40);
  }

  if (selfC === m(p.bitmap)) return bitmapResync(-1, 50);

  const peerH1 = m(p.history[0]);
  if (selfC === peerH1 && ((peerH1 + UUID_NEW_BM_OFFSET) & U64) === m(p.bitmap)) {
    // The peer started a resync as source but its P_SYNC_UUID never reached us: undo that on our copy.
    return bitmapResync(-1, 51, {
      note: 'Lost last syncUUID packet, corrected:',
      corrected: { peer: { current: p.current, bitmap: p.history[0], history: [p.history[1], p.history[1]] } },
    });
  }

  if (selfC === m(p.history[0]) || selfC === m(p.history[1])) return fullSync(-2, 60);

  const selfB = m(s.bitmap);
  if (selfB === peerC) return bitmapResync(1, 70);

  const selfH1 = m(s.history[0]);
  if (selfH1 === peerC && ((selfH1 + UUID_NEW_BM_OFFSET) & U64) === selfB) {
    return bitmapResync(1, 71, {
      note: 'Last syncUUID did not get through, corrected:',
      corrected: { local: { current: s.current, bitmap: s.history[0], history: [s.history[1], s.history[1]] } },
    });
  }

  if (peerC === m(s.history[0]) || peerC === m(s.history[1])) return fullSync(2, 80);

  if (selfB === m(p.bitmap) && selfB !== 0n) return { kind: 'split-brain', recovery: 'auto-recover', rule: 90, code: 100 };

  // DRBD compares the history slots as they are, zeros included
  for (const sh of s.history) {
    for (const ph of p.history) {
      if (m(sh) === m(ph)) return { kind: 'split-brain', recovery: 'disconnect', rule: 100, code: -100 };
    }
  }
  return { kind: 'unrelated', rule: 100, code: -1000 };
}

/** DRBD's `uuid_compare()=%d by rule %d` line. */
export function formatCompareLog(d: SyncDecision): string {
  return `uuid_compare()=${d.code} by rule ${d.rule}`;
}

import type { RrConflict } from '../config/index.js';
export type { RrConflict };

export interface HandshakePolicies extends SplitBrainPolicies {
  /** what a Primary does when the decision makes it SyncTarget (default disconnect) */
  rrConflict: RrConflict;
}

export interface HandshakeOptions {
  /** this node has the one-shot `connect --discard-my-data` */
  discardMyData: boolean;
  /** the peer announced `--discard-my-data` (UUID flag 1) */
  peerDiscardMyData: boolean;
  resolveConflicts: boolean;
  /** this node's name, for `discard-node-NAME` */
  localNode: string;
  /** this node, if Primary, could demote now (the device is not open); default false */
  canDemote?: boolean;
}

export type HandshakeHandler = SplitBrainHandler | 'pri-lost';

export type DisconnectReason = 'unrelated-data' | 'split-brain' | 'source-inconsistent' | 'primary-would-be-target';

interface HandshakeCommon {
  decision: SyncDecision;
  /** user-mode helpers to run, in order */
  handlers: HandshakeHandler[];
  /** every line DRBD would log during the handshake, in order */
  trail: string[];
}

export type HandshakeAction =
  | ({ action: 'none' } & HandshakeCommon)
  | ({
      action: 'sync';
      role: 'source' | 'target';
      mode: 'bitmap' | 'full';
      /** demote to Secondary first (call-pri-lost-after-sb made this Primary the loser and it could demote) */
      giveUpPrimary: boolean;
      /** the split brain was settled by a policy or by --discard-my-data */
      splitBrain?: 'automatic' | 'manual';
    } & HandshakeCommon)
  | ({ action: 'disconnect'; reason: DisconnectReason; log: string } & HandshakeCommon);

function uuidFlags(side: SyncInputs, discardMyData: boolean): number {
  return (discardMyData ? 1 : 0) | (side.crashedPrimary ? 2 : 0) | (side.disk === 'Inconsistent' ? 4 : 0);
}

/**
 * `drbd_sync_handshake()`: the UUID decision plus disk states, split-brain policies, manual
 * `--discard-my-data`, the inconsistent-source check and rr-conflict. The peer computes the mirror
 * image of this with its own view; both must agree (one source, one target).
 */
export function decideHandshake(
  local: SyncInputs,
  peer: SyncInputs,
  policies: HandshakePolicies,
  opts: HandshakeOptions,
): HandshakeAction {
  const trail: string[] = [
    'drbd_sync_handshake:',
    formatUuidDump('self', local.uuids, local.dirtyBits, 0),
    formatUuidDump('peer', peer.uuids, peer.dirtyBits, uuidFlags(peer, opts.peerDiscardMyData)),
  ];
  const handlers: HandshakeHandler[] = [];
  const decision = decideSync(local, peer, { resolveConflicts: opts.resolveConflicts });
  if ('note' in decision && decision.note !== undefined) trail.push(decision.note);
  trail.push(formatCompareLog(decision));
  const common = { decision, handlers, trail };
  const disconnect = (reason: DisconnectReason, log: string): HandshakeAction => {
    trail.push(log);
    return { action: 'disconnect', reason, log, ...common };
  };

  if (decision.kind === 'unrelated') return disconnect('unrelated-data', 'Unrelated data, aborting!');

  let hg: number = decision.code;
  const myDisk = diskRank(local.disk);
  const peerDisk = diskRank(peer.disk);
  const inconsistent = diskRank('Inconsistent');
  if ((myDisk === inconsistent && peerDisk > inconsistent) || (peerDisk === inconsistent && myDisk > inconsistent)) {
    const full = hg === -100 || Math.abs(hg) === 2;
    hg = myDisk > inconsistent ? 1 : -1;
    if (full) hg *= 2;
    trail.push(`Becoming sync ${hg > 0 ? 'source' : 'target'} due to disk states.`);
  }

  let giveUpPrimary = false;
  let splitBrain: 'automatic' | 'manual' | undefined;
  if (hg === 100 || hg === -100) {
    const sb = resolveSplitBrain({
      code: hg,
      local: { role: local.role, bitmapUuid: local.uuids.bitmap, changes: local.dirtyBits, discardMyData: opts.discardMyData },
      peer: { role: peer.role, bitmapUuid: peer.uuids.bitmap, changes: peer.dirtyBits, discardMyData: opts.peerDiscardMyData },
      policies,
      localNode: opts.localNode,
      resolveConflicts: opts.resolveConflicts,
      canDemote: opts.canDemote ?? false,
    });
    handlers.push(...sb.handlers);
    if (sb.outcome === 'disconnect') {
      trail.push(...sb.log.slice(0, -1));
      return disconnect('split-brain', sb.reason);
    }
    trail.push(...sb.log);
    const sign = sb.outcome === 'discard-local' ? -1 : 1;
    hg = sb.mode === 'full' ? 2 * sign : sign;
    giveUpPrimary = sb.giveUpPrimary;
    splitBrain = sb.how === 'manual' ? 'manual' : 'automatic';
  }

  if (hg > 0 && myDisk <= inconsistent) {
    return disconnect('source-inconsistent', 'I shall become SyncSource, but I am inconsistent!');
  }

  const roleNow: Role = giveUpPrimary ? 'Secondary' : local.role;
  if (hg < 0 && roleNow === 'Primary' && myDisk >= diskRank('Consistent')) {
    const rr: string = policies.rrConflict;
    if (rr === 'violently') {
      trail.push('Becoming SyncTarget, violating the stable-data assumption');
    } else {
      if (rr === 'call-pri-lost') handlers.push('pri-lost');
      return disconnect('primary-would-be-target', 'I shall become SyncTarget, but I am primary!');
    }
  }

  if (Math.abs(hg) >= 2) trail.push('Writing the whole bitmap, full sync required after drbd_sync_handshake.');
  if (hg === 0) {
    if (local.dirtyBits > 0) trail.push(`No resync, but ${local.dirtyBits} bits in bitmap!`);
    return { action: 'none', ...common };
  }
  return {
    action: 'sync',
    role: hg > 0 ? 'source' : 'target',
    mode: Math.abs(hg) >= 2 ? 'full' : 'bitmap',
    giveUpPrimary,
    ...(splitBrain !== undefined ? { splitBrain } : {}),
    ...common,
  };
}
