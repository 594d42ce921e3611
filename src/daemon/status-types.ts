// The status snapshot tandemd produces once per change: what /proc/drbd shows for one minor
// (reference §7.1), as plain JSON-able data. `tandemadm status --json` prints these objects as is;
// status-render.ts turns them into the /proc/drbd and `drbdadm status` texts.

export type { ConnState, DiskState, Role } from '../replication/drbd-states.js';
import type { ConnState, DiskState, Role } from '../replication/drbd-states.js';

/** Why IO is suspended (DRBD's susp, susp_nod, susp_fen); any of them shows as `s` in /proc/drbd. */
export type SuspendReason = 'user' | 'no-data' | 'fencing';

/**
 * The fifth /proc/drbd flag: what blocks IO right now. `-` none, `d` IO frozen by DRBD, `c` waiting
 * for a user-mode helper, `b` backing device congested, `n` network congested, `a` both.
 */
export type BlockedReason = 'none' | 'io-frozen' | 'helper' | 'backing' | 'network' | 'backing-and-network';

/** `wo:` — write ordering in use: b(arrier), f(lush), d(rain), n(one). */
export type WriteOrdering = 'b' | 'f' | 'd' | 'n';

/** The six `r-----` characters. */
export interface IoFlags {
  /** empty while IO runs (`r`) */
  suspended: SuspendReason[];
  /** `a`: resync paused by a resync-after dependency (aftr_isp) */
  pausedByDependency: boolean;
  /** `p`: resync paused by the peer (peer_isp) */
  pausedByPeer: boolean;
  /** `u`: resync paused locally with pause-sync (user_isp) */
  pausedByUser: boolean;
  blocked: BlockedReason;
  /** last `s`: activity-log updates suspended */
  alSuspended: boolean;
}

/** The counters line. Amounts are KiB as in DRBD; al/bm are write counts; lo…ep are request counts. */
export interface StatusCounters {
  ns: number;
  nr: number;
  dw: number;
  dr: number;
  al: number;
  bm: number;
  lo: number;
  pe: number;
  ua: number;
  ap: number;
  ep: number;
  wo: WriteOrdering;
  oos: number;
}

/** Progress of a resync or an online verify. */
export interface SyncProgress {
  /** percent done, one decimal, as the bar shows it (use `perMilleDone(leftKiB, totalKiB) / 10`) */
  percent: number;
  /** amount the resync/verify started with, KiB */
  totalKiB: number;
  /** still to do, KiB (out-of-sync minus failed blocks; for verify: what is left to compare) */
  leftKiB: number;
  /** recent rate (DRBD averages over ~18 s of marks), KiB/s */
  speedKiBs: number;
  /** mean rate since the start, paused time excluded, KiB/s */
  avgSpeedKiBs: number;
  /** estimated seconds to finish */
  etaSec: number;
  paused: boolean;
  /** the controller's target rate (`want:`); printed on SyncTarget and VerifyS like DRBD */
  wantKiBs?: number;
  /** no progress for more than 180 s: ` (stalled)` */
  stalled?: boolean;
}

export interface ResourceStatus {
  minor: number;
  name: string;
  /** the peer's node name (`on NAME` section); `drbdadm status` shows it as the connection name */
  peerName?: string;
  cs: ConnState;
  role: Role;
  peerRole: Role;
  disk: DiskState;
  peerDisk: DiskState;
  /** null when there is no net config (printed as a space) */
  protocol: 'A' | 'B' | 'C' | null;
  flags: IoFlags;
  counters: StatusCounters;
  /** while SyncSource/SyncTarget (also kept, not printed, while paused) */
  sync?: SyncProgress;
  /** while VerifyS/VerifyT */
  verify?: SyncProgress;
  /** Tandem's extras for `status --json` (not printed in /proc/drbd) */
  sizeBytes?: number;
  uuids?: { current: string; bitmap: string; history: [string, string] };
  dirtyBits?: number;
}

export const IDLE_IO_FLAGS: IoFlags = {
  suspended: [],
  pausedByDependency: false,
  pausedByPeer: false,
  pausedByUser: false,
  blocked: 'none',
  alSuspended: false,
};
