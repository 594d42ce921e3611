// What every part of one resource shares: its configuration and dependencies, its state
// (resource-state.ts), the attached disk and metadata, the live peer link and connection, the range
// lock, the requests in flight to the peer, the counters, and the few facts derived from them that
// several parts ask (is the local copy usable, does a write go to the peer, the exported size).
// Three verbs are bound by the Resource when it wires the parts, so that a part deep on a path can
// report a disk error or drop the connection without importing the part that handles it.
import type { Logger } from 'pino';
import { StorageError, type BlockDevice } from '../storage/block-device.js';
import type { ResolvedResource } from '../config/index.js';
import type { NbdBackend } from '../nbd/server.js';
import type { ParamsMsg } from './messages.js';
import type { PeerLink } from './peer-link.js';
import type { PeerConnection } from './peer-connection.js';
import { RangeLock } from './range-lock.js';
import { PeerPending, type AckLevel } from './peer-io.js';
import { PeerReads } from './peer-reads.js';
import type { SyncProgress } from './sync-progress.js';
import type { ResourceMetadata } from './resource-metadata.js';
import type { UuidEngine } from './uuid-engine.js';
import { diskRank, type ConnState, type RoleView } from './state-rules.js';
import { ResourceState } from './resource-state.js';
import type { Resource } from './resource.js';

export class ResourceError extends Error {
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

export interface ResourceDeps {
  logger: Logger;
  now: () => number;
  /** called whenever anything shown in the status changes */
  onChange: () => void;
  /** runs a DRBD handler (split-brain, pri-lost-after-sb, …); resolves with its exit code */
  runHandler: (name: string, env: Record<string, string>) => Promise<number | null>;
  /** starts/stops the block-device export of this resource (NBD server, kernel device) */
  exportDevice: (res: Resource, backend: NbdBackend) => Promise<void>;
  unexportDevice: (res: Resource) => Promise<void>;
  /** `resize` changed the exported size: the kernel device shows it (optional: tests without one) */
  resizeDevice?: (res: Resource) => Promise<void>;
  /** true while a client holds the exported device open */
  deviceOpen: (res: Resource) => boolean;
  uuids: UuidEngine;
  /** told of every handler DRBD would call, configured or not (metrics count split brains and fencing) */
  onHelper?: (res: Resource, handler: string) => void;
}

export interface Counters {
  ns: number; nr: number; dw: number; dr: number; al: number; bm: number;
  lo: number; pe: number; ua: number; ap: number; ep: number; oos: number;
}

export class ResourceContext {
  readonly log: Logger;
  readonly state: ResourceState;
  readonly counters: Counters = { ns: 0, nr: 0, dw: 0, dr: 0, al: 0, bm: 0, lo: 0, pe: 0, ua: 0, ap: 0, ep: 1, oos: 0 };
  /** the range lock: overlapping requests (application, replicated, resync) run in arrival order */
  readonly lock = new RangeLock();
  /** the writes and flushes sent to the peer and not yet acknowledged */
  readonly pending = new PeerPending();
  /** reads sent to the peer (a Primary whose own copy of the blocks is not good) */
  readonly peerReads = new PeerReads();

  dev: BlockDevice | null = null;
  md: ResourceMetadata | null = null;
  link: PeerLink | null = null;
  conn: PeerConnection | null = null;
  /** the peer's params of the current connection (updated by its later uuids) */
  peerParams: ParamsMsg | null = null;
  peerUsableSize = 0;
  /** the data generation a diskless Primary serves (through its peer); null while it has a disk */
  exposedUuid: bigint | null = null;
  /** pause-sync here (DRBD's user_isp) and on the peer (peer_isp, told in its state messages): either pauses the resync on both ends */
  userPaused = false;
  peerPaused = false;
  /** the running resync's or verify's progress */
  progress: SyncProgress | null = null;

  /** bound by the Resource: an I/O error of the backing disk (local-disk.ts) */
  onLocalIoError: (err: Error, where: string) => void = () => undefined;
  /** bound by the Resource: tear down our side of the connection, showing `next` meanwhile (connection.ts) */
  closeConnection: (reason: string, next: ConnState) => void = () => undefined;

