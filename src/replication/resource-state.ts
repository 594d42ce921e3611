// The resource's state: this node's role, disk and connection state and what it knows of the
// peer's role and disk (DRBD's role/pdsk/disk/conn). Every part of the resource reads it here and
// changes it only through the transitions below, which apply the rules that hold for every change
// (DRBD's sanitize_state: no peer role without a connection) and then tell the one observer the
// Resource installs (metadata flags, state handlers, IO freeze, status). The refusals (may I
// promote, demote, detach?) are the pure checks of state-rules.ts, which read this state.
import type { Logger } from 'pino';
import type { DiskState, Role } from './messages.js';
import type { ResourceMetadata } from './resource-metadata.js';
import { diskRank, isConnected, isSyncing, type ConnState } from './state-rules.js';

export interface StateFields {
  role: Role;
  peerRole: Role;
  disk: DiskState;
  peerDisk: DiskState;
  cs: ConnState;
}

export type StatePatch = Partial<StateFields>;
export type StateObserver = (before: StateFields, after: StateFields) => void;

export class ResourceState {
  private s: StateFields = { role: 'Secondary', peerRole: 'Unknown', disk: 'Diskless', peerDisk: 'DUnknown', cs: 'StandAlone' };
  private observer: StateObserver = () => undefined;

  constructor(private readonly log: Logger) {}

  get role(): Role {
    return this.s.role;
  }

  get peerRole(): Role {
    return this.s.peerRole;
  }

  get disk(): DiskState {
    return this.s.disk;
  }

  get peerDisk(): DiskState {
    return this.s.peerDisk;
  }

  get cs(): ConnState {
    return this.s.cs;
  }

  get connected(): boolean {
    return isConnected(this.s.cs);
  }

  /** a resync runs, paused or not */
  get syncRunning(): boolean {
    return isSyncing(this.s.cs) || this.s.cs === 'PausedSyncS' || this.s.cs === 'PausedSyncT';
  }

  get syncPausedState(): boolean {
    return this.s.cs === 'PausedSyncS' || this.s.cs === 'PausedSyncT';
  }

  get verifying(): boolean {
    return this.s.cs === 'VerifyS' || this.s.cs === 'VerifyT';
  }

  snapshot(): StateFields {
    return { ...this.s };
  }

  /** The Resource's hook: runs after every transition that changed something. */
  observe(fn: StateObserver): void {
    this.observer = fn;
  }

  /**
   * The transition: the fields given change at once, the invariants are restored, and when
   * anything changed it is logged ("state change") and the observer runs.
   */
  change(patch: StatePatch): void {
    const before = { ...this.s };
    Object.assign(this.s, patch);
    if (!isConnected(this.s.cs)) {
      this.s.peerRole = 'Unknown';
      // DRBD keeps a known-bad peer disk (Inconsistent, Outdated) across a disconnect: that is what
      // fencing records and what lets a node promote without its peer (sanitize_state)
      if (this.s.peerDisk !== 'Outdated' && this.s.peerDisk !== 'Inconsistent') this.s.peerDisk = 'DUnknown';
    }
    const after = { ...this.s };
    const changed = (Object.keys(after) as (keyof StateFields)[]).filter((k) => before[k] !== after[k]);
    if (changed.length === 0) return;
    this.log.info({ transition: Object.fromEntries(changed.map((k) => [k, `${before[k]} -> ${after[k]}`])) }, 'state change');
    this.observer(before, after);
  }

  /**
   * The role switched without a transition: promotion sets it before the device is exported (the
   * export sees a Primary) and the later change({ role }) then finds nothing to report to the
   * observer, exactly as before the split; demotion and shutdown do the same. It is logged here.
   */
  setRoleQuietly(role: Role): void {
    // logged as DRBD's role( Secondary -> Primary ): the moment a failover happened, for whoever reads the log
    if (this.s.role !== role) this.log.info({ transition: { role: `${this.s.role} -> ${role}` } }, 'state change');
    this.s.role = role;
  }

  /** What the metadata says of the peer's disk at attach (peer-outdated), while not connected. */
  setPeerDiskQuietly(disk: DiskState): void {
    this.s.peerDisk = disk;
  }
}

/**
 * DRBD recomputes the metadata flags on every state change (drbd_state.c ~1430). True when a flag
 * changed and the superblock must be written.
 */
export function applyStateToFlags(md: Pick<ResourceMetadata, 'flags'>, s: StateFields): boolean {
  // a failing disk is on its way out: its metadata keeps the last good flags (and the bitmap of
  // the failed blocks), so a later reattach knows the data was consistent up to there
  if (s.disk === 'Failed' || s.disk === 'Negotiating') return false;
  const f = md.flags;
  const set = (name: Parameters<typeof f.add>[0], on: boolean): boolean => {
    const had = f.has(name);
    if (on) f.add(name);
    else f.delete(name);
    return had !== on;
  };
  let dirty = false;
  dirty = set('primary-ind', s.role === 'Primary' || (s.peerRole === 'Primary' && diskRank(s.peerDisk) < diskRank('Inconsistent'))) || dirty;
  dirty = set('connected-ind', isConnected(s.cs)) || dirty;
  dirty = set('consistent', diskRank(s.disk) > diskRank('Inconsistent')) || dirty;
  dirty = set('was-up-to-date', diskRank(s.disk) > diskRank('Outdated')) || dirty;
  dirty = set('peer-outdated', s.peerDisk === 'Outdated' || s.peerDisk === 'Inconsistent') || dirty;
  if (s.disk === 'UpToDate' && s.peerDisk === 'UpToDate') dirty = set('crashed-primary', false) || dirty;
  return dirty;
}
