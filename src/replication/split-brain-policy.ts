// What to do once the UUID comparison says "split brain" (|hg| == 100): DRBD 8.4's
// after-sb-{0,1,2}pri policies, the manual `--discard-my-data` override and the handlers that run
// (reference §2; d84:drbd_receiver.c drbd_asb_recover_{0,1,2}p and drbd_sync_handshake steps 3–6).
// Pure: "try to give up the Primary role" is an input (`canDemote`) and an output (`giveUpPrimary`).

import type { Role } from './drbd-states.js';
import { UUID_ROLE_BIT } from './generation-uuids.js';

// The policy names are the config's: one definition, so a value the parser accepts is one this code handles.
import type { AfterSb0pri, AfterSb1pri, AfterSb2pri } from '../config/index.js';
export type { AfterSb0pri, AfterSb1pri, AfterSb2pri };

export interface SplitBrainPolicies {
  afterSb0pri: AfterSb0pri;
  afterSb1pri: AfterSb1pri;
  afterSb2pri: AfterSb2pri;
  /** net option `always-asbp`: run the policies even for a split brain without a common bitmap UUID (hg −100) */
  alwaysAsbp?: boolean;
}

export const DEFAULT_SPLIT_BRAIN_POLICIES: SplitBrainPolicies = {
  afterSb0pri: 'disconnect',
  afterSb1pri: 'disconnect',
  afterSb2pri: 'disconnect',
  alwaysAsbp: false,
};

export type SplitBrainHandler = 'initial-split-brain' | 'split-brain' | 'pri-lost-after-sb';

export interface SplitBrainSide {
  /** the role now, at the handshake (counts the Primaries) */
  role: Role;
  /** the bitmap UUID; its bit 0 says whether this node was Primary when it started the new generation */
  bitmapUuid: bigint;
  /** blocks (4 KiB bitmap bits) marked out of sync: DRBD's comm_bm_set / the peer's UI_SIZE */
  changes: number;
  /** one-shot `connect --discard-my-data` */
  discardMyData: boolean;
}

export interface SplitBrainInput {
  /** the UUID comparison after the disk-state override: +100 (common bitmap UUID, rule 90) or −100 */
  code: 100 | -100;
  local: SplitBrainSide;
  peer: SplitBrainSide;
  policies: SplitBrainPolicies;
  /** this node's name, for `discard-node-NAME` */
  localNode: string;
  /** DRBD's RESOLVE_CONFLICTS: set on exactly one node of the pair; that node loses ties */
  resolveConflicts: boolean;
  /** whether this node, if Primary, could become Secondary right now (device not open) */
  canDemote: boolean;
}

export interface SplitBrainOutcome {
  outcome: 'discard-local' | 'discard-peer' | 'disconnect';
  /** how the resync runs when resolved: a full sync when the UUIDs were ambiguous (−100 + always-asbp) */
  mode: 'bitmap' | 'full';
  how: 'automatic' | 'manual' | 'unresolved';
  /** this node must demote to Secondary before becoming SyncTarget (call-pri-lost-after-sb succeeded) */
  giveUpPrimary: boolean;
  /** user-mode helpers to run, in order */
  handlers: SplitBrainHandler[];
  /** the decisive log line, in DRBD's wording */
  reason: string;
  /** every line DRBD would log on the way, in order */
  log: string[];
}

/** +1: this node is SyncSource (the peer is discarded); −1: this node is SyncTarget; −100: no decision. */
type Hg = 1 | -1 | -100;

const CONFIG_ERROR = 'Configuration error.';

function tie(resolveConflicts: boolean): Hg {
  return resolveConflicts ? -1 : 1;
}

/** `drbd_asb_recover_0p`: the after-sb-0pri policy, with its fall-through chain. */
export function recover0pri(input: SplitBrainInput, log: string[]): Hg {
  const policy: string = input.policies.afterSb0pri;
  const self = Number(input.local.bitmapUuid & UUID_ROLE_BIT);
  const peer = Number(input.peer.bitmapUuid & UUID_ROLE_BIT);
  const chSelf = input.local.changes;
  const chPeer = input.peer.changes;

  const zeroChanges = (): Hg | undefined => {
    if (chPeer === 0 && chSelf === 0) return tie(input.resolveConflicts);
    if (chPeer === 0) return 1;
    if (chSelf === 0) return -1;
    return undefined;
  };
  const leastChanges = (): Hg => (chSelf < chPeer ? -1 : chSelf > chPeer ? 1 : tie(input.resolveConflicts));
  const olderOrYounger = (discard: 'younger' | 'older'): Hg => {
    // younger primary = bitmap bit 0 clear (was Secondary when it started the new generation)
    if (self === 0 && peer === 1) return discard === 'younger' ? -1 : 1;
    if (self === 1 && peer === 0) return discard === 'younger' ? 1 : -1;
    log.push('Discard younger/older primary did not find a decision', 'Using discard-least-changes instead');
    return zeroChanges() ?? leastChanges();
  };

  switch (policy) {
    case 'disconnect':
      return -100;
    case 'discard-younger-primary':
      return olderOrYounger('younger');
    case 'discard-older-primary':
      return olderOrYounger('older');
    case 'discard-zero-changes':
      return zeroChanges() ?? -100;
    case 'discard-least-changes':
      return leastChanges();
    default:
      if (policy.startsWith('discard-node-') && policy.length > 'discard-node-'.length) {
        // drbdadm turns this into discard-local on host NAME and discard-remote on the other one
        return policy.slice('discard-node-'.length) === input.localNode ? -1 : 1;
      }
      log.push(CONFIG_ERROR);
      return -100;
  }
}

