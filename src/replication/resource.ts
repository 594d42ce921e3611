// One replicated resource on this node: the backing disk with its metadata and bitmap, the role,
// the link to the peer, the write path on the Primary, the apply path on the Secondary and resync.
// The decisions it takes (may I promote? which way to sync? who wins a split-brain?) are pure
// functions in their own files; this class is the edge that performs them.
import type { Logger } from 'pino';
import { BlockDevice, StorageError, type FaultSpec } from '../storage/block-device.js';
import { crc32c } from '../storage/checksum.js';
import { BULK_WRITE_BYTES, WriteCoalescer } from '../storage/write-coalescer.js';
import { POOLED_BYTES, allocPayload, drainPayloadPool, recyclePayload } from '../storage/bulk-buffer.js';
import type { ResolvedResource } from '../config/index.js';
import type { NbdBackend } from '../nbd/server.js';
import type { ChecksumRequestMsg, DataMsg, DiskState, ParamsMsg, PeerMessage, ReadReplyMsg, ReadRequestMsg, Role, WireUuids } from './messages.js';
import { PROTOCOL_VERSION } from './messages.js';
import { PeerLink } from './peer-link.js';
import type { PeerConnection } from './peer-connection.js';
import { RangeLock, type Release } from './range-lock.js';
import { KoWatch } from './ko-count.js';
import { VERIFY_BLOCK, blockDigests, differingBlocks, verifyAlgSupported } from './verify-digest.js';
import { PeerPending, type AckLevel } from './peer-io.js';
import { ResyncPlanner, resyncWindow } from './resync-planner.js';
import { SyncProgress } from './sync-progress.js';
import {
  checkDemote, checkDisconnect, checkInvalidate, checkPromote, checkVerify, diskRank, entersPrimaryWithoutGoodData, isConnected, isSyncing,
  refuse, resyncHandlerVerdict, type ConnState, type RoleView, type Verdict,
} from './state-rules.js';
import { openResourceMetadata, type ResourceMetadata } from './resource-metadata.js';
import { maskRoleBit, onSkipInitialSyncReceived } from './generation-uuids.js';
import { parseWireUuid, uuidsFromWire, uuidsToWire, type UuidEngine } from './uuid-engine.js';
import { decideConnect, type ConnectDecision } from './connect-decision.js';
import { handlerEnv } from './handler-env.js';
import { PeerReads } from './peer-reads.js';
import { checkOutdate, fencePeerOutcome, type FenceOutcome } from './fencing.js';
import { IDLE_IO_FLAGS, type ResourceStatus, type SyncProgress as SyncProgressStatus } from '../daemon/status-types.js';
import { perMilleDone } from '../daemon/status-render.js';

const RESYNC_IN_FLIGHT = 256;
const VERIFY_CHUNK = 1 << 20;
const BITMAP_FLUSH_MS = 1000;
/** well below the peer link's 16 MiB frame payload limit */
const BITMAP_PIECE_BYTES = 4 << 20;
/** reads through the peer are split so no reply exceeds a comfortable frame size */
const PEER_READ_CHUNK = 1 << 20;

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
  /** true while a client holds the exported device open */
  deviceOpen: (res: Resource) => boolean;
  uuids: UuidEngine;
  /** told of every handler DRBD would call, configured or not (metrics count split brains and fencing) */
  onHelper?: (res: Resource, handler: string) => void;
}

interface Counters {
  ns: number; nr: number; dw: number; dr: number; al: number; bm: number;
  lo: number; pe: number; ua: number; ap: number; ep: number; oos: number;
}

export class Resource implements NbdBackend {
  role: Role = 'Secondary';
  peerRole: Role = 'Unknown';
  disk: DiskState = 'Diskless';
  peerDisk: DiskState = 'DUnknown';
  cs: ConnState = 'StandAlone';
  readonly log: Logger;

  private dev: BlockDevice | null = null;
  private md: ResourceMetadata | null = null;
  private link: PeerLink | null = null;
  private conn: PeerConnection | null = null;
  private readonly lock = new RangeLock();
  private readonly pending = new PeerPending();
  private planner: ResyncPlanner | null = null;
  private progress: SyncProgress | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  private bitmapTimer: NodeJS.Timeout | null = null;
  private peerParams: ParamsMsg | null = null;

  private peerBitmapParts: { total: number; got: number } | null = null;
  private peerBitmapReceived = false;
  /** the data generation a diskless Primary serves (through its peer); null while it has a disk */
  private exposedUuid: bigint | null = null;
  private localBitmapSent = false;
  private decision: ConnectDecision | null = null;
  private discardMyData = false;
  private peerUsableSize = 0;
  /** pause-sync here (DRBD's user_isp) and on the peer (peer_isp, told in its state messages): either pauses the resync on both ends */
  private userPaused = false;
  private peerPaused = false;
  private verifyState: { next: number; inFlight: number; oos: number; total: number } | null = null;
  private exported = false;
  /** set while a failed disk is being taken away (Failed → Diskless) */
  private detaching: Promise<void> | null = null;
  /** we attached on a live connection and re-sent our params; the peer's answer starts the handshake */
  private renegotiating = false;
  /** the disk state our metadata gives while the live state shows Negotiating */
  private negotiatedDisk: DiskState | null = null;
  private readonly peerReads = new PeerReads();
  private fencing: Promise<FenceOutcome | null> | null = null;
  /**
   * DRBD's susp-fen: under `fencing resource-and-stonith` a Primary that loses its peer holds all
   * application IO until the fence-peer handler has fenced the peer, the peer is back, or the
   * administrator runs resume-io. Nothing is acknowledged meanwhile that the peer might not have.
   */
  private ioFreeze: { waiters: (() => void)[] } | null = null;
  /** net { timeout; ko-count; }: expels a peer that stops completing writes (ko-count.ts) */
  private koTimer: NodeJS.Timeout | null = null;
  /** the SyncSource's before-resync-source handler: resync requests are served once it succeeded */
  private sourceGate: Promise<boolean> | null = null;
  /** came back from being a degraded Primary (PRIMARY_IND without CONNECTED_IND): wait-connect uses degr-wfc-timeout */
  degradedAtAttach = false;
  readonly counters: Counters = { ns: 0, nr: 0, dw: 0, dr: 0, al: 0, bm: 0, lo: 0, pe: 0, ua: 0, ap: 0, ep: 1, oos: 0 };

  constructor(public cfg: ResolvedResource, private readonly deps: ResourceDeps) {
    this.log = deps.logger.child({ resource: cfg.name, peer: cfg.peer.name });
  }

  get name(): string {
    return this.cfg.name;
  }

  /** this node's usable size, or disk { size } when that is smaller (DRBD's user-set device size) */
  private get localSize(): number {
    const usable = this.md?.usableSize ?? 0;
    const want = this.cfg.disk.sizeBytes;
    return want > 0 && usable > 0 ? Math.min(usable, want) : usable;
  }

  /** bytes the Primary exports: the smaller of both sizes once connected */
  get size(): number {
    const local = this.localSize;
    if (this.peerUsableSize > 0 && local > 0) return Math.min(local, this.peerUsableSize);
    return local || this.peerUsableSize;
  }

  get readOnly(): boolean {
    return false;
  }

  get isAttached(): boolean {
    return this.dev !== null;
  }

  get isUp(): boolean {
    return this.dev !== null || this.link !== null;
  }

  private setState(patch: Partial<{ role: Role; peerRole: Role; disk: DiskState; peerDisk: DiskState; cs: ConnState }>): void {
    const before = { role: this.role, peerRole: this.peerRole, disk: this.disk, peerDisk: this.peerDisk, cs: this.cs };
    Object.assign(this, patch);
    if (!isConnected(this.cs)) {
      this.peerRole = 'Unknown';
      // DRBD keeps a known-bad peer disk (Inconsistent, Outdated) across a disconnect: that is what
      // fencing records and what lets a node promote without its peer (sanitize_state)
      if (this.peerDisk !== 'Outdated' && this.peerDisk !== 'Inconsistent') this.peerDisk = 'DUnknown';
    }
    const after = { role: this.role, peerRole: this.peerRole, disk: this.disk, peerDisk: this.peerDisk, cs: this.cs };
    const changed = (Object.keys(after) as (keyof typeof after)[]).filter((k) => before[k] !== after[k]);
    if (changed.length > 0) {
      this.log.info({ transition: Object.fromEntries(changed.map((k) => [k, `${before[k]} -> ${after[k]}`])) }, 'state change');
      this.updateFlags();
      if (entersPrimaryWithoutGoodData(before, after)) void this.runHandler('pri-on-incon-degr');
      if (this.ioFreeze && (isConnected(this.cs) || this.role !== 'Primary')) this.thawIo(isConnected(this.cs) ? 'the peer is back' : 'no longer Primary');
      this.deps.onChange();
    }
  }

  private freezeIo(): void {
    if (this.ioFreeze) return;
    this.ioFreeze = { waiters: [] };
    this.log.warn('IO suspended until the fence-peer handler fences the peer (fencing resource-and-stonith)');
    this.deps.onChange();
  }

  private thawIo(why: string): void {
    const f = this.ioFreeze;
    if (!f) return;
    this.ioFreeze = null;
    this.log.info({ why, waiting: f.waiters.length }, 'IO resumed');
    for (const w of f.waiters) w();
    this.deps.onChange();
  }

  /** null when IO may run; else resolves when it may. Waiting requests count as application-pending (ap). */
  private ioGate(): Promise<void> | null {
    const f = this.ioFreeze;
    if (!f) return null;
    this.counters.ap++;
    this.deps.onChange();
    return new Promise((resolve) =>
      f.waiters.push(() => {
        this.counters.ap--;
        resolve();
      }),
    );
  }

  /** `resume-io`: lets frozen IO go on (a fence-peer handler that failed leaves it frozen). */
  resumeIo(): Verdict {
    this.thawIo('resume-io');
    return { ok: true };
  }

  /** DRBD recomputes the metadata flags on every state change (drbd_state.c ~1430). */
  private updateFlags(): void {
    const md = this.md;
    // a failing disk is on its way out: its metadata keeps the last good flags (and the bitmap of
    // the failed blocks), so a later reattach knows the data was consistent up to there
    if (!md || this.disk === 'Failed' || this.disk === 'Negotiating') return;
    const f = md.flags;
    const set = (name: Parameters<typeof f.add>[0], on: boolean): boolean => {
      const had = f.has(name);
      if (on) f.add(name);
      else f.delete(name);
      return had !== on;
    };
    let dirty = false;
    dirty = set('primary-ind', this.role === 'Primary' || (this.peerRole === 'Primary' && diskRank(this.peerDisk) < diskRank('Inconsistent'))) || dirty;
    dirty = set('connected-ind', isConnected(this.cs)) || dirty;
    dirty = set('consistent', diskRank(this.disk) > diskRank('Inconsistent')) || dirty;
    dirty = set('was-up-to-date', diskRank(this.disk) > diskRank('Outdated')) || dirty;
    dirty = set('peer-outdated', this.peerDisk === 'Outdated' || this.peerDisk === 'Inconsistent') || dirty;
    if (this.disk === 'UpToDate' && this.peerDisk === 'UpToDate') dirty = set('crashed-primary', false) || dirty;
    if (dirty) this.persistSuperblock();
  }

