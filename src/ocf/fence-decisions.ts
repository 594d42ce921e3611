// Resource-level fencing through the Pacemaker CIB: what DRBD's crm-fence-peer.sh decides (drbd-utils
// scripts/crm-fence-peer.sh: guess_if_pacemaker_will_fence, check_peer_node_reachable,
// try_place_constraint, drbd_peer_fencing) for a two-node resource. Pure; crm-fence-peer.ts does the
// cibadmin/crmadmin calls and the polling.
//
// The constraint "promote nowhere but on this node" goes in when the handler runs on a Primary that
// lost its peer (or on a Secondary being promoted without its peer); after-resync-target on the
// peer removes it (crm-unfence-peer), once both disks are UpToDate again.
import type { DiskState } from '../replication/drbd-states.js';

/** The attributes of the peer's `<node_state>` in the CIB status section (absent ones are undefined). */
export interface NodeStateAttrs {
  in_ccm?: string;
  crmd?: string;
  expected?: string;
  join?: string;
}

/** What the CIB says about the peer before any crmadmin check. `online`: ask its controller. */
export type CibPeerView = 'online' | 'unreachable' | 'fenced' | 'undecided';

/**
 * guess_if_pacemaker_will_fence + the first test of check_peer_node_reachable. Without STONITH no
 * one will shoot the peer, so a peer whose controller is not online is final: `fenced` when the
 * cluster expects it down (a clean shutdown), else `unreachable`. With STONITH, a peer Pacemaker
 * still has to fence stays `undecided` until it is shot or comes back.
 */
export function cibPeerView(ns: NodeStateAttrs | null, cluster: { stonithEnabled: boolean; startupFencing: boolean }): CibPeerView {
  const crmd = ns?.crmd ?? '';
  const inCcm = ns?.in_ccm;
  const expected = ns?.expected;
  let willFence = false;
  if (cluster.stonithEnabled && !(ns === null && !cluster.startupFencing)) {
    // Pacemaker's determine_online_status_fencing
    if (inCcm === undefined || inCcm === '') willFence = true;
    if (crmd === 'banned') willFence = true;
    const cleanDown = (expected ?? 'down') === 'down' && inCcm === 'false' && crmd !== 'online';
    if (!cleanDown && (inCcm === 'false' || crmd !== 'online')) willFence = true;
  }
  if (!willFence && crmd !== 'online') return `${expected}/${inCcm}` === 'down/false' ? 'fenced' : 'unreachable';
  if (crmd === 'online') return 'online';
  return 'undecided';
}

/** crm-fence-peer's $peer_state after polling. */
export type PeerState = 'reachable' | 'unreachable' | 'fenced' | 'unknown' | 'DC-unreachable';

/** The constraint with this handler's id: none, the one this node would place, or a different one. */
export type ConstraintOwner = 'none' | 'ours' | 'other';

export interface FenceInput {
  peer: PeerState;
  /** this node's disk and the peer's, from tandemd; null when the resource is not known there */
  disk: DiskState | null;
  peerDisk: DiskState | null;
  constraint: ConstraintOwner;
  /**
   * Tandem's extension (--ping-node): none of the ping nodes answered, so this node is the one
   * cut off, and a constraint placed in its partition would be wrong when the partitions merge.
   */
  isolated: boolean;
}

export interface FenceVerdict {
  place: boolean;
  /** the fence-peer exit code (fencing.ts): 4 fenced, 5 unreachable, 7 stonithed, 1 nothing established */
  exitCode: number;
  message: string;
  level: 'info' | 'warning';
}

const consistent = (d: DiskState | null): boolean => d === 'UpToDate' || d === 'Consistent';

/** drbd_peer_fencing fence: the verdict before the constraint is written; `place` failing turns it into exit 1. */
export function fenceVerdict(i: FenceInput, constraintId: string): FenceVerdict {
  const no = (exitCode: number, message: string): FenceVerdict => ({ place: false, exitCode, message, level: 'warning' });
  if (i.constraint === 'ours') return { place: false, exitCode: 4, message: `suitable constraint already placed: '${constraintId}'`, level: 'info' };
  if (i.constraint === 'other') return no(1, `constraint '${constraintId}' already exists and names another node: DATA INTEGRITY at RISK: could not place the fencing constraint!`);
  if (i.peerDisk === 'UpToDate') return no(1, 'All peer disks are UpToDate! Did not place the constraint.');
  if (i.disk === null) return no(1, 'could not determine my disk state: did not place the constraint!');
  if (i.isolated) return no(1, `no ping node answers: this node is the one cut off, did not place the constraint (my disk is ${i.disk})`);
  const placed = (exitCode: number, why: string): FenceVerdict => ({ place: true, exitCode, message: `${why}: placed constraint '${constraintId}'`, level: 'info' });
  if (i.peer === 'reachable' && consistent(i.disk)) return placed(4, `peer is reachable, my disk is ${i.disk}`);
  if (i.peer === 'fenced' && i.disk === 'UpToDate') return placed(7, 'peer is fenced, my disk is UpToDate');
  if (i.peer === 'DC-unreachable') return no(1, 'cannot reach the DC: could not place the fencing constraint!');
  if (i.disk === 'UpToDate') return placed(5, 'peer is not reachable, my disk is UpToDate');
  return no(5, `peer is ${i.peer}, my disk is ${i.disk}: did not place the constraint!`);
}

export interface UnfenceVerdict {
  remove: boolean;
  exitCode: number;
  message: string;
}

/** drbd_peer_fencing unfence: the constraint goes once both disks are UpToDate. */
export function unfenceVerdict(i: { constraint: ConstraintOwner; disk: DiskState | null; peerDisk: DiskState | null; onlyIfOwnerMatch: boolean }, constraintId: string): UnfenceVerdict {
  if (i.constraint === 'none') return { remove: false, exitCode: 0, message: 'No constraint in place, nothing to do.' };
  if (i.disk !== 'UpToDate' || i.peerDisk !== 'UpToDate') {
    const w = i.disk === 'UpToDate' ? "Peer's" : 'My';
    return { remove: false, exitCode: 1, message: `${w} disk(s) are NOT all UpToDate, leaving constraint in place.` };
  }
  if (i.onlyIfOwnerMatch && i.constraint === 'other') return { remove: false, exitCode: 0, message: 'Constraint owner does not match, leaving constraint in place.' };
  return { remove: true, exitCode: 0, message: `Removed constraint '${constraintId}'` };
}

/** The constraint: a promoted instance of the clone nowhere but on `node` (crm-fence-peer's new_constraint). */
export function fenceConstraintXml(o: { id: string; cloneId: string; node: string; role: string }): string {
  const a = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return (
    `<rsc_location rsc="${a(o.cloneId)}" id="${a(o.id)}">` +
    `<rule role="${a(o.role)}" score="-INFINITY" id="${a(o.id)}-rule">` +
    `<expression attribute="#uname" operation="ne" value="${a(o.node)}" id="${a(o.id)}-expr"/>` +
    `</rule></rsc_location>`
  );
}

/** The constraint id: DRBD's "drbd-fence-by-handler-<res>-<clone>" with Tandem's prefix. */
export function fenceConstraintId(prefix: string, resource: string, cloneId: string): string {
  return `${prefix}-${resource}-${cloneId}`;
}
