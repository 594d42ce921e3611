// Which user-requested state changes DRBD allows, and the exact reason it gives when it refuses
// (drbd_state.c is_valid_state / is_valid_soft_transition; strings from drbd_strings.c).
// Pure: the daemon asks before it acts, and tests walk the table.
import { connRank, diskRank, type ConnState, type DiskState, type Role } from './drbd-states.js';

export type { ConnState } from './drbd-states.js';
export { connRank, diskRank } from './drbd-states.js';

export function isConnected(cs: ConnState): boolean {
  return connRank(cs) >= connRank('Connected');
}
export function isSyncing(cs: ConnState): boolean {
  return cs === 'SyncSource' || cs === 'SyncTarget' || cs === 'PausedSyncS' || cs === 'PausedSyncT'
    || cs === 'StartingSyncS' || cs === 'StartingSyncT' || cs === 'WFBitMapS' || cs === 'WFBitMapT' || cs === 'WFSyncUUID';
}

export type StateError =
  | 'SS_TWO_PRIMARIES' | 'SS_NO_UP_TO_DATE_DISK' | 'SS_NO_LOCAL_DISK' | 'SS_NO_REMOTE_DISK'
  | 'SS_PRIMARY_NOP' | 'SS_RESYNC_RUNNING' | 'SS_ALREADY_STANDALONE' | 'SS_IS_DISKLESS'
  | 'SS_DEVICE_IN_USE' | 'SS_NO_VERIFY_ALG' | 'SS_NEED_CONNECTION' | 'SS_LOWER_THAN_OUTDATED'
  | 'SS_IN_TRANSIENT_STATE' | 'SS_CONNECTED_OUTDATES';

const STATE_ERRORS: Record<StateError, { code: number; text: string; exit: number }> = {
  SS_TWO_PRIMARIES: { code: -1, text: 'Multiple primaries not allowed by config', exit: 11 },
  SS_NO_UP_TO_DATE_DISK: { code: -2, text: 'Need access to UpToDate data', exit: 17 },
  SS_NO_LOCAL_DISK: { code: -4, text: 'Can not resync without local disk', exit: 16 },
  SS_NO_REMOTE_DISK: { code: -5, text: 'Can not resync without remote disk', exit: 11 },
  SS_CONNECTED_OUTDATES: { code: -6, text: 'Refusing to be Outdated while Connected', exit: 11 },
  SS_PRIMARY_NOP: { code: -7, text: 'Refusing to be Primary while peer is not outdated', exit: 11 },
  SS_RESYNC_RUNNING: { code: -8, text: 'Can not start OV/resync since it is already active', exit: 11 },
  SS_ALREADY_STANDALONE: { code: -9, text: 'Can not disconnect a StandAlone device', exit: 11 },
  SS_IS_DISKLESS: { code: -11, text: 'Device is diskless, the requested operation requires a disk', exit: 11 },
  SS_DEVICE_IN_USE: { code: -12, text: 'Device is held open by someone', exit: 11 },
  SS_NO_VERIFY_ALG: { code: -14, text: 'Need a verify algorithm to start online verify', exit: 11 },
  SS_NEED_CONNECTION: { code: -15, text: 'Need a connection to start verify or resync', exit: 11 },
  SS_LOWER_THAN_OUTDATED: { code: -16, text: 'Disk state is lower than outdated', exit: 5 },
  SS_IN_TRANSIENT_STATE: { code: -18, text: 'In transient state, retry after next state change', exit: 11 },
};

export interface Refusal {
  ok: false;
  error: StateError;
  /** DRBD's wording: "State change failed: (-2) Need access to UpToDate data" */
  message: string;
  exitCode: number;
}
export type Verdict = { ok: true } | Refusal;

export function refuse(error: StateError): Refusal {
  const e = STATE_ERRORS[error];
  return { ok: false, error, message: `State change failed: (${e.code}) ${e.text}`, exitCode: e.exit };
}

export interface RoleView {
  role: Role;
  peerRole: Role;
  disk: DiskState;
  peerDisk: DiskState;
  cs: ConnState;
  /** the kernel device or an NBD client holds the device open */
  deviceOpen: boolean;
  fencing: 'dont-care' | 'resource-only' | 'resource-and-stonith';
  allowTwoPrimaries: boolean;
}