  private persistSuperblock(): void {
    this.md?.saveSuperblock().catch((err: Error) => this.onLocalIoError(err, 'metadata write'));
  }

  roleView(): RoleView {
    return {
      role: this.role, peerRole: this.peerRole, disk: this.disk, peerDisk: this.peerDisk, cs: this.cs,
      deviceOpen: this.deps.deviceOpen(this),
      fencing: this.cfg.disk.fencing,
      allowTwoPrimaries: false,
    };
  }

  // ---------------------------------------------------------------- attach / detach

  async attach(): Promise<void> {
    if (this.detaching) await this.detaching;
    if (this.dev) return;
    const unsupported = this.cfg.unsupported;
    if (unsupported.length > 0) {
      const u = unsupported[0]!;
      throw new ResourceError(`${this.name}: option '${u.option}' (${u.file}:${u.line}) is not supported by Tandem; remove it to bring the resource up`, 10);
    }
    this.setState({ disk: 'Attaching' });
    let dev: BlockDevice;
    try {
      dev = BlockDevice.open(this.cfg.self.disk);
    } catch (err) {
      this.setState({ disk: 'Diskless' });
      throw new ResourceError(`${this.name}: cannot open backing disk: ${(err as Error).message}`, 10);
    }
    let md: ResourceMetadata;
    try {
      md = await openResourceMetadata(dev, this.cfg);
    } catch (err) {
      dev.close();
      this.setState({ disk: 'Diskless' });
      throw new ResourceError(`${this.name}: ${(err as Error).message}`, 10);
    }
    const wantSize = this.cfg.disk.sizeBytes;
    if (wantSize > md.usableSize) {
      dev.close();
      this.setState({ disk: 'Diskless' });
      throw new ResourceError(`${this.name}: (111) Low.dev. smaller than requested DRBD-dev. size: disk { size } asks for ${wantSize} bytes, the backing device holds ${md.usableSize} usable bytes`, 10);
    }
    this.dev = dev;
    this.md = md;
    this.exposedUuid = null;
    this.degradedAtAttach = md.flags.has('primary-ind') && !md.flags.has('connected-ind');
    // A node that went down while Primary comes back with CRASHED_PRIMARY and its activity log
    // extents marked out of sync, so the blocks it may have written alone are resynced.
    if (md.flags.has('primary-ind') || md.flags.has('crashed-primary')) {
      md.flags.add('crashed-primary');
      for (const r of md.alRecovered) md.bitmap.setRange(r.offset, r.length);
      this.log.warn({ extents: md.alRecovered.length }, 'crashed primary: activity log applied to the bitmap');
    }
    if (md.flags.has('full-sync')) md.bitmap.setAll();
    let disk: DiskState = md.flags.has('consistent') ? (md.flags.has('was-up-to-date') ? 'Consistent' : 'Outdated') : 'Inconsistent';
    let peerDisk: DiskState = 'DUnknown';
    if (md.flags.has('peer-outdated')) peerDisk = 'Outdated';
    if (disk === 'Consistent' && (peerDisk === 'Outdated' || this.cfg.disk.fencing === 'dont-care')) disk = 'UpToDate';
    // demote on disk: roles are not persistent, a restarted node is Secondary
    md.flags.delete('primary-ind');
    await md.saveSuperblock();
    await md.flushBitmap();
    const conn = this.conn;
    if (conn && isConnected(this.cs)) {
      // attaching on a live connection (e.g. a repaired disk under a diskless Primary): the data
      // must be negotiated again, exactly like a fresh connect, before this disk is trusted
      this.negotiatedDisk = disk;
      this.renegotiating = true;
      this.setState({ disk: 'Negotiating' });
      this.sendParams(conn);
    } else {
      this.setState({ disk });
      if (!isConnected(this.cs)) this.peerDisk = peerDisk;
    }
    this.counters.oos = this.oosKiB();
    this.bitmapTimer = setInterval(() => {
      this.md?.flushBitmap().catch((err: Error) => this.onLocalIoError(err, 'bitmap write'));
      this.deps.onChange();
    }, BITMAP_FLUSH_MS);
    this.bitmapTimer.unref();
    this.log.info({ size: md.usableSize, dirtyBits: md.bitmap.count(), uuids: uuidsToWire(md.uuids) }, 'attached');
  }

  async detach(): Promise<void> {
    if (!this.dev) {
      if (this.detaching) await this.detaching;
      return;
    }
    // a Primary may only go diskless when an UpToDate peer serves its I/O from then on
    if (this.role === 'Primary' && !(this.replicating() && this.peerDisk === 'UpToDate')) {
      const r = refuse('SS_NO_UP_TO_DATE_DISK');
      throw new ResourceError(`${this.cfg.self.minor}: ${r.message}`, r.exitCode);
    }
    await this.lock.drain();
    this.abortSync('local disk detached');
    await this.closeDisk();
    this.setState({ disk: 'Diskless' });
    this.sendState();
  }

  /** "A disk failing during sync or verify aborts it (conn → Connected)." */
  private abortSync(reason: string): void {
    const active = isSyncing(this.cs) || this.cs === 'PausedSyncS' || this.cs === 'PausedSyncT' || this.cs === 'VerifyS' || this.cs === 'VerifyT';
    this.stopResync();
    this.verifyState = null;
    this.decision = null;
    this.peerBitmapReceived = false;
    this.peerBitmapParts = null;
    this.localBitmapSent = false;
    if (active && this.conn) {
      this.log.warn({ reason, cs: this.cs }, 'resync/verify aborted');
      this.setState({ cs: 'Connected' });
    }
  }

  private sendState(): void {
    try {
      this.conn?.send({ type: 'state', role: this.role, disk: this.disk, userPaused: this.userPaused });
    } catch {
      /* the link is going away; the peer learns our state at the next handshake */
    }
  }

