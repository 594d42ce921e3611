// Resource-level fencing: what the exit code of the fence-peer handler means for the peer's disk
// state (or our own), and when `outdate` may mark this node's data Outdated.
// Reference §2.3 (fence-peer exit codes, UG84 internals#s-fence-peer) and §6.2; the mapping follows
// d84:drbd_nl.c conn_try_outdate_peer. Pure.
import { diskRank, type DiskState, type Role } from './drbd-states.js';
import { isConnected, refuse, type ConnState, type Verdict } from './state-rules.js';

export type Fencing = 'dont-care' | 'resource-only' | 'resource-and-stonith';

export interface FenceOutcome {
  /** what the handler established about the peer's disk; absent when nothing was learned */
  peerDisk?: 'Inconsistent' | 'Outdated';
  /** exit 6: the peer is Primary, so this node outdates itself */
  localDisk?: 'Outdated';
  /** the peer may be treated as fenced (promotion may go on) */
  fenced: boolean;
  /** DRBD's wording after "fence-peer helper returned N" */
  text: string;
  /** a log line at error level (a broken script, 7 without stonith) */
  error?: string;
}

/**
 * `conn_try_outdate_peer`: 3 peer inconsistent, 4 peer outdated (or already was), 5 peer unreachable
 * (trusted only when our own data is UpToDate), 6 peer is Primary (outdate myself), 7 peer STONITHed.
 * Anything else (including a killed or unstartable handler) means the script is broken.
 */
export function fencePeerOutcome(exitCode: number | null, ctx: { disk: DiskState; fencing: Fencing }): FenceOutcome {
  switch (exitCode) {
    case 3:
      return { peerDisk: 'Inconsistent', fenced: true, text: 'peer is inconsistent or worse' };
    case 4:
      return { peerDisk: 'Outdated', fenced: true, text: 'peer was fenced' };
    case 5:
      if (ctx.disk === 'UpToDate') return { peerDisk: 'Outdated', fenced: true, text: 'peer is unreachable, assumed to be dead' };
      return { fenced: false, text: 'peer unreachable, doing nothing since disk != UpToDate' };
    case 6:
      return { localDisk: 'Outdated', fenced: false, text: 'peer is active', error: 'Peer is primary, outdating myself.' };
    case 7:
      return {
        peerDisk: 'Outdated',
        fenced: true,
        text: 'peer was stonithed',
        ...(ctx.fencing !== 'resource-and-stonith' ? { error: 'fence-peer() = 7 && fencing != Stonith !!!' } : {}),
      };
    default:
      return { fenced: false, text: 'broken', error: `fence-peer helper broken, returned ${exitCode === null ? 'no exit code' : exitCode}` };
  }
}

export interface OutdateView {
  role: Role;
  disk: DiskState;
  cs: ConnState;
}

/** `outdate`: only a disconnected Secondary with at least Outdated data (drbd_adm_outdate → is_valid_state). */
export function checkOutdate(v: OutdateView): Verdict {
  if (diskRank(v.disk) < diskRank('Outdated') || v.disk === 'DUnknown') return refuse('SS_LOWER_THAN_OUTDATED');
  if (isConnected(v.cs)) return refuse('SS_CONNECTED_OUTDATES');
  // an Outdated Primary without a peer would have no UpToDate data at all
  if (v.role === 'Primary') return refuse('SS_NO_UP_TO_DATE_DISK');
  return { ok: true };
}