interface PolicyResult { hg: Hg; giveUpPrimary: boolean; priLost: boolean }

/** The loser of a call-pri-lost-after-sb decision tries to demote; if it cannot, the handler runs and the split brain stays. */
function callPriLost(hg: Hg, loserMustDemote: boolean, input: SplitBrainInput, log: string[]): PolicyResult {
  if (!loserMustDemote) return { hg, giveUpPrimary: false, priLost: false };
  if (input.canDemote) {
    log.push('Successfully gave up primary role.');
    return { hg, giveUpPrimary: true, priLost: false };
  }
  return { hg: -100, giveUpPrimary: false, priLost: true };
}

/** `drbd_asb_recover_1p`. */
function recover1pri(input: SplitBrainInput, log: string[]): PolicyResult {
  const policy: string = input.policies.afterSb1pri;
  const iAmPrimary = input.local.role === 'Primary';
  switch (policy) {
    case 'disconnect':
      return { hg: -100, giveUpPrimary: false, priLost: false };
    case 'consensus': {
      const hg = recover0pri(input, log);
      // accepted only when it discards the Secondary's data
      const ok = (hg === -1 && !iAmPrimary) || (hg === 1 && iAmPrimary);
      return { hg: ok ? hg : -100, giveUpPrimary: false, priLost: false };
    }
    case 'violently-as0p':
      return { hg: recover0pri(input, log), giveUpPrimary: false, priLost: false };
    case 'discard-secondary':
      return { hg: iAmPrimary ? 1 : -1, giveUpPrimary: false, priLost: false };
    case 'call-pri-lost-after-sb': {
      const hg = recover0pri(input, log);
      return callPriLost(hg, hg === -1 && iAmPrimary, input, log);
    }
    default:
      log.push(CONFIG_ERROR);
      return { hg: -100, giveUpPrimary: false, priLost: false };
  }
}

/** `drbd_asb_recover_2p`. */
function recover2pri(input: SplitBrainInput, log: string[]): PolicyResult {
  const policy: string = input.policies.afterSb2pri;
  switch (policy) {
    case 'disconnect':
      return { hg: -100, giveUpPrimary: false, priLost: false };
    case 'violently-as0p':
      return { hg: recover0pri(input, log), giveUpPrimary: false, priLost: false };
    case 'call-pri-lost-after-sb': {
      const hg = recover0pri(input, log);
      return callPriLost(hg, hg === -1, input, log);
    }
    default:
      log.push(CONFIG_ERROR);
      return { hg: -100, giveUpPrimary: false, priLost: false };
  }
}

export function countPrimaries(local: Role, peer: Role): 0 | 1 | 2 {
  return ((local === 'Primary' ? 1 : 0) + (peer === 'Primary' ? 1 : 0)) as 0 | 1 | 2;
}

/**
 * Steps 3–6 of `drbd_sync_handshake` for a detected split brain: the initial-split-brain handler,
 * the automatic policies (for +100, or −100 with always-asbp), then a one-sided `--discard-my-data`,
 * and otherwise "unresolved": the split-brain handler runs and the connection drops.
 */
export function resolveSplitBrain(input: SplitBrainInput): SplitBrainOutcome {
  const log: string[] = [];
  const handlers: SplitBrainHandler[] = ['initial-split-brain'];
  let hg: number = input.code;
  let mode: 'bitmap' | 'full' = 'bitmap';
  let giveUpPrimary = false;

  if (input.code === 100 || (input.code === -100 && input.policies.alwaysAsbp === true)) {
    const pcount = countPrimaries(input.local.role, input.peer.role);
    const forced = input.code === -100;
    const r =
      pcount === 0
        ? { hg: recover0pri(input, log), giveUpPrimary: false, priLost: false }
        : pcount === 1
          ? recover1pri(input, log)
          : recover2pri(input, log);
    if (r.priLost) handlers.push('pri-lost-after-sb');
    hg = r.hg;
    if (hg !== -100) {
      giveUpPrimary = r.giveUpPrimary;
      const reason = `Split-Brain detected, ${pcount} primaries, automatically solved. Sync from ${hg < 0 ? 'peer' : 'this'} node`;
      log.push(reason);
      if (forced) {
        log.push('Doing a full sync, since UUIDs were ambiguous.');
        mode = 'full';
      }
      return { outcome: hg < 0 ? 'discard-local' : 'discard-peer', mode, how: 'automatic', giveUpPrimary, handlers, reason, log };
    }
    hg = -100;
  }

  // DRBD only honours discard-my-data while hg is still −100: after `disconnect` policies or a failed auto-recovery
  if (input.local.discardMyData !== input.peer.discardMyData) {
    const fromPeer = input.local.discardMyData;
    const reason = `Split-Brain detected, manually solved. Sync from ${fromPeer ? 'peer' : 'this'} node`;
    log.push(reason);
    return { outcome: fromPeer ? 'discard-local' : 'discard-peer', mode: 'bitmap', how: 'manual', giveUpPrimary: false, handlers, reason, log };
  }

  const reason = 'Split-Brain detected but unresolved, dropping connection!';
  log.push(reason);
  handlers.push('split-brain');
  return { outcome: 'disconnect', mode: 'bitmap', how: 'unresolved', giveUpPrimary: false, handlers, reason, log };
}