  constructor(
    public cfg: ResolvedResource,
    readonly deps: ResourceDeps,
    /** the object the daemon knows the resource by (deviceOpen, export) */
    readonly owner: Resource,
  ) {
    this.log = deps.logger.child({ resource: cfg.name, peer: cfg.peer.name });
    this.state = new ResourceState(this.log);
  }

  get name(): string {
    return this.cfg.name;
  }

  /** `resize --size`: replaces disk { size } until the daemon stops (drbdsetup's u_size) */
  userSize: number | null = null;

  /**
   * disk { size } in effect: taken from the config at attach and by a resize, not when adjust
   * rereads the file (adjust then runs a resize, which may refuse: a lower size is an implicit
   * shrink). Until then the device keeps its size, as DRBD's kernel keeps its u_size.
   */
  appliedSize = 0;

  /** this node's usable size, or disk { size } when that is smaller (DRBD's user-set device size) */
  get localSize(): number {
    const usable = this.md?.usableSize ?? 0;
    const want = this.userSize ?? this.appliedSize;
    return want > 0 && usable > 0 ? Math.min(usable, want) : usable;
  }

  /** bytes the Primary exports: the smaller of both sizes once connected */
  get size(): number {
    const local = this.localSize;
    if (this.peerUsableSize > 0 && local > 0) return Math.min(local, this.peerUsableSize);
    return local || this.peerUsableSize;
  }

  /** DRBD: a resync runs only while neither end has paused it (user_isp here, peer_isp there). */
  get syncPaused(): boolean {
    return this.userPaused || this.peerPaused;
  }

  roleView(): RoleView {
    const s = this.state;
    return {
      role: s.role, peerRole: s.peerRole, disk: s.disk, peerDisk: s.peerDisk, cs: s.cs,
      deviceOpen: this.deps.deviceOpen(this.owner),
      fencing: this.cfg.disk.fencing,
      allowTwoPrimaries: false,
    };
  }

  /** The backing disk if I/O may use it: not while it is failing (Failed) or gone. */
  localDev(): BlockDevice | null {
    return this.state.disk === 'Failed' || this.state.disk === 'Diskless' ? null : this.dev;
  }

  /** The peer has all the data (UpToDate) and the link is up: reads can go there. */
  peerReadable(): boolean {
    return this.conn !== null && this.state.connected && this.state.peerDisk === 'UpToDate';
  }

  replicating(): boolean {
    const cs = this.state.cs;
    return this.conn !== null && (cs === 'Connected' || cs === 'SyncSource' || cs === 'PausedSyncS'
      || cs === 'WFBitMapS' || cs === 'SyncTarget' || cs === 'PausedSyncT' || cs === 'WFBitMapT' || cs === 'WFSyncUUID');
  }

  /** DRBD sends a write to the peer only if its disk can take it (pdsk ≥ Inconsistent). */
  peerWritable(): boolean {
    return this.replicating() && diskRank(this.state.peerDisk) >= diskRank('Inconsistent') && this.state.peerDisk !== 'DUnknown';
  }

  /** What completes a replicated write for the client: the peer's write (C), its receipt (B), nothing (A). */
  ackLevel(): AckLevel {
    return this.cfg.protocol === 'C' ? 'write' : this.cfg.protocol === 'B' ? 'recv' : 'none';
  }

  /** Application I/O is served by the Primary only. */
  assertServing(): void {
    if (this.state.role !== 'Primary') throw new StorageError('resource is Secondary', { code: 'EPERM', op: 'read', offset: 0, path: this.name });
  }

  oosKiB(): number {
    const md = this.md;
    if (!md) return 0;
    return Math.round((Math.min(md.bitmap.count() * md.bitmap.granularity, md.usableSize)) / 1024);
  }

  /** Our role, disk and pause flag to the peer. */
  sendState(): void {
    try {
      this.conn?.send({ type: 'state', role: this.state.role, disk: this.state.disk, userPaused: this.userPaused });
    } catch {
      /* the link is going away; the peer learns our state at the next handshake */
    }
  }

  persistSuperblock(): void {
    this.md?.saveSuperblock().catch((err: Error) => this.onLocalIoError(err, 'metadata write'));
  }
}
