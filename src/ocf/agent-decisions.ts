// What ocf:tandem:tandem tells Pacemaker for a given local state: the monitor's OCF exit code and
// the promotion score, as LINBIT's ocf:linbit:drbd decides them (drbd_status, drbd_monitor and
// drbd_update_master_score in drbd-utils' scripts/drbd.ocf) for one two-node resource with one
// volume. Pure: the agent (scripts/ocf/tandem) gets these through `tandemadm ocf-status`.
import type { ConnState, DiskState, Role } from '../replication/drbd-states.js';
import { isConnected } from '../replication/state-rules.js';

/** OCF 1.1 exit codes (../shared/reference/heartbeat-pacemaker-hast.md §B); 8/9 are *_MASTER in resource-agents 4.12. */
export const OCF = {
  SUCCESS: 0,
  ERR_GENERIC: 1,
  ERR_ARGS: 2,
  ERR_UNIMPLEMENTED: 3,
  ERR_PERM: 4,
  ERR_INSTALLED: 5,
  ERR_CONFIGURED: 6,
  NOT_RUNNING: 7,
  RUNNING_PROMOTED: 8,
  FAILED_PROMOTED: 9,
} as const;
export type OcfExitCode = (typeof OCF)[keyof typeof OCF];

/** The local resource as tandemd reports it; `null` when tandemd is not running at all. */
export interface LocalState {
  role: Role;
  disk: DiskState;
  peerDisk: DiskState;
  cs: ConnState;
}

export interface MonitorVerdict {
  rc: OcfExitCode;
  /** why, for the log and ocf_exit_reason */
  reason: string;
}

/** Diskless and StandAlone: what `down` leaves, DRBD's "Unconfigured". */
export function isUnconfigured(s: LocalState): boolean {
  return s.disk === 'Diskless' && s.cs === 'StandAlone' && s.role !== 'Primary';
}

/** A Primary can serve IO when it has UpToDate data locally or through a connected UpToDate peer. */
function reachesUpToDate(s: LocalState): boolean {
  return s.disk === 'UpToDate' || (isConnected(s.cs) && s.peerDisk === 'UpToDate');
}

/**
 * The monitor's answer. ocf:linbit:drbd: not configured → NOT_RUNNING, Primary → RUNNING_MASTER,
 * else SUCCESS. Tandem adds FAILED_PROMOTED for a Primary left without any UpToDate data (its disk
 * failed and the peer is gone): Pacemaker then demotes, stops and starts it, as for a failed
 * promoted instance, rather than keeping a Primary whose IO fails.
 */
export function monitorVerdict(s: LocalState | null): MonitorVerdict {
  if (s === null) return { rc: OCF.NOT_RUNNING, reason: 'tandemd is not running' };
  if (isUnconfigured(s)) return { rc: OCF.NOT_RUNNING, reason: 'resource is down (Diskless, StandAlone)' };
  if (s.role === 'Primary') {
    if (reachesUpToDate(s)) return { rc: OCF.RUNNING_PROMOTED, reason: `Primary (${s.disk}/${s.peerDisk}, ${s.cs})` };
    return { rc: OCF.FAILED_PROMOTED, reason: `Primary without access to UpToDate data (${s.disk}/${s.peerDisk}, ${s.cs})` };
  }
  return { rc: OCF.SUCCESS, reason: `Secondary (${s.disk}/${s.peerDisk}, ${s.cs})` };
}

/**
 * ocf:linbit:drbd's `adjust_master_score`: four non-decreasing scores for (1) only Consistent data,
 * (2) only the peer's UpToDate data, (3) UpToDate locally while the peer is unknown, (4) as good as
 * it gets (Primary and UpToDate, or UpToDate with the peer's disk known).
 */
export interface ScoreTable {
  onlyConsistent: number;
  onlyRemote: number;
  localOk: number;
  asGoodAsItGets: number;
}

export const DEFAULT_SCORES: ScoreTable = { onlyConsistent: 0, onlyRemote: 10, localOk: 1000, asGoodAsItGets: 10000 };
export const DEFAULT_SCORES_TEXT = '0 10 1000 10000';

/** Parses "0 10 1000 10000"; throws with the reason validate-all prints. */
export function parseScoreTable(text: string): ScoreTable {
  const words = text.trim().split(/\s+/).filter((w) => w !== '');
  if (words.length !== 4) throw new Error(`adjust_master_score needs four numbers, got ${words.length}: '${text}'`);
  const n = words.map((w) => {
    if (!/^-?\d+$/.test(w)) throw new Error(`adjust_master_score: '${w}' is not an integer`);
    return Number(w);
  });
  for (let i = 1; i < 4; i++) {
    if (n[i]! < n[i - 1]!) throw new Error(`adjust_master_score must not decrease: '${text}'`);
  }
  return { onlyConsistent: n[0]!, onlyRemote: n[1]!, localOk: n[2]!, asGoodAsItGets: n[3]! };
}

/**
 * What to do with this node's promotion score: `set` it (crm_master -l reboot -v N), `remove` it
 * (crm_master -l reboot -D: do not promote here) or `keep` what is there (a transitional disk
 * state says nothing yet). A score ≤ 0 is a removal, as in the DRBD agent's set_master_score.
 */
export type PromotionAction = { action: 'set'; score: number; reason: string } | { action: 'remove'; reason: string } | { action: 'keep'; reason: string };

const TRANSITIONAL: readonly DiskState[] = ['Attaching', 'Negotiating'];

export function promotionAction(s: LocalState | null, t: ScoreTable = DEFAULT_SCORES): PromotionAction {
  const set = (score: number, reason: string): PromotionAction => (score > 0 ? { action: 'set', score, reason } : { action: 'remove', reason });
  if (s === null || isUnconfigured(s)) return { action: 'remove', reason: 'not running' };
  if (s.disk === 'UpToDate') {
    if (s.role === 'Primary') return set(t.asGoodAsItGets, 'Primary with UpToDate data');
    // the peer may have better data we have not heard of: only the fence handler's constraint or
    // the peer's own lower score keeps Pacemaker from choosing wrongly
    if (s.peerDisk === 'DUnknown') return set(t.localOk, 'UpToDate, peer disk unknown');
    return set(t.asGoodAsItGets, `UpToDate, peer ${s.peerDisk}`);
  }
  if (isConnected(s.cs) && s.peerDisk === 'UpToDate') return set(t.onlyRemote, `${s.disk}, reaches the peer's UpToDate data`);
  if (TRANSITIONAL.includes(s.disk)) return { action: 'keep', reason: `${s.disk} (transitional)` };
  if (s.disk === 'Consistent') return set(t.onlyConsistent, 'only Consistent data');
  return { action: 'remove', reason: `no usable data (${s.disk}/${s.peerDisk})` };
}
