// What the controller keeps per haresources group, and the pure readings of it: the peer's
// status of a group from its last rsc_state, and the state this node announces.

import type { HaResourceGroup } from '../config/heartbeat/haresources.js';
import type { LocalGroupState, PeerGroupState, ResourceState } from './controller-types.js';

export type Claim = 'none' | 'pending' | 'granted' | 'denied';

export interface Group {
  def: HaResourceGroup;
  key: string;
  ownedBySelf: boolean;
  local: LocalGroupState;
  resources: ResourceState[];
  /** resource being started or stopped */
  index: number;
  opOut: boolean;
  /** stopping to undo a failed start */
  rollback: boolean;
  stopAttempts: number;
  stopRetryAtMs: number | null;
  declined: 'standby' | 'start-failed' | null;
  claim: Claim;
  claimSentMs: number;
  /** the peer's status of this group when it denied our claim: claim again only once it changes */
  deniedPeerStatus: PeerGroupState | null;
  /** operator takeover: claim even where the normal rules would not */
  forced: boolean;
  /** auto_failback: the peer came up while we (the owner) may not hold it; cleared once settled */
  failbackArmed: boolean;
  /** the peer claimed it and we agreed: grant once stopped */
  grantAfterStop: boolean;
  /** we granted it to the peer: we do not start it while the peer claims or holds it */
  grantedToPeer: boolean;
  /** the peer's rsc_state version when the peer granted us the group; -1: not started on a grant */
  grantViewVersion: number;
  /** restarting in place after a monitor failure: stop down to this resource, then start from it */
  restartAt: number | null;
  monitorRestarts: number;
}

export interface PeerView {
  version: number;
  held: Set<string>; busy: Set<string>; claimed: Set<string>; failed: Set<string>; declined: Set<string>;
}

export function newGroup(def: HaResourceGroup, self: string): Group {
  return {
    def, key: def.key, ownedBySelf: def.node.toLowerCase() === self,
    local: 'stopped', resources: def.resources.map(() => 'stopped'), index: 0, opOut: false, rollback: false,
    stopAttempts: 0, stopRetryAtMs: null, declined: null, claim: 'none', claimSentMs: 0, deniedPeerStatus: null,
    forced: false, failbackArmed: false, grantAfterStop: false, grantedToPeer: false, grantViewVersion: -1,
    restartAt: null, monitorRestarts: 0,
  };
}

/** The peer's status of group `key`, from its last rsc_state (null: none heard yet). */
export function peerGroupStatus(peerState: 'unknown' | 'up' | 'dead', view: PeerView | null, key: string): PeerGroupState {
  if (peerState === 'dead') return 'dead';
  if (!view) return 'unknown';
  if (view.failed.has(key)) return 'failed';
  if (view.busy.has(key)) return 'busy';
  if (view.held.has(key)) return 'held';
  if (view.claimed.has(key)) return 'claimed';
  if (view.declined.has(key)) return 'declined';
  return 'free';
}

/** The group lists of this node's rsc_state message. */
export function announcedState(groups: readonly Group[]): { held: string[]; busy: string[]; claimed: string[]; failed: string[]; declined: string[] } {
  const pick = (f: (g: Group) => boolean) => groups.filter(f).map((g) => g.key);
  return {
    held: pick((g) => g.local === 'started'),
    busy: pick((g) => g.local === 'starting' || g.local === 'stopping'),
    claimed: pick((g) => g.local === 'stopped' && (g.claim === 'pending' || g.claim === 'granted')),
    failed: pick((g) => g.local === 'failed'),
    declined: pick((g) => g.declined !== null),
  };
}

/** A group's definition as haresources says it: a reload keeps a group's state only when this is unchanged. */
export function defText(d: HaResourceGroup): string {
  return `${d.node} ${d.resources.map((r) => r.text).join(' ')}`;
}

/** runs, or may run, something here: its definition must not change under it */
export function groupActive(g: Group): boolean {
  return g.local !== 'stopped' || g.opOut;
}