  private async closeDisk(): Promise<void> {
    if (this.bitmapTimer) clearInterval(this.bitmapTimer);
    this.bitmapTimer = null;
    const md = this.md;
    const dev = this.dev;
    // a Primary without its disk exposes this generation of the data; only a peer holding exactly
    // it may serve it from now on (DRBD's exposed data UUID)
    if (md && this.role === 'Primary') this.exposedUuid = maskRoleBit(md.uuids.current);
    this.md = null;
    this.dev = null;
    if (md) {
      try {
        await md.markClean();
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'could not persist metadata on detach');
      }
      md.close();
    }
    dev?.close();
  }

  /**
   * An I/O error of the backing disk, handled by `on-io-error` (reference §10.2): `pass_on` reports
   * it up and marks the disk Inconsistent (metadata errors still detach); `detach` and
   * `call-local-io-error` take the disk away (Failed → Diskless), the latter after starting the
   * local-io-error handler. Idempotent while a detach is under way.
   */
  private onLocalIoError(err: Error, where: string): void {
    if (!this.dev || this.disk === 'Failed' || this.disk === 'Diskless') return;
    if ((err as StorageError).code === 'ECLOSED') return; // our own close, not the disk
    const policy = this.cfg.disk.onIoError;
    const metadata = /metadata|bitmap|activity log/.test(where);
    if (policy === 'pass_on' && !metadata) {
      this.log.error({ err: err.message, where }, `Local IO failed in ${where}.`);
      if (diskRank(this.disk) > diskRank('Inconsistent')) {
        this.setState({ disk: 'Inconsistent' });
        this.sendState();
      }
      return;
    }
    this.log.error({ err: err.message, where, policy }, `Local IO failed in ${where}. Detaching...`);
    if (policy === 'call-local-io-error') void this.runHandler('local-io-error');
    void this.detachFailedDisk();
  }

  private detachFailedDisk(): Promise<void> {
    if (this.detaching) return this.detaching;
    this.detaching = (async () => {
      this.setState({ disk: 'Failed' });
      // from here on every request bypasses the local disk; the peer hears it before any of them
      this.sendState();
      this.abortSync('local disk failed');
      await this.lock.drain();
      await this.closeDisk();
      this.setState({ disk: 'Diskless' });
      this.sendState();
      this.log.warn('local disk detached after an I/O error; I/O goes to the peer');
    })().finally(() => {
      this.detaching = null;
    });
    return this.detaching;
  }

  // ---------------------------------------------------------------- fault injection (tests only)

  /** Only works when tandemd runs with TANDEM_TEST_FAULTS=1 (the addon refuses otherwise). */
  injectFaults(faults: FaultSpec[]): void {
    if (!this.dev) throw new ResourceError(`${this.name}: no backing disk attached`, 11);
    this.dev.injectFaults(faults);
    this.log.warn({ faults }, 'test fault injection armed');
  }

  clearFaults(): void {
    this.dev?.clearFaults();
  }

  // ---------------------------------------------------------------- connect / disconnect

  connect(opts: { discardMyData: boolean }): void {
    if (this.link) {
      if (opts.discardMyData) this.discardMyData = true;
      return;
    }
    this.discardMyData = opts.discardMyData;
    const net = this.cfg.net;
    const link = new PeerLink({
      resource: this.name,
      selfNode: this.cfg.self.name,
      peerNode: this.cfg.peer.name,
      listen: { host: this.cfg.self.address.host, port: this.cfg.self.address.port },
      peer: { host: this.cfg.peer.address.host, port: this.cfg.peer.address.port },
      auth: net.cramHmacAlg && net.sharedSecret ? { alg: net.cramHmacAlg, secret: net.sharedSecret } : undefined,
      pingIntMs: net.pingIntSec * 1000,
      pingTimeoutMs: net.pingTimeoutMs,
      connectIntMs: net.connectIntSec * 1000,
      logger: this.log,
    });
    this.link = link;
    link.onState((s) => {
      if (this.conn && s !== 'Connected') return; // our own finer states take over once established
      if (s === 'Connected') return;
      this.setState({ cs: s as ConnState });
    });
    link.onEstablished((conn) => this.onEstablished(conn));
    link.onLost((reason) => this.onLinkLost(reason));
    link.onAuthFailed((reason) => {
      this.log.error({ reason }, 'Authentication of peer failed; going StandAlone');
      // the link has discarded its network configuration; forget it so `connect` starts a new one
      if (this.link === link) this.link = null;
      void link.stop().catch(() => undefined);
      if (this.conn) this.closeConnection('authentication failed', 'StandAlone');
      this.setState({ cs: 'StandAlone' });
    });
    this.setState({ cs: 'Unconnected' });
    link.start().catch((err: Error) => {
      // e.g. the local address is not ours or the port is taken: nothing to retry, say why
      this.log.error({ err: err.message }, 'cannot listen for the peer; going StandAlone');
      if (this.link === link) this.link = null;
      void link.stop().catch(() => undefined);
      this.setState({ cs: 'StandAlone' });
    });
  }

  async disconnect(): Promise<Verdict> {
    const v = checkDisconnect(this.roleView());
    // DRBD 8.4 (conn_try_disconnect) treats "already StandAlone" as success, so the documented
    // split-brain recovery (disconnect; connect --discard-my-data) works after the handshake dropped it
    if (!v.ok && v.error === 'SS_ALREADY_STANDALONE') {
      // a link that gave up by itself (authentication failure) is discarded, so `connect` starts anew
      const gone = this.link;
      this.link = null;
      if (gone) await gone.stop().catch(() => undefined);
      return { ok: true };
    }
    if (!v.ok) return v;
    const link = this.link;
    this.link = null;
    if (this.conn) this.closeConnection('administrative disconnect', 'StandAlone');
    if (link) await link.stop();
    this.setState({ cs: 'StandAlone' });
    return { ok: true };
  }

  private onEstablished(conn: PeerConnection): void {
    this.conn = conn;
    this.peerParams = null;
    this.peerBitmapReceived = false;
    this.peerBitmapParts = null;
    this.localBitmapSent = false;
    this.decision = null;
    this.setState({ cs: 'WFReportParams' });
    this.startKoWatch(conn);
    conn.onMessage((msg) => {
      try {
        this.onPeerMessage(conn, msg);
      } catch (err) {
        this.log.error({ err: (err as Error).message, type: msg.type }, 'protocol error handling peer message');
        this.closeConnection(`protocol error: ${(err as Error).message}`, 'ProtocolError');
      }
    });
    this.sendParams(conn);
  }

  private startKoWatch(conn: PeerConnection): void {
    if (this.koTimer) clearInterval(this.koTimer);
    this.koTimer = null;
    const { koCount, timeoutMs } = this.cfg.net;
    const watch = new KoWatch(koCount);
    if (!watch.enabled) return;
    this.koTimer = setInterval(() => {
      if (this.conn !== conn) return;
      if (watch.tick(this.pending.oldestSeq()) === 'expel') {
        this.log.error({ koCount, timeoutMs, pending: this.pending.size }, 'Remote failed to finish a request within ko-count * timeout; dropping the peer');
        this.closeConnection(`the peer did not complete a write within ko-count (${koCount}) * timeout (${timeoutMs / 1000}s)`, 'Timeout');
      }
    }, timeoutMs);
    this.koTimer.unref();
  }

  private sendParams(conn: PeerConnection): void {
    const md = this.md;
    conn.send({
      type: 'params',
      protocol: this.cfg.protocol,
      usableSize: md ? this.localSize : 0,
      uuids: md ? uuidsToWire(md.uuids) : { current: '0', bitmap: '0', history: ['0', '0'] },
      flags: md ? [...md.flags] : [],
      dirtyBits: md?.bitmap.count() ?? 0,
      role: this.role,
      disk: this.disk === 'Negotiating' && this.negotiatedDisk ? this.negotiatedDisk : this.disk,
      discardMyData: this.discardMyData,
    });
  }

  private onLinkLost(reason: string): void {
    if (!this.conn) return;
    this.log.warn({ reason }, 'connection to peer lost');
    this.afterConnectionGone(reason.includes('ping') ? 'NetworkFailure' : 'BrokenPipe');
  }

  /** Tear down our side of an established connection. `next` is the state to show meanwhile. */
  private closeConnection(reason: string, next: ConnState): void {
    const conn = this.conn;
    if (!conn) return;
    try {
      conn.send({ type: 'disconnect', reason });
    } catch {
      /* already gone */
    }
    conn.close(reason);
    this.afterConnectionGone(next);
    if (next === 'StandAlone') {
      const link = this.link;
      this.link = null;
      void link?.stop();
    }
  }

  private afterConnectionGone(next: ConnState): void {
    this.conn = null;
    this.peerPaused = false;
    if (this.koTimer) clearInterval(this.koTimer);
    this.koTimer = null;
    const wasPeerData = diskRank(this.peerDisk) >= diskRank('Inconsistent') && this.peerDisk !== 'Outdated';
    // every write the peer did not confirm is out of sync
    for (const op of this.pending.dropAll()) this.md?.bitmap.setRange(op.offset, op.length);
    this.peerReads.failAll('connection lost');
    this.stopResync();
    this.verifyState = null;
    this.renegotiating = false;
    if (this.disk === 'Negotiating') this.setState({ disk: this.negotiatedDisk ?? 'Inconsistent' });
    this.negotiatedDisk = null;
    if (this.md) this.counters.oos = this.oosKiB();
    // "Lost contact to the peer's data while Primary": rotate, so split-brain is detectable later
    if (this.md && this.role === 'Primary' && wasPeerData && this.md.uuids.bitmap === 0n && this.disk === 'UpToDate') {
      this.md.uuids = this.deps.uuids.newCurrent(this.md.uuids, this.role);
      this.persistSuperblock();
    }
    const state: ConnState = this.link ? next : 'StandAlone';
    this.setState({ cs: state });
    if (this.link && state !== 'StandAlone') this.setState({ cs: 'WFConnection' });
    // fencing: a Primary that lost its peer asks the fence-peer handler to outdate it
    if (this.role === 'Primary' && this.cfg.disk.fencing !== 'dont-care' && this.peerDisk === 'DUnknown' && wasPeerData) {
      const freeze = this.cfg.disk.fencing === 'resource-and-stonith' && !!this.cfg.handlers['fence-peer'];
      if (freeze) this.freezeIo();
      void this.fencePeer().then((r) => {
        if (!freeze || !this.ioFreeze) return;
        if (r?.fenced) this.thawIo('the peer is fenced');
        else this.log.error('the fence-peer handler did not fence the peer: IO stays suspended until resume-io');
      });
    }
  }

  // ---------------------------------------------------------------- peer messages

  private onPeerMessage(conn: PeerConnection, msg: PeerMessage): void {
    switch (msg.type) {
      case 'params':
        return this.onPeerParams(conn, msg);
      case 'bitmap': {
        // each piece is OR-ed into our bitmap as it arrives: no full-size copy of the peer's bitmap
        const md = this.md;
        if (msg.offset === 0) this.peerBitmapParts = { total: msg.total, got: 0 };
        const parts = this.peerBitmapParts;
        if (!parts || msg.total !== parts.total || msg.offset + msg.words * 8 > parts.total || msg.offset % 8 !== 0) {
          throw new Error(`bitmap piece at ${msg.offset} does not fit a bitmap of ${parts?.total ?? 'unknown'} bytes`);
        }
        if (md && parts.total === md.bitmap.native.byteLength) {
          const covered = md.bitmap.mergeEncodedRange(msg.offset / 8, msg.payload);
          if (covered !== msg.words) throw new Error(`bitmap piece at ${msg.offset} says ${msg.words} words but holds ${covered}`);
        }
        parts.got += msg.words * 8;
        if (parts.got < parts.total) return;
        // a bitmap of another size cannot be trusted block by block: everything is out of sync
        if (md && parts.total !== md.bitmap.native.byteLength) md.bitmap.setAll();
        this.peerBitmapReceived = true;
        this.peerBitmapParts = null;
        return this.maybeStartSync(conn);
      }
      case 'sync-uuid':
        return this.onSyncUuid(msg.uuid);
      case 'state':
        if (!!msg.userPaused !== this.peerPaused) {
          this.peerPaused = !!msg.userPaused;
          this.applyPause();
        }
        return this.onPeerState(msg.role, msg.disk);
      case 'read-request':
        return void this.serveReadRequest(conn, msg);
      case 'read-reply':
        return this.onReadReply(msg);
      case 'uuids':
        return this.onPeerUuids(msg.uuids, msg.skipInitialSync);
      case 'data':
        return void this.applyPeerWrite(conn, msg);
      case 'recv-ack':
        if (!this.pending.recvAck(msg.seq)) this.log.warn({ seq: msg.seq }, 'recv-ack for unknown request dropped');
        return;
      case 'write-ack': {
        const op = this.pending.writeAck(msg.seq, msg.ok);
        if (!op) this.log.warn({ seq: msg.seq }, 'write-ack for unknown request dropped');
        else if (!msg.ok) this.md?.bitmap.setRange(op.offset, op.length);
        this.counters.pe = this.pending.size;
        return;
      }
      case 'write-acks': {
        for (const seq of msg.seqs) {
          if (!this.pending.writeAck(seq, true)) this.log.warn({ seq }, 'write-ack for unknown request dropped');
        }
        this.counters.pe = this.pending.size;
        return;
      }
      case 'flush':
        return void this.applyPeerFlush(conn, msg.seq);
      case 'flush-ack': {
        const op = this.pending.writeAck(msg.seq, msg.ok);
        if (!op) this.log.warn({ seq: msg.seq }, 'flush-ack for unknown request dropped');
        return;
      }
      case 'out-of-sync':
        this.md?.bitmap.setRange(msg.offset, msg.length);
        return;
      case 'resync-request':
        return void this.serveResyncRequest(conn, msg.offset, msg.length);
      case 'resync-data':
        return void this.applyResyncData(msg.offset, msg.payload);
      case 'resync-done':
        return this.onPeerResyncDone(msg.ok);
      case 'checksum-request':
        return void this.answerChecksum(conn, msg);
      case 'checksum-reply':
        return this.onChecksumReply(msg.offset, msg.length, msg.equal, msg.diff);
      case 'sync-plan':
        return this.onPeerSyncPlan(msg.plan, msg.mode);
      case 'disconnect':
        this.log.info({ reason: msg.reason }, 'peer is disconnecting');
        this.conn?.close('peer disconnected');
        this.afterConnectionGone('TearDown');
        return;
      default:
        this.log.warn({ type: msg.type }, 'unexpected message from peer dropped');
    }
  }

  private onPeerParams(conn: PeerConnection, p: ParamsMsg): void {
    if (p.protocol !== this.cfg.protocol) {
      this.log.error({ local: this.cfg.protocol, peer: p.protocol }, 'incompatible communication protocols');
      this.closeConnection('incompatible protocol', 'StandAlone');
      return;
    }
    // Params on an established connection: one side attached a disk and negotiates again. The side
    // that did not start it answers with its own params first, so both decide from fresh facts.
    const again = this.peerParams !== null;
    if (again && !this.renegotiating) this.sendParams(conn);
    const negotiating = this.renegotiating;
    this.renegotiating = false;
    this.peerParams = p;
    this.peerUsableSize = p.usableSize;
    if (!this.md) {
      // a diskless node follows the peer's data entirely, but a Primary only the data it exposed:
      // a peer that missed our latest writes must not become the only copy (drbd receive_uuids)
      const peerCurrent = maskRoleBit(uuidsFromWire(p.uuids).current);
      if (this.role === 'Primary' && this.exposedUuid !== null && peerCurrent !== this.exposedUuid) {
        const hex = this.exposedUuid.toString(16).toUpperCase().padStart(16, '0');
        this.log.error({ peerCurrent: peerCurrent.toString(16) }, `Can only connect to data with current UUID=${hex}`);
        this.closeConnection(`Can only connect to data with current UUID=${hex}`, 'StandAlone');
        return;
      }
      if (this.role === 'Primary') this.exposedUuid = peerCurrent;
      this.setState({ cs: 'Connected', peerRole: p.role, peerDisk: p.disk });
      return;
    }
    const myDisk: DiskState = this.disk === 'Negotiating' && this.negotiatedDisk ? this.negotiatedDisk : this.disk;
    this.negotiatedDisk = null;
    if (p.disk === 'Diskless') {
      this.setState({ cs: 'Connected', peerRole: p.role, peerDisk: p.disk, disk: myDisk });
      return;
    }
    const d = decideConnect(
      { uuids: this.md.uuids, flags: this.md.flags, dirtyBits: this.md.bitmap.count(), role: this.role, disk: myDisk, discardMyData: this.discardMyData },
      { uuids: uuidsFromWire(p.uuids), flags: new Set(p.flags), dirtyBits: p.dirtyBits, role: p.role, disk: p.disk, discardMyData: p.discardMyData },
      {
        net: this.cfg.net,
        selfNode: this.cfg.self.name,
        peerNode: this.cfg.peer.name,
        canDemote: this.role === 'Primary' && !this.deps.deviceOpen(this),
        negotiating,
      },
    );
    this.decision = d;
    for (const line of d.log) this.log.warn({ rule: d.rule }, line);
    void this.runHandlers(d.handlers);
    if (this.disk !== myDisk) this.setState({ disk: myDisk });
    if (d.action === 'disconnect') {
      this.log.error({ rule: d.rule, reason: d.reason }, d.reason);
      this.closeConnection(d.reason, 'StandAlone');
      return;
    }
    this.discardMyData = false;
    this.log.info({ rule: d.rule, action: d.action, mode: d.mode }, `sync handshake: ${d.action}${d.mode ? ` (${d.mode})` : ''}`);
    if (d.action === 'none') {
      // consistent data on both sides becomes UpToDate on connect
      const disk: DiskState = diskRank(this.disk) >= diskRank('Outdated') && diskRank(p.disk) >= diskRank('Outdated') ? 'UpToDate' : this.disk;
      const peerDisk: DiskState = disk === 'UpToDate' && diskRank(p.disk) >= diskRank('Outdated') ? 'UpToDate' : p.disk;
      if (this.md.bitmap.count() > 0 && disk === 'UpToDate' && peerDisk === 'UpToDate') {
        this.log.warn({ bits: this.md.bitmap.count() }, `No resync, but ${this.md.bitmap.count()} bits in bitmap!`);
      }
      this.setState({ cs: 'Connected', peerRole: p.role, disk, peerDisk });
      return;
    }
    const source = d.action === 'sync-source';
    this.setState({ cs: source ? 'WFBitMapS' : 'WFBitMapT', peerRole: p.role, peerDisk: p.disk });
    // a full sync is on disk (markFullSync) before our bitmap goes out and the resync can start
    const prepared = d.mode === 'full' ? this.markFullSync(this.md) : Promise.resolve();
    if (d.giveUpPrimary) {
      // call-pri-lost-after-sb made this Primary the loser and nobody holds the device open:
      // demote first, then take the SyncTarget side ("Successfully gave up primary role.")
      void prepared.then(() => this.becomeSecondary()).then(
        () => this.sendBitmap(conn),
        (err: Error) => {
          this.log.error({ err: err.message }, 'could not give up the Primary role; dropping the connection');
          this.closeConnection('could not give up the Primary role', 'StandAlone');
        },
      );
      return;
    }
    if (d.mode !== 'full') return this.sendBitmap(conn);
    prepared.then(() => this.sendBitmap(conn), (err: Error) => this.onLocalIoError(err, 'metadata write'));
  }

  private sendBitmap(conn: PeerConnection): void {
    const md = this.md;
    if (!md || this.conn !== conn) return;
    this.sendBitmapPieces(conn, md);
    this.localBitmapSent = true;
    this.maybeStartSync(conn);
  }

  /**
   * The peer's role or disk changed. A peer that lost its disk stops any resync with it; if either
   * side is Primary, this node starts a new data generation (DRBD's lost_contact_to_peer_data), so
   * the peer's reattached disk later resyncs by bitmap (rule 50) instead of in full.
   */
  private onPeerState(role: Role, disk: DiskState): void {
    const before = this.peerDisk;
    this.setState({ peerRole: role, peerDisk: disk });
    const hadData = diskRank(before) >= diskRank('Inconsistent') && before !== 'Outdated' && before !== 'DUnknown';
    if (!hadData || diskRank(disk) >= diskRank('Inconsistent')) return;
    this.abortSync('peer lost its disk');
    const md = this.md;
    if (md && (this.role === 'Primary' || role === 'Primary') && md.uuids.bitmap === 0n && this.disk === 'UpToDate') {
      md.uuids = this.deps.uuids.newCurrent(md.uuids, this.role);
      this.persistSuperblock();
      this.conn?.send({ type: 'uuids', uuids: uuidsToWire(md.uuids), dirtyBits: md.bitmap.count(), skipInitialSync: false });
      this.log.info({ uuids: uuidsToWire(md.uuids) }, 'peer lost its disk: new current UUID');
    }
  }

  /** Our bitmap to the peer, in pieces below the link's frame payload limit. */
  private sendBitmapPieces(conn: PeerConnection, md: ResourceMetadata): void {
    const total = md.bitmap.native.byteLength;
    const wordsPerPiece = BITMAP_PIECE_BYTES / 8;
    const words = total / 8;
    for (let w = 0; w < words || w === 0; w += wordsPerPiece) {
      const n = Math.min(wordsPerPiece, words - w);
      const payload = words === 0 ? Buffer.alloc(0) : md.bitmap.native.encodeRange(w, n);
      conn.send({ type: 'bitmap', granularity: md.bitmap.granularity, offset: w * 8, words: n, total, payload });
      if (words === 0) break;
    }
  }

  /** Both bitmaps are exchanged and OR-ed: the blocks either side changed are the ones to send. */
  private maybeStartSync(conn: PeerConnection): void {
    const md = this.md;
    const d = this.decision;
    if (!md || !d || !this.localBitmapSent || !this.peerBitmapReceived) return;
    if (d.action !== 'sync-source' && d.action !== 'sync-target') return;
    this.peerBitmapReceived = false;
    if (d.action === 'sync-source') {
      const { uuids, syncUuid } = this.deps.uuids.syncSourceStart(md.uuids);
      md.uuids = uuids;
      this.persistSuperblock();
      conn.send({ type: 'sync-uuid', uuid: syncUuid.toString(16) });
      this.startSyncAs('SyncSource');
    } else {
      this.setState({ cs: 'WFSyncUUID' });
    }
  }

  private onSyncUuid(uuid: string): void {
    const md = this.md;
    if (!md || this.cs !== 'WFSyncUUID') {
      this.log.warn({ cs: this.cs }, 'sync-uuid outside WFSyncUUID dropped');
      return;
    }
    md.uuids = this.deps.uuids.syncTargetStart(md.uuids, parseWireUuid(uuid), this.role);
    this.persistSuperblock();
    this.startSyncAs('SyncTarget');
  }

  private startSyncAs(cs: 'SyncSource' | 'SyncTarget'): void {
    const md = this.md!;
    const total = md.bitmap.count() * md.bitmap.granularity;
    this.progress = new SyncProgress(Math.min(total, md.usableSize), this.deps.now());
    this.counters.oos = this.oosKiB();
    // a pause-sync given before this resync: the peer must pause its end too
    if (this.userPaused) this.sendState();
    if (cs === 'SyncSource') {
      this.setState({ cs: this.syncPaused ? 'PausedSyncS' : 'SyncSource', disk: 'UpToDate', peerDisk: 'Inconsistent' });
      if (this.syncPaused) this.progress.pause(this.deps.now());
      // DRBD runs before-resync-source before the first block goes out and drops the connection
      // if it fails; resync requests wait for it (serveResyncRequest)
      this.sourceGate = this.cfg.handlers['before-resync-source'] ? this.resyncHandlerGate('before-resync-source') : null;
      return;
    }
    this.setState({ cs: this.syncPaused ? 'PausedSyncT' : 'SyncTarget', disk: 'Inconsistent', peerDisk: 'UpToDate' });
    if (this.syncPaused) this.progress.pause(this.deps.now());
    const window = resyncWindow(this.cfg.net.maxBuffers, POOLED_BYTES);
    const planner = (this.planner = new ResyncPlanner(
      { maxRequestBytes: window.maxRequestBytes, maxInFlight: RESYNC_IN_FLIGHT, maxInFlightBytes: window.maxInFlightBytes, rateBytesPerSec: this.cfg.disk.resyncRateBytesPerSec },
      (from, max) => md.bitmap.nextDirtyRun(from, max),
      () => md.bitmap.count(),
      this.deps.now(),
    ));
    planner.setPaused(this.syncPaused);
    if (!this.cfg.handlers['before-resync-target']) {
      this.pumpResync();
      return;
    }
    // DRBD waits for before-resync-target (e.g. a snapshot of the about-to-be-overwritten data)
    // and drops the connection when it fails
    void this.resyncHandlerGate('before-resync-target').then((go) => {
      if (go && this.planner === planner) this.pumpResync();
    });
  }

  private pumpResync(): void {
    const planner = this.planner;
    const conn = this.conn;
    if (!planner || !conn) return;
    if (this.resyncTimer) {
      clearTimeout(this.resyncTimer);
      this.resyncTimer = null;
    }
    const step = planner.step(this.deps.now());
    const runs = step.kind === 'request' || step.kind === 'wait' ? step.runs : [];
    for (const r of runs) conn.send({ type: 'resync-request', offset: r.offset, length: r.length });
    if (step.kind === 'wait') {
      this.resyncTimer = setTimeout(() => this.pumpResync(), step.ms);
    } else if (step.kind === 'request') {
      setImmediate(() => this.pumpResync());
    } else if (step.kind === 'done') {
      void this.finishResyncAsTarget();
    }
  }

  private async applyResyncData(offset: number, payload: Buffer): Promise<void> {
    const md = this.md;
    const dev = this.dev;
    if (!md || !dev) return;
    const hold = this.lock.acquire(offset, payload.length);
    const release = typeof hold === 'function' ? hold : await hold;
    try {
      // large runs below the page cache; the scattered small runs of a bitmap resync are batched
      if (payload.length >= BULK_WRITE_BYTES) await dev.writeBulk(offset, payload);
      else await this.writer(dev).write(offset, payload);
      recyclePayload(payload);
      md.bitmap.clearRange(offset, payload.length);
      this.counters.nr += payload.length / 1024;
      this.counters.dw += payload.length / 1024;
    } catch (err) {
      this.log.error({ err: (err as Error).message, offset }, 'resync write failed');
      this.onLocalIoError(err as Error, 'resync write');
    } finally {
      release();
    }
    this.counters.oos = this.oosKiB();
    this.progress?.update(md.bitmap.count() * md.bitmap.granularity, this.deps.now());
    this.planner?.complete(offset);
    this.pumpResync();
  }

  /** Runs a before-resync handler; false (and the connection dropped, as DRBD does) if it failed. */
  private async resyncHandlerGate(handler: 'before-resync-source' | 'before-resync-target'): Promise<boolean> {
    const conn = this.conn;
    const code = await this.runHandler(handler);
    if (resyncHandlerVerdict(handler, code) === 'go') return true;
    this.log.error({ handler, code }, `${handler} handler returned ${code}, dropping connection.`);
    if (this.conn === conn) this.closeConnection(`${handler} handler returned ${code}`, 'StandAlone');
    return false;
  }

  private async serveResyncRequest(conn: PeerConnection, offset: number, length: number): Promise<void> {
    if (this.sourceGate && !(await this.sourceGate)) return;
    const md = this.md;
    const dev = this.dev;
    if (!md || !dev || offset < 0 || length <= 0 || offset + length > md.usableSize) {
      this.log.warn({ offset, length }, 'invalid resync request dropped');
      return;
    }
    // The lock keeps an application write to the same blocks from overtaking this read on the wire.
    const hold = this.lock.acquire(offset, length);
    const release = typeof hold === 'function' ? hold : await hold;
    let data: Buffer | null = null;
    try {
      // a bitmap resync asks for many scattered 4 KiB runs: a cached one is read on this thread
      data = length <= dev.inlineLimit ? readIfCached(dev, offset, length) : null;
      if (!data) {
        data = allocPayload(length);
        await dev.readInto(offset, data);
      }
      if (this.conn !== conn) return recyclePayload(data);
      const sent = data;
      conn.send({ type: 'resync-data', offset, length, payload: sent }, () => recyclePayload(sent));
      md.bitmap.clearRange(offset, length);
      this.counters.ns += length / 1024;
      this.counters.dr += length / 1024;
    } catch (err) {
      if (data) recyclePayload(data);
      this.log.error({ err: (err as Error).message, offset }, 'resync read failed');
      this.onLocalIoError(err as Error, 'resync read');
    } finally {
      release();
    }
    this.counters.oos = this.oosKiB();
    this.progress?.update(md.bitmap.count() * md.bitmap.granularity, this.deps.now());
  }

  private async finishResyncAsTarget(): Promise<void> {
    const md = this.md;
    const conn = this.conn;
    const p = this.peerParams;
    if (!md || !conn || !p) return;
    this.planner = null;
    await md.flushBitmap();
    md.uuids = this.deps.uuids.syncTargetFinish(md.uuids, uuidsFromWire(p.uuids), this.role);
    md.flags.delete('full-sync');
    this.progress = null;
    this.setState({ cs: 'Connected', disk: 'UpToDate', peerDisk: 'UpToDate' });
    this.persistSuperblock();
    conn.send({ type: 'resync-done', ok: true });
    conn.send({ type: 'uuids', uuids: uuidsToWire(md.uuids), dirtyBits: md.bitmap.count(), skipInitialSync: false });
    drainPayloadPool();
    this.log.info('Resync done');
    void this.runHandler('after-resync-target');
  }

  private onPeerResyncDone(ok: boolean): void {
    const md = this.md;
    if (!md || !ok) return;
    md.uuids = this.deps.uuids.syncSourceFinish(md.uuids);
    // a full sync (invalidate-remote, primary --force) is over on this end too
    md.flags.delete('full-sync');
    this.progress = null;
    this.setState({ cs: 'Connected', peerDisk: 'UpToDate' });
    this.persistSuperblock();
    void md.flushBitmap();
    drainPayloadPool();
    this.log.info('Resync done (peer reports completion)');
  }

  /**
   * A full sync started by the administrator (primary --force, invalidate, invalidate-remote):
   * announce it, mark everything, exchange bitmaps; the usual start-of-sync flow follows.
   */
  private startAdminSync(asSource: boolean, reason: string): void {
    const md = this.md;
    const conn = this.conn;
    if (!md || !conn) return;
    this.stopResync();
    md.bitmap.setAll();
    this.decision = { action: asSource ? 'sync-source' : 'sync-target', mode: 'full', rule: 0, reason, log: [], handlers: [] };
    this.peerBitmapReceived = false;
    this.peerBitmapParts = null;
    this.setState({ cs: asSource ? 'StartingSyncS' : 'StartingSyncT' });
    conn.send({ type: 'sync-plan', plan: asSource ? 'source' : 'target', mode: 'full' });
    this.setState({ cs: asSource ? 'WFBitMapS' : 'WFBitMapT' });
    this.sendBitmapPieces(conn, md);
    this.localBitmapSent = true;
    this.maybeStartSync(conn);
  }

  /** The peer started an administrative sync; take the opposite side of it. */
  private onPeerSyncPlan(plan: 'none' | 'source' | 'target', mode: 'bitmap' | 'full'): void {
    const md = this.md;
    const conn = this.conn;
    if (!md || !conn || plan === 'none') return;
    this.stopResync();
    const asSource = plan === 'target';
    if (!asSource) {
      md.flags.delete('consistent');
      this.setState({ disk: 'Inconsistent' });
    }
    this.decision = { action: asSource ? 'sync-source' : 'sync-target', mode, rule: 0, reason: 'requested by peer', log: [], handlers: [] };
    this.setState({ cs: asSource ? 'WFBitMapS' : 'WFBitMapT' });
    // the metadata says Inconsistent / all out of sync before the first resync block can land
    const ready = mode === 'full' ? this.markFullSync(md) : md.saveSuperblock();
    ready.then(() => {
      if (this.conn !== conn || this.md !== md) return;
      this.sendBitmapPieces(conn, md);
      this.localBitmapSent = true;
      this.maybeStartSync(conn);
    }, (err: Error) => this.onLocalIoError(err, 'metadata write'));
  }

  /**
   * Every block out of sync, durably, in DRBD's order (drbd_bmio_set_n_write): the full-sync flag
   * first, then the all-set bitmap, then the flag cleared, since from then on the bitmap on disk
   * says it. A node restarted in the middle of the resync resumes from its bitmap instead of
   * starting over; one that crashed before the bitmap was written starts the full sync again.
   */
  private async markFullSync(md: ResourceMetadata): Promise<void> {
    md.bitmap.setAll();
    md.flags.add('full-sync');
    await md.saveSuperblock();
    await md.flushBitmap();
    md.flags.delete('full-sync');
    await md.saveSuperblock();
  }

  private onPeerUuids(w: WireUuids, skipInitialSync: boolean): void {
    const md = this.md;
    if (!md) {
      // the UpToDate peer started a new generation for our diskless Primary: that is what we expose now
      if (this.role === 'Primary' && this.exposedUuid !== null) this.exposedUuid = maskRoleBit(uuidsFromWire(w).current);
      return;
    }
    const peer = uuidsFromWire(w);
    if (skipInitialSync) {
      // the peer ran `new-current-uuid --clear-bitmap` on a just-created pair: adopt it, no sync
      const r = onSkipInitialSyncReceived(md.uuids, peer.current, { role: this.role, connected: isConnected(this.cs) });
      if (!r.accepted) return;
      md.uuids = r.uuids;
      md.bitmap.clearAll();
      md.flags.add('consistent');
      md.flags.add('was-up-to-date');
      this.setState({ disk: 'UpToDate', peerDisk: 'UpToDate' });
      this.persistSuperblock();
      void md.flushBitmap();
      return;
    }
    if (this.peerParams) this.peerParams = { ...this.peerParams, uuids: w };
  }

  private stopResync(): void {
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = null;
    this.planner?.reset();
    this.planner = null;
    this.progress = null;
    drainPayloadPool();
  }

  // ---------------------------------------------------------------- the Secondary's apply path

  private applyPeerWrite(conn: PeerConnection, m: DataMsg): void | Promise<void> {
    const dev = this.localDev();
    const md = this.md;
    if (this.cfg.protocol === 'B') conn.send({ type: 'recv-ack', seq: m.seq });
    if (!dev || !md) {
      conn.sendWriteAck(m.seq, false);
      return;
    }
    if (m.offset < 0 || m.length < 0 || m.offset + m.length > md.usableSize || (m.kind === 'write' && (!m.payload || m.payload.length !== m.length))) {
      this.log.warn({ offset: m.offset, length: m.length }, 'invalid data message from peer dropped');
      conn.sendWriteAck(m.seq, false);
      return;
    }
    // acquired synchronously in arrival order: overlapping writes land in the Primary's order
    const hold = this.lock.acquire(m.offset, m.length);
    if (typeof hold === 'function' && m.kind === 'write' && !m.fua && m.length <= dev.inlineLimit && diskRank(this.peerDisk) >= diskRank('Inconsistent')) {
      // the common case, done here and now: no Promise, no hand-off (BlockDevice.inlineLimit)
      const err = dev.writeSync(m.offset, m.payload!);
      hold();
      if (err) this.peerWriteFailed(md, m, err);
      else {
        this.counters.nr += m.length / 1024;
        this.counters.dw += m.length / 1024;
      }
      conn.sendWriteAck(m.seq, err === null);
      return;
    }
    return this.applyPeerWriteHeld(conn, m, dev, md, hold);
  }

  private peerWriteFailed(md: ResourceMetadata, m: DataMsg, err: Error): void {
    md.bitmap.setRange(m.offset, m.length);
    this.log.error({ err: err.message, offset: m.offset }, 'write of replicated data failed');
    this.onLocalIoError(err, 'write of replicated data');
  }

  private async applyPeerWriteHeld(conn: PeerConnection, m: DataMsg, dev: BlockDevice, md: ResourceMetadata, hold: Release | Promise<Release>): Promise<void> {
    const release = typeof hold === 'function' ? hold : await hold;
    let ok = true;
    try {
      if (diskRank(this.peerDisk) < diskRank('Inconsistent')) {
        // the Primary has no disk: this node holds the only copy, so the block is out of sync with
        // the peer's (absent) disk and the AL covers it like a local write (receive_Data, pdsk < Inconsistent)
        md.bitmap.setRange(m.offset, m.length);
        const al = md.markActive(m.offset, m.length);
        if (al) await al;
      }
      await this.writeLocal(dev, m.offset, m.length, m.kind, m.payload, m.fua);
      this.counters.nr += m.length / 1024;
      this.counters.dw += m.length / 1024;
    } catch (err) {
      ok = false;
      this.peerWriteFailed(md, m, err as Error);
    } finally {
      release();
    }
    if (this.conn === conn) conn.sendWriteAck(m.seq, ok);
  }

  private async applyPeerFlush(conn: PeerConnection, seq: number): Promise<void> {
    let ok = true;
    try {
      await this.lock.drain();
      await this.localDev()?.flush();
    } catch {
      ok = false;
    }
    if (this.conn === conn) conn.send({ type: 'flush-ack', seq, ok });
  }

  /** P_DATA_REQUEST from a Primary that cannot use its own copy of these blocks. */
  private async serveReadRequest(conn: PeerConnection, m: ReadRequestMsg): Promise<void> {
    const dev = this.localDev();
    const md = this.md;
    const reply = (ok: boolean, payload: Buffer): void => {
      if (this.conn === conn) conn.send({ type: 'read-reply', seq: m.seq, offset: m.offset, length: m.length, ok, payload });
    };
    if (!dev || !md || this.disk !== 'UpToDate' || m.length === 0 || m.length > 4 * PEER_READ_CHUNK || m.offset + m.length > md.usableSize) {
      this.log.warn({ offset: m.offset, length: m.length, disk: this.disk }, 'read request from peer refused');
      reply(false, Buffer.alloc(0));
      return;
    }
    // in arrival order behind replicated writes to the same blocks: the read sees them
    const hold = this.lock.acquire(m.offset, m.length);
    const release = typeof hold === 'function' ? hold : await hold;
    try {
      const data = await dev.read(m.offset, m.length);
      this.counters.dr += m.length / 1024;
      this.counters.ns += m.length / 1024;
      reply(true, data);
    } catch (err) {
      md.bitmap.setRange(m.offset, m.length);
      this.onLocalIoError(err as Error, 'read for the peer');
      reply(false, Buffer.alloc(0));
    } finally {
      release();
    }
  }

  private onReadReply(m: ReadReplyMsg): void {
    if (m.ok) this.counters.nr += m.payload.length / 1024;
    if (!this.peerReads.reply(m.seq, m.offset, m.ok, m.payload)) this.log.warn({ seq: m.seq }, 'read reply for an unknown or different request dropped');
  }

  private coalescer: { dev: BlockDevice; c: WriteCoalescer } | null = null;

  /** the write coalescer of the attached device (one per device; replaced after a re-attach) */
  private writer(dev: BlockDevice): WriteCoalescer {
    if (this.coalescer?.dev !== dev) this.coalescer = { dev, c: new WriteCoalescer(dev) };
    return this.coalescer.c;
  }

  private async writeLocal(dev: BlockDevice, offset: number, length: number, kind: DataMsg['kind'], payload: Buffer | undefined, fua: boolean): Promise<void> {
    if (kind === 'write') await this.writer(dev).write(offset, payload!);
    else if (kind === 'trim') await dev.discard(offset, length);
    else await writeZeroes(dev, offset, length);
    if (fua) await dev.flush();
  }

  // ---------------------------------------------------------------- the Primary's I/O (NbdBackend)

  private assertServing(): void {
    if (this.role !== 'Primary') throw new StorageError('resource is Secondary', { code: 'EPERM', op: 'read', offset: 0, path: this.name });
  }

  /** The backing disk if I/O may use it: not while it is failing (Failed) or gone. */
  private localDev(): BlockDevice | null {
    return this.disk === 'Failed' || this.disk === 'Diskless' ? null : this.dev;
  }

  /** The peer has all the data (UpToDate) and the link is up: reads can go there. */
  private peerReadable(): boolean {
    return this.conn !== null && isConnected(this.cs) && this.peerDisk === 'UpToDate';
  }

  /**
   * Whether this node's own copy of the range is current. Before the peer's bitmap is merged into
   * ours (Negotiating, WFBitMapT) the blocks it changed are not marked here yet, so nothing local is
   * trusted while the peer can answer; after the merge the bitmap says which blocks are stale.
   */
  private localCopyGood(offset: number, length: number): boolean {
    const md = this.md;
    if (!md) return false;
    if ((this.disk === 'Negotiating' || this.cs === 'WFBitMapT') && this.peerReadable()) return false;
    const target = this.cs === 'WFSyncUUID' || this.cs === 'SyncTarget' || this.cs === 'PausedSyncT';
    if (this.disk === 'UpToDate' && !target) return true;
    return !md.bitmap.testRange(offset, length);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const gate = this.ioGate();
    if (gate) await gate;
    this.assertServing();
    const dev = this.localDev();
    if (!dev || !this.localCopyGood(offset, length)) {
      if (this.peerReadable()) return this.readFromPeer(offset, length);
      const why = dev ? 'block is out of sync on this node and no UpToDate peer is connected' : 'no local disk (Diskless) and no UpToDate peer is connected';
      throw new StorageError(why, { code: 'EIO', op: 'read', offset, path: this.name });
    }
    try {
      const data = (length <= dev.inlineLimit ? readIfCached(dev, offset, length) : null) ?? (await dev.read(offset, length));
      this.counters.dr += length / 1024;
      return data;
    } catch (err) {
      // a failed read marks the blocks out of sync; except under pass_on, it is retried on the peer
      this.md?.bitmap.setRange(offset, length);
      this.onLocalIoError(err as Error, 'read');
      if (this.cfg.disk.onIoError !== 'pass_on' && this.peerReadable()) return this.readFromPeer(offset, length);
      throw err;
    }
  }

  private async readFromPeer(offset: number, length: number): Promise<Buffer> {
    const parts: Promise<Buffer>[] = [];
    for (let at = offset; at < offset + length; at += PEER_READ_CHUNK) {
      const n = Math.min(PEER_READ_CHUNK, offset + length - at);
      const conn = this.conn;
      if (!conn) throw new StorageError('the peer went away during a read', { code: 'EIO', op: 'read', offset: at, path: this.name });
      const r = this.peerReads.add(at, n);
      conn.send({ type: 'read-request', seq: r.seq, offset: at, length: n });
      parts.push(r.done);
    }
    try {
      const bufs = await Promise.all(parts);
      return bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
    } catch (err) {
      throw new StorageError((err as Error).message, { code: 'EIO', op: 'read', offset, path: this.name });
    }
  }

  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    const gate = this.ioGate();
    if (gate) return gate.then(() => this.submitWrite(offset, data.length, 'write', data, fua));
    return this.submitWrite(offset, data.length, 'write', data, fua);
  }

  trim(offset: number, length: number): Promise<void> {
    const gate = this.ioGate();
    if (gate) return gate.then(() => this.submitWrite(offset, length, 'trim', undefined, false));
    return this.submitWrite(offset, length, 'trim', undefined, false);
  }

  writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    const gate = this.ioGate();
    if (gate) return gate.then(() => this.submitWrite(offset, length, 'zeroes', undefined, fua));
    return this.submitWrite(offset, length, 'zeroes', undefined, fua);
  }

  private replicating(): boolean {
    return this.conn !== null && (this.cs === 'Connected' || this.cs === 'SyncSource' || this.cs === 'PausedSyncS'
      || this.cs === 'WFBitMapS' || this.cs === 'SyncTarget' || this.cs === 'PausedSyncT' || this.cs === 'WFBitMapT' || this.cs === 'WFSyncUUID');
  }

  /** DRBD sends a write to the peer only if its disk can take it (pdsk ≥ Inconsistent). */
  private peerWritable(): boolean {
    return this.replicating() && diskRank(this.peerDisk) >= diskRank('Inconsistent') && this.peerDisk !== 'DUnknown';
  }

  /** What completes a replicated write for the client: the peer's write (C), its receipt (B), nothing (A). */
  private ackLevel(): AckLevel {
    return this.cfg.protocol === 'C' ? 'write' : this.cfg.protocol === 'B' ? 'recv' : 'none';
  }

  private submitWrite(offset: number, length: number, kind: DataMsg['kind'], payload: Buffer | undefined, fua: boolean): Promise<void> {
    try {
      this.assertServing();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const hold = this.lock.acquire(offset, length);
    const dev = this.localDev();
    const md = this.md;
    if (typeof hold === 'function' && kind === 'write' && !fua && dev && md && length <= dev.inlineLimit) {
      let al: Promise<void> | null;
      try {
        al = md.markActive(offset, length);
      } catch (err) {
        al = Promise.reject(err as Error);
      }
      if (al === null) return this.writeInline(offset, payload!, dev, md, hold);
      return this.submitWriteHeld(offset, length, kind, payload, fua, hold, al);
    }
    return this.submitWriteHeld(offset, length, kind, payload, fua, hold, undefined);
  }

  /**
   * The common write: a small buffered write to a hot AL extent, not overlapping anything in
   * flight. Sent to the peer, written locally on this thread (BlockDevice.inlineLimit), completed
   * by the peer's ack through a callback: one Promise per request instead of a chain of them.
   * Same outcomes as submitWriteHeld.
   */
  private writeInline(offset: number, payload: Buffer, dev: BlockDevice, md: ResourceMetadata, release: Release): Promise<void> {
    const length = payload.length;
    this.counters.ap++;
    return new Promise<void>((resolve, reject) => {
      let localErr: Error | null = null;
      let settled = false;
      const finish = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        this.counters.ap--;
        release();
        if (err) reject(err);
        else resolve();
      };
      const conn = this.peerWritable() ? this.conn : null;
      let needs: AckLevel = 'none';
      if (conn) {
        needs = this.ackLevel();
        const seq = this.pending.addListener(offset, length, needs, (level, outcome) => {
          // DRBD completes a write whose local part failed as successful when the peer wrote it
          if (localErr) {
            if (level === 'done') finish(outcome === 'ok' ? null : localErr);
          } else if ((level === 'done' && needs === 'write') || (level === 'recv' && needs === 'recv')) finish(null);
        });
        conn.send({ type: 'data', seq, offset, length, kind: 'write', fua: false, payload });
        this.counters.ns += length / 1024;
        this.counters.pe = this.pending.size;
      } else {
        md.bitmap.setRange(offset, length);
        this.counters.oos = this.oosKiB();
      }
      const writeLocal = (): void => {
        const err = dev.writeSync(offset, payload);
        if (err) {
          localErr = err;
          md.bitmap.setRange(offset, length);
          this.onLocalIoError(err, 'write');
          if (!conn) finish(err);
          return;
        }
        this.counters.dw += length / 1024;
        if (needs === 'none') finish(null);
      };
      // The frame to the peer leaves when the link uncorks at the end of this tick; writing locally
      // after that (the next tick callback, still before any ack can be read) overlaps the local
      // pwrite with the peer's hop instead of delaying the frame by it: depth-1 latency.
      if (conn) process.nextTick(writeLocal);
      else writeLocal();
    });
  }

  private async submitWriteHeld(offset: number, length: number, kind: DataMsg['kind'], payload: Buffer | undefined, fua: boolean, hold: Release | Promise<Release>, alStarted: Promise<void> | undefined): Promise<void> {
    const release = typeof hold === 'function' ? hold : await hold;
    this.counters.ap++;
    try {
      const dev = this.localDev();
      const md = this.md;
      const conn = this.peerWritable() ? this.conn : null;
      if (!dev || !md) {
        // Diskless: the peer's disk is the only copy
        if (!conn || this.peerDisk !== 'UpToDate') {
          throw new StorageError('no local disk (Diskless) and no UpToDate peer is connected', { code: 'EIO', op: 'write', offset, path: this.name });
        }
        const p = this.pending.add(offset, length, 'write');
        conn.send({ type: 'data', seq: p.seq, offset, length, kind, fua, payload });
        this.counters.ns += length / 1024;
        if ((await p.done) !== 'ok') throw new StorageError('the peer could not write the block', { code: 'EIO', op: 'write', offset, path: this.name });
        return;
      }
      let localErr: Error | null = null;
      try {
        const al = alStarted ?? md.markActive(offset, length);
        if (al) {
          this.counters.al++;
          await al;
        }
      } catch (err) {
        localErr = err as Error;
        this.onLocalIoError(localErr, 'activity log write');
      }
      let peer: Promise<unknown> | null = null;
      let peerDone: Promise<string> | null = null;
      if (conn && this.conn === conn) {
        const needs = this.ackLevel();
        const p = this.pending.add(offset, length, needs);
        conn.send({ type: 'data', seq: p.seq, offset, length, kind, fua, payload });
        this.counters.ns += length / 1024;
        this.counters.pe = this.pending.size;
        peerDone = p.done;
        if (needs === 'write') peer = p.done;
        else if (needs === 'recv') peer = p.received;
      } else {
        md.bitmap.setRange(offset, length);
        this.counters.oos = this.oosKiB();
      }
      if (!localErr) {
        try {
          await this.writeLocal(dev, offset, length, kind, payload, fua);
          this.counters.dw += length / 1024;
        } catch (err) {
          localErr = err as Error;
          md.bitmap.setRange(offset, length);
          this.onLocalIoError(localErr, 'write');
        }
      }
      if (localErr) {
        // DRBD completes a write whose local part failed as successful when the peer wrote it
        if (!peerDone || (await peerDone) !== 'ok') throw localErr;
        return;
      }
      if (peer) await peer;
    } finally {
      this.counters.ap--;
      release();
    }
  }

  async flush(): Promise<void> {
    const gate = this.ioGate();
    if (gate) await gate;
    this.assertServing();
    const dev = this.localDev();
    const conn = this.peerWritable() ? this.conn : null;
    if (!dev && !conn) throw new StorageError('no local disk (Diskless) and no peer to flush', { code: 'EIO', op: 'flush', offset: 0, path: this.name });
    let peer: Promise<string> | null = null;
    if (conn) {
      const p = this.pending.add(0, 0, 'write');
      conn.send({ type: 'flush', seq: p.seq });
      peer = p.done;
    }
    let localErr: Error | null = null;
    if (dev) {
      try {
        await dev.flush();
      } catch (err) {
        localErr = err as Error;
        this.onLocalIoError(localErr, 'flush');
      }
    }
    const peerOutcome = peer ? await peer : null;
    if (localErr && peerOutcome !== 'ok') throw localErr;
    if (!dev && peerOutcome !== 'ok') throw new StorageError('the peer could not flush', { code: 'EIO', op: 'flush', offset: 0, path: this.name });
  }

  // ---------------------------------------------------------------- roles

  async primary(force: boolean): Promise<Verdict> {
    let v = checkPromote(this.roleView(), force);
    if (!v.ok && this.mayFence(v.error)) {
      // drbd_set_role: an unknown peer must be fenced first; a fenced peer lets promotion go on
      await this.fencePeer();
      v = checkPromote(this.roleView(), force);
    }
    if (!v.ok) return v;
    if (this.role === 'Primary') return v;
    const md = this.md;
    let fullSyncToPeer = false;
    if (md) {
      const connected = isConnected(this.cs);
      const forcedOverInconsistent = force && this.disk !== 'UpToDate';
      md.uuids = this.deps.uuids.promote(md.uuids, {
        peerDataReachable: connected && diskRank(this.peerDisk) > diskRank('Failed'),
        forced: forcedOverInconsistent,
      });
      if (forcedOverInconsistent) {
        // --force: this node's data is declared good; a connected peer gets a full sync
        md.flags.add('consistent');
        md.flags.add('was-up-to-date');
        this.setState({ disk: 'UpToDate' });
        if (connected && this.conn) {
          this.conn.send({ type: 'uuids', uuids: uuidsToWire(md.uuids), dirtyBits: md.bitmap.count(), skipInitialSync: false });
          fullSyncToPeer = true;
        }
      }
      md.flags.add('primary-ind');
      await md.saveSuperblock();
    }
    this.role = 'Primary';
    try {
      await this.deps.exportDevice(this, this);
    } catch (err) {
      // no block device for the application: stay Secondary rather than a Primary nobody can use
      this.role = 'Secondary';
      if (md) {
        md.flags.delete('primary-ind');
        md.uuids = this.deps.uuids.demote(md.uuids);
        await md.saveSuperblock().catch(() => undefined);
      }
      // the data was still declared good: the peer gets it
      if (fullSyncToPeer && this.conn) this.startAdminSync(true, 'primary --force');
      throw new ResourceError(`${this.name}: cannot export the device: ${(err as Error).message}`, 20);
    }
    this.exported = true;
    this.setState({ role: 'Primary' });
    this.conn?.send({ type: 'state', role: 'Primary', disk: this.disk, userPaused: this.userPaused });
    // as in DRBD, the role change comes first and the full sync it asks for after it
    if (fullSyncToPeer && this.conn) this.startAdminSync(true, 'primary --force');
    return { ok: true };
  }

  async secondary(): Promise<Verdict> {
    const v = checkDemote(this.roleView());
    if (!v.ok) return v;
    if (this.role !== 'Primary') return v;
    await this.becomeSecondary();
    return { ok: true };
  }

  private async becomeSecondary(): Promise<void> {
    await this.unexport();
    await this.lock.drain();
    this.role = 'Secondary';
    if (this.dev) await this.dev.flush().catch(() => undefined);
    const md = this.md;
    if (md) {
      md.uuids = this.deps.uuids.demote(md.uuids);
      md.flags.delete('primary-ind');
      await md.flushBitmap();
      await md.saveSuperblock();
    }
    this.setState({ role: 'Secondary' });
    this.sendState();
  }

  /** Promotion refused because the peer is unknown (fencing), or our Consistent data needs the peer outdated. */
  private mayFence(error: string): boolean {
    if (this.cfg.disk.fencing === 'dont-care' || isConnected(this.cs) || !this.md) return false;
    if (error === 'SS_PRIMARY_NOP') return true;
    return error === 'SS_NO_UP_TO_DATE_DISK' && this.disk === 'Consistent' && this.peerDisk === 'DUnknown';
  }

  /**
   * Runs the fence-peer handler and applies what its exit code says (fencing.ts). Concurrent callers
   * share one run. A fenced peer becomes pdsk Outdated (persisted as peer-outdated), which makes
   * our Consistent data UpToDate.
   */
  private fencePeer(): Promise<FenceOutcome | null> {
    if (this.fencing) return this.fencing;
    if (!this.cfg.handlers['fence-peer']) {
      this.log.warn('fencing is on but no fence-peer handler is configured');
      return Promise.resolve(null);
    }
    this.fencing = (async () => {
      const code = await this.runHandler('fence-peer');
      const r = fencePeerOutcome(code, { disk: this.disk, fencing: this.cfg.disk.fencing });
      if (r.error) this.log.error({ exitCode: code }, r.error);
      this.log.info({ exitCode: code }, `fence-peer helper returned ${code ?? 'nothing'} (${r.text})`);
      if (isConnected(this.cs)) return r; // the peer came back meanwhile: the handshake decides
      if (r.peerDisk) {
        const disk: DiskState = this.disk === 'Consistent' ? 'UpToDate' : this.disk;
        this.setState({ peerDisk: r.peerDisk, disk });
      }
      if (r.localDisk && this.role !== 'Primary' && diskRank(this.disk) > diskRank('Outdated')) this.setState({ disk: r.localDisk });
      if (this.md) await this.md.saveSuperblock().catch((err: Error) => this.onLocalIoError(err, 'metadata write'));
      return r;
    })().finally(() => {
      this.fencing = null;
    });
    return this.fencing;
  }

  /** `outdate`: mark this node's data Outdated (what the peer's fence-peer handler asks for). Persists. */
  async outdate(): Promise<Verdict> {
    const v = checkOutdate({ role: this.role, disk: this.disk, cs: this.cs });
    if (!v.ok) return v;
    if (this.disk !== 'Outdated') {
      this.setState({ disk: 'Outdated' });
      this.log.warn('data outdated on request (outdate)');
    }
    await this.md?.saveSuperblock();
    return { ok: true };
  }

  private async unexport(): Promise<void> {
    if (!this.exported) return;
    this.exported = false;
    await this.deps.unexportDevice(this);
  }

  // ---------------------------------------------------------------- admin actions

  async invalidate(remote: boolean): Promise<Verdict> {
    const v = checkInvalidate(this.roleView(), remote);
    if (!v.ok) return v;
    const md = this.md!;
    if (!remote) {
      md.flags.delete('consistent');
      this.setState({ disk: 'Inconsistent' });
    }
    await this.markFullSync(md);
    if (this.conn) this.startAdminSync(remote, remote ? 'invalidate-remote' : 'invalidate');
    return { ok: true };
  }

  async newCurrentUuid(clearBitmap: boolean): Promise<Verdict | { ok: false; message: string; exitCode: number }> {
    const md = this.md;
    if (!md) return refuse('SS_IS_DISKLESS');
    const connected = isConnected(this.cs);
    const r = this.deps.uuids.newCurrentCommand(md.uuids, {
      role: this.role,
      conn: this.cs === 'StandAlone' ? 'StandAlone' : this.cs === 'Connected' ? 'Connected' : 'other',
      clearBitmap,
    });
    if (!r.ok) return { ok: false, message: `${this.name}: ${r.error}`, exitCode: 10 };
    md.uuids = r.uuids;
    if (r.clearBitmapBits) {
      md.bitmap.clearAll();
      md.flags.delete('full-sync');
    }
    if (r.skipInitialSync && connected) {
      md.flags.add('consistent');
      md.flags.add('was-up-to-date');
      this.setState({ disk: 'UpToDate', peerDisk: 'UpToDate' });
      this.conn?.send({ type: 'uuids', uuids: uuidsToWire(md.uuids), dirtyBits: 0, skipInitialSync: true });
    }
    await md.flushBitmap();
    await md.saveSuperblock();
    this.deps.onChange();
    return { ok: true };
  }

  /** DRBD: a resync runs only while neither end has paused it (user_isp here, peer_isp there). */
  private get syncPaused(): boolean {
    return this.userPaused || this.peerPaused;
  }

  /** pause-sync / resume-sync: this node's flag; the peer learns it with our state and pauses too. */
  setPaused(paused: boolean): Verdict | { ok: false; message: string; exitCode: number } {
    if (paused && this.userPaused) return { ok: false, message: 'Failure: (134) Sync-pause flag is already set', exitCode: 10 };
    if (!paused && !this.userPaused) {
      const why = this.peerPaused && (this.cs === 'PausedSyncS' || this.cs === 'PausedSyncT') ? '\nNote: Resync pause caused by the peer node.' : '';
      return { ok: false, message: `Failure: (135) Sync-pause flag is already cleared${why}`, exitCode: 10 };
    }
    this.userPaused = paused;
    this.sendState();
    this.applyPause();
    return { ok: true };
  }

  /** Brings the running resync in line with syncPaused: progress clock, request pump, state name. */
  private applyPause(): void {
    const paused = this.syncPaused;
    const running = isSyncing(this.cs) || this.cs === 'PausedSyncS' || this.cs === 'PausedSyncT';
    if (!running) return;
    const wasPaused = this.cs === 'PausedSyncS' || this.cs === 'PausedSyncT';
    if (wasPaused === paused) return;
    const now = this.deps.now();
    if (paused) this.progress?.pause(now);
    else this.progress?.resume(now);
    this.planner?.setPaused(paused);
    if (this.cs === 'SyncSource' || this.cs === 'PausedSyncS') this.setState({ cs: paused ? 'PausedSyncS' : 'SyncSource' });
    if (this.cs === 'SyncTarget' || this.cs === 'PausedSyncT') this.setState({ cs: paused ? 'PausedSyncT' : 'SyncTarget' });
    if (!paused) this.pumpResync();
  }

  async verify(): Promise<Verdict> {
    const v = checkVerify(this.roleView(), this.verifyAlg);
    if (!v.ok) return v;
    const md = this.md!;
    this.verifyState = { next: 0, inFlight: 0, oos: 0, total: md.usableSize };
    this.progress = new SyncProgress(Math.min(md.usableSize, this.size), this.deps.now());
    this.setState({ cs: 'VerifyS' });
    this.conn?.send({ type: 'state', role: this.role, disk: this.disk, userPaused: this.userPaused });
    void this.pumpVerify();
    return { ok: true };
  }

  /** net { verify-alg; } (checked at `up`: crc32c or a hash Node's crypto knows); crc32c by default */
  private get verifyAlg(): string {
    return (this.cfg.disk.verifyAlg ?? 'crc32c').toLowerCase();
  }

  private async pumpVerify(): Promise<void> {
    const st = this.verifyState;
    const dev = this.dev;
    const conn = this.conn;
    if (!st || !dev || !conn) return;
    const end = this.size;
    while (st.inFlight < 4 && st.next < end) {
      const offset = st.next;
      const length = Math.min(VERIFY_CHUNK, end - offset);
      st.next += length;
      st.inFlight++;
      const data = await dev.read(offset, length);
      if (this.conn !== conn) return;
      // one digest per 4 KiB block, so the peer names exactly the blocks that differ
      conn.send({ type: 'checksum-request', offset, length, crc: 0, purpose: 'verify', alg: this.verifyAlg, digests: blockDigests(this.verifyAlg, data) });
    }
  }

  private async answerChecksum(conn: PeerConnection, m: ChecksumRequestMsg): Promise<void> {
    const { offset, length, purpose } = m;
    const dev = this.dev;
    const md = this.md;
    if (!dev || !md || offset < 0 || length <= 0 || offset + length > md.usableSize) return;
    if (this.cs === 'Connected') this.setState({ cs: 'VerifyT' });
    const data = await dev.read(offset, length);
    let diff: number[] | undefined;
    if (m.alg !== undefined && m.digests !== undefined) {
      // an algorithm this node does not know compares as all-different, never as equal
      diff = verifyAlgSupported(m.alg) ? differingBlocks(m.alg, data, m.digests) : Array.from({ length: Math.ceil(length / VERIFY_BLOCK) }, (_, i) => i);
      for (const i of diff) md.bitmap.setRange(offset + i * VERIFY_BLOCK, Math.min(VERIFY_BLOCK, length - i * VERIFY_BLOCK));
    } else if (crc32c(data) !== m.crc) {
      md.bitmap.setRange(offset, length);
    }
    const equal = diff ? diff.length === 0 : crc32c(data) === m.crc;
    if (!equal) this.counters.oos = this.oosKiB();
    if (this.conn === conn) conn.send(diff ? { type: 'checksum-reply', offset, length, equal, purpose, diff } : { type: 'checksum-reply', offset, length, equal, purpose });
    if (offset + length >= Math.min(md.usableSize, this.size) && this.cs === 'VerifyT') this.setState({ cs: 'Connected' });
  }

  private onChecksumReply(offset: number, length: number, equal: boolean, diff: number[] | undefined): void {
    const st = this.verifyState;
    const md = this.md;
    if (!st || !md) return;
    st.inFlight--;
    if (!equal) {
      const blocks = diff ?? Array.from({ length: Math.ceil(length / VERIFY_BLOCK) }, (_, i) => i);
      for (const i of blocks) {
        const at = offset + i * VERIFY_BLOCK;
        if (i < 0 || at >= offset + length) continue;
        const len = Math.min(VERIFY_BLOCK, offset + length - at);
        st.oos += len;
        md.bitmap.setRange(at, len);
        this.log.warn({ offset: at, length: len }, 'Out of sync: start=%d, size=%d (bytes)', at, len);
      }
    }
    this.counters.oos = this.oosKiB();
    this.progress?.update(Math.max(0, this.size - offset - length), this.deps.now());
    if (st.next >= this.size && st.inFlight === 0) {
      this.log.info({ oosBytes: st.oos, alg: this.verifyAlg }, `Online verify done; found ${Math.round(st.oos / 1024)} KiB out of sync`);
      this.verifyState = null;
      this.progress = null;
      this.setState({ cs: 'Connected' });
      if (st.oos > 0) {
        this.log.error({ blocks: Math.ceil(st.oos / VERIFY_BLOCK) }, `Online verify found ${Math.ceil(st.oos / VERIFY_BLOCK)} 4k block out of sync!`);
        void this.runHandler('out-of-sync');
      }
      return;
    }
    void this.pumpVerify();
  }

  applyConfig(cfg: ResolvedResource): void {
    this.cfg = cfg;
    this.planner?.setRate(cfg.disk.resyncRateBytesPerSec);
  }

  /** Runs a configured handler; resolves with its exit code (null: not configured, failed to start or killed). */
  private async runHandler(name: string): Promise<number | null> {
    this.deps.onHelper?.(this, name);
    const cmd = this.cfg.handlers[name];
    if (!cmd) return null;
    this.log.info({ handler: name }, `helper command: ${name}`);
    return this.deps.runHandler(name, handlerEnv(this.cfg, name, { cs: this.cs }));
  }

  /** Handlers of one event run one after the other, in DRBD's order. */
  private async runHandlers(names: readonly string[]): Promise<void> {
    for (const n of names) await this.runHandler(n);
  }

  // ---------------------------------------------------------------- down / status

  async down(): Promise<Verdict> {
    if (this.role === 'Primary') {
      const v = await this.secondary();
      if (!v.ok) return v;
    }
    await this.disconnect().catch(() => undefined);
    if (this.link) await this.link.stop();
    this.link = null;
    await this.lock.drain();
    await this.closeDisk();
    this.setState({ disk: 'Diskless', cs: 'StandAlone' });
    return { ok: true };
  }

  /** SIGTERM: persist everything; the role is not persistent (a restarted node is Secondary). */
  async shutdown(): Promise<void> {
    await this.unexport().catch(() => undefined);
    if (this.role === 'Primary') {
      this.role = 'Secondary';
      if (this.md) {
        this.md.flags.delete('primary-ind');
        this.md.uuids = this.deps.uuids.demote(this.md.uuids);
      }
    }
    const link = this.link;
    this.link = null;
    if (this.conn) this.closeConnection('peer shutting down', 'StandAlone');
    await link?.stop();
    await this.lock.drain();
    await this.closeDisk();
  }

  private oosKiB(): number {
    const md = this.md;
    if (!md) return 0;
    return Math.round((Math.min(md.bitmap.count() * md.bitmap.granularity, md.usableSize)) / 1024);
  }

  uuidsWire(): WireUuids | null {
    return this.md ? uuidsToWire(this.md.uuids) : null;
  }

  dirtyBits(): number {
    return this.md?.bitmap.count() ?? 0;
  }

  status(): ResourceStatus {
    const md = this.md;
    const left = md ? Math.min(md.bitmap.count() * md.bitmap.granularity, md.usableSize) : 0;
    const snap = this.progress?.snapshot(this.verifyState ? Math.max(0, this.size - this.verifyState.next) : left, this.deps.now());
    const progress = (p: typeof snap): SyncProgressStatus | undefined =>
      p && {
        percent: p.totalKiB > 0 ? perMilleDone(p.leftKiB, p.totalKiB) / 10 : 100,
        totalKiB: p.totalKiB,
        leftKiB: p.leftKiB,
        speedKiBs: p.speedKiBs,
        avgSpeedKiBs: p.avgSpeedKiBs,
        etaSec: p.etaSec,
        paused: this.syncPaused,
        wantKiBs: this.cs === 'SyncTarget' ? Math.round(this.cfg.disk.resyncRateBytesPerSec / 1024) : undefined,
      };
    const syncing = isSyncing(this.cs) || this.cs === 'PausedSyncS' || this.cs === 'PausedSyncT';
    return {
      minor: this.cfg.self.minor,
      name: this.name,
      peerName: this.cfg.peer.name,
      cs: this.cs,
      role: this.role,
      peerRole: this.peerRole,
      disk: this.disk,
      peerDisk: this.peerDisk,
      protocol: this.cfg.protocol,
      flags: { ...IDLE_IO_FLAGS, suspended: this.ioFreeze ? ['fencing'] : [], pausedByUser: this.userPaused && syncing, pausedByPeer: this.peerPaused && syncing },
      counters: {
        ns: Math.round(this.counters.ns), nr: Math.round(this.counters.nr), dw: Math.round(this.counters.dw), dr: Math.round(this.counters.dr),
        al: this.counters.al, bm: this.counters.bm + (md?.bitmapWrites ?? 0), lo: 0, pe: this.pending.size, ua: 0, ap: this.counters.ap, ep: 1,
        wo: 'f', oos: this.oosKiB(),
      },
      sync: syncing ? progress(snap) : undefined,
      verify: this.cs === 'VerifyS' || this.cs === 'VerifyT' ? progress(snap) : undefined,
      sizeBytes: this.size,
      uuids: md ? uuidsToWire(md.uuids) : undefined,
      dirtyBits: md?.bitmap.count() ?? 0,
    };
  }
}

/** WRITE_ZEROES/TRIM payloads are generated here; one zero buffer is reused for every call. */
const ZERO = Buffer.alloc(1 << 20);
async function writeZeroes(dev: BlockDevice, offset: number, length: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const n = Math.min(ZERO.length, length - done);
    await dev.write(offset + done, ZERO.subarray(0, n));
    done += n;
  }
}

export { PROTOCOL_VERSION };

/** A small read served from the page cache on this thread (BlockDevice.inlineLimit), or null. */
function readIfCached(dev: BlockDevice, offset: number, length: number): Buffer | null {
  const buf = Buffer.allocUnsafe(length);
  const r = dev.readIntoSync(offset, buf);
  if (r === 'not-cached') return null;
  if (r) throw r;
  return buf;
}