/** `primary [--force]` */
export function checkPromote(v: RoleView, force: boolean): Verdict {
  if (v.role === 'Primary') return { ok: true };
  if (v.cs === 'WFReportParams') return refuse('SS_IN_TRANSIENT_STATE');
  const connected = isConnected(v.cs);
  if (connected && v.peerRole === 'Primary' && !v.allowTwoPrimaries) return refuse('SS_TWO_PRIMARIES');
  if (v.disk === 'Diskless' || v.disk === 'Failed' || v.disk === 'Attaching') {
    // a diskless Primary is possible only through an UpToDate peer
    return connected && v.peerDisk === 'UpToDate' ? { ok: true } : refuse('SS_NO_UP_TO_DATE_DISK');
  }
  if (force) return { ok: true };
  if (v.disk === 'UpToDate') {
    if (!connected && v.fencing !== 'dont-care' && v.peerDisk === 'DUnknown') return refuse('SS_PRIMARY_NOP');
    return { ok: true };
  }
  // Inconsistent/Outdated/Consistent local data: only with an UpToDate peer to read through
  if (connected && v.peerDisk === 'UpToDate' && v.disk !== 'Outdated') return { ok: true };
  return refuse('SS_NO_UP_TO_DATE_DISK');
}

/** `secondary` */
export function checkDemote(v: RoleView): Verdict {
  if (v.role !== 'Primary') return { ok: true };
  if (v.deviceOpen) return refuse('SS_DEVICE_IN_USE');
  return { ok: true };
}

/** `invalidate` (become SyncTarget of a full sync) and `invalidate-remote` (become SyncSource) */
export function checkInvalidate(v: RoleView, remote: boolean): Verdict {
  if (isSyncing(v.cs) || v.cs === 'VerifyS' || v.cs === 'VerifyT') return refuse('SS_RESYNC_RUNNING');
  if (v.disk === 'Diskless') return refuse('SS_IS_DISKLESS');
  if (!isConnected(v.cs)) {
    // DRBD allows a disconnected invalidate (it just marks everything out of sync); remote needs the peer
    return remote ? refuse('SS_NEED_CONNECTION') : { ok: true };
  }
  if (remote) return v.disk === 'UpToDate' ? { ok: true } : refuse('SS_NO_UP_TO_DATE_DISK');
  if (v.peerDisk !== 'UpToDate') return refuse('SS_NO_UP_TO_DATE_DISK');
  if (v.role === 'Primary') return refuse('SS_NO_UP_TO_DATE_DISK');
  return { ok: true };
}

export function checkVerify(v: RoleView, verifyAlg: string | undefined): Verdict {
  if (!isConnected(v.cs)) return refuse('SS_NEED_CONNECTION');
  if (v.cs !== 'Connected') return refuse('SS_RESYNC_RUNNING');
  if (!verifyAlg) return refuse('SS_NO_VERIFY_ALG');
  if (v.disk !== 'UpToDate' || v.peerDisk !== 'UpToDate') return refuse('SS_NO_UP_TO_DATE_DISK');
  return { ok: true };
}

export function checkDisconnect(v: RoleView): Verdict {
  return v.cs === 'StandAlone' ? refuse('SS_ALREADY_STANDALONE') : { ok: true };
}

/**
 * DRBD's pri-on-incon-degr handler runs when a state change makes this node a Primary whose own
 * disk and peer disk are both below UpToDate (after_state_ch: no good copy of the data is
 * reachable any more), and not again while that lasts.
 */
export function entersPrimaryWithoutGoodData(
  before: { role: Role; disk: DiskState; peerDisk: DiskState },
  after: { role: Role; disk: DiskState; peerDisk: DiskState },
): boolean {
  const bad = (s: typeof before) => s.role === 'Primary' && diskRank(s.disk) < diskRank('UpToDate') && diskRank(s.peerDisk) < diskRank('UpToDate');
  return !bad(before) && bad(after);
}

/** before-resync-source / before-resync-target: DRBD drops the connection on an exit code > 0 (3 on the source: old tools, ignored). */
export function resyncHandlerVerdict(handler: 'before-resync-source' | 'before-resync-target', code: number | null): 'go' | 'disconnect' {
  if (code === null || code === 0) return 'go';
  if (handler === 'before-resync-source' && code === 3) return 'go';
  return 'disconnect';
}
