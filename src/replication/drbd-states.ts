// DRBD 8.4's state enumerations (reference §6.1), by name. The order of the names matters:
// DRBD compares states numerically ("disk > Inconsistent", "conn < Connected"), so each list
// is kept in DRBD's enum order and the rank helpers give that order back.

export const CONN_STATES = [
  'StandAlone', 'Disconnecting', 'Unconnected', 'Timeout', 'BrokenPipe', 'NetworkFailure',
  'ProtocolError', 'TearDown', 'WFConnection', 'WFReportParams', 'Connected',
  'StartingSyncS', 'StartingSyncT', 'WFBitMapS', 'WFBitMapT', 'WFSyncUUID',
  'SyncSource', 'SyncTarget', 'VerifyS', 'VerifyT', 'PausedSyncS', 'PausedSyncT',
] as const;
export type ConnState = (typeof CONN_STATES)[number];

export const ROLES = ['Unknown', 'Primary', 'Secondary'] as const;
export type Role = (typeof ROLES)[number];

export const DISK_STATES = [
  'Diskless', 'Attaching', 'Failed', 'Negotiating', 'Inconsistent',
  'Outdated', 'DUnknown', 'Consistent', 'UpToDate',
] as const;
export type DiskState = (typeof DISK_STATES)[number];

/** DRBD's numeric value of a disk state (Diskless = 0 … UpToDate = 8); -1 for a name DRBD does not know. */
export function diskRank(d: DiskState): number {
  return (DISK_STATES as readonly string[]).indexOf(d);
}

/** DRBD's numeric value of a connection state (StandAlone = 0 … PausedSyncT = 21); -1 if unknown. */
export function connRank(c: ConnState): number {
  return (CONN_STATES as readonly string[]).indexOf(c);
}

export function isConnState(v: unknown): v is ConnState {
  return typeof v === 'string' && (CONN_STATES as readonly string[]).includes(v);
}
export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}
export function isDiskState(v: unknown): v is DiskState {
  return typeof v === 'string' && (DISK_STATES as readonly string[]).includes(v);
}
