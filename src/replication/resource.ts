// One replicated resource on this node: the backing disk with its metadata and bitmap, the role,
// the link to the peer, the write path on the Primary, the apply path on the Secondary and resync.
// The decisions it takes (may I promote? which way to sync? who wins a split-brain?) are pure
// functions in their own files; this class is the edge that performs them.
import type { Logger } from 'pino';
import { BlockDevice, StorageError } from '../storage/block-device.js';
import { crc32c } from '../storage/checksum.js';
import type { ResolvedResource } from '../config/index.js';
import type { NbdBackend } from '../nbd/server.js';
import type { DataMsg, DiskState, ParamsMsg, PeerMessage, Role, WireUuids } from './messages.js';
import { PROTOCOL_VERSION } from './messages.js';
import { PeerLink } from './peer-link.js';
import type { PeerConnection } from './peer-connection.js';
import { RangeLock } from './range-lock.js';
import { PeerPending, type AckLevel } from './peer-io.js';
import { ResyncPlanner } from './resync-planner.js';
import { SyncProgress } from './sync-progress.js';
import {
  checkDemote, checkDisconnect, checkInvalidate, checkPromote, checkVerify, diskRank, isConnected, isSyncing,
  refuse, type ConnState, type RoleView, type Verdict,
} from './state-rules.js';
import { openResourceMetadata, type ResourceMetadata } from './resource-metadata.js';
import { onSkipInitialSyncReceived } from './generation-uuids.js';
import { parseWireUuid, uuidsFromWire, uuidsToWire, type UuidEngine } from './uuid-engine.js';
import { decideConnect, type ConnectDecision } from './connect-decision.js';
import { IDLE_IO_FLAGS, type ResourceStatus, type SyncProgress as SyncProgressStatus } from '../daemon/status-types.js';
import { perMilleDone } from '../daemon/status-render.js';

const RESYNC_REQUEST_BYTES = 1 << 20;
const RESYNC_IN_FLIGHT = 8;
const VERIFY_CHUNK = 1 << 20;
const BITMAP_FLUSH_MS = 1000;

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
  private peerBitmap: Buffer | null = null;
  private localBitmapSent = false;
  private decision: ConnectDecision | null = null;
  private discardMyData = false;
  private peerUsableSize = 0;
  private userPaused = false;
  private verifyState: { next: number; inFlight: number; oos: number; total: number } | null = null;
  private exported = false;
  readonly counters: Counters = { ns: 0, nr: 0, dw: 0, dr: 0, al: 0, bm: 0, lo: 0, pe: 0, ua: 0, ap: 0, ep: 1, oos: 0 };

  constructor(public cfg: ResolvedResource, private readonly deps: ResourceDeps) {
    this.log = deps.logger.child({ resource: cfg.name, peer: cfg.peer.name });
  }

  get name(): string {
    return this.cfg.name;
  }

  /** bytes the Primary exports: the smaller of both usable sizes once connected */
  get size(): number {
    const local = this.md?.usableSize ?? 0;
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
      this.peerDisk = 'DUnknown';
    }
    const after = { role: this.role, peerRole: this.peerRole, disk: this.disk, peerDisk: this.peerDisk, cs: this.cs };
    const changed = (Object.keys(after) as (keyof typeof after)[]).filter((k) => before[k] !== after[k]);
    if (changed.length > 0) {
      this.log.info({ transition: Object.fromEntries(changed.map((k) => [k, `${before[k]} -> ${after[k]}`])) }, 'state change');
      this.updateFlags();
      this.deps.onChange();
    }
  }

  /** DRBD recomputes the metadata flags on every state change (drbd_state.c ~1430). */
  private updateFlags(): void {
    const md = this.md;
    if (!md) return;
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
    this.dev = dev;
    this.md = md;
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
    this.setState({ disk });
    if (!isConnected(this.cs)) this.peerDisk = peerDisk;
    this.counters.oos = this.oosKiB();
    this.bitmapTimer = setInterval(() => {
      this.md?.flushBitmap().catch((err: Error) => this.onLocalIoError(err, 'bitmap write'));
      this.deps.onChange();
    }, BITMAP_FLUSH_MS);
    this.bitmapTimer.unref();
    this.log.info({ size: md.usableSize, dirtyBits: md.bitmap.count(), uuids: uuidsToWire(md.uuids) }, 'attached');
  }

  async detach(): Promise<void> {
    if (!this.dev) return;
    if (this.role === 'Primary') {
      throw new ResourceError(refuse('SS_NO_UP_TO_DATE_DISK').message.replace('Need access to UpToDate data', 'Can not detach the disk of a Primary in Tandem (go Secondary first)'), 11);
    }
    await this.lock.drain();
    this.stopResync();
    if (this.conn) {
      // the peer must not keep us as a sync partner without a disk
      this.closeConnection('local disk detached', 'Unconnected');
    }
    await this.closeDisk();
    this.setState({ disk: 'Diskless' });
  }

  private async closeDisk(): Promise<void> {
    if (this.bitmapTimer) clearInterval(this.bitmapTimer);
    this.bitmapTimer = null;
    const md = this.md;
    const dev = this.dev;
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

  private onLocalIoError(err: Error, what: string): void {
    this.log.error({ err: err.message, what }, 'local I/O error');
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
      void this.disconnect().catch(() => undefined);
    });
    this.setState({ cs: 'Unconnected' });
    link.start();
  }

  async disconnect(): Promise<Verdict> {
    const v = checkDisconnect(this.roleView());
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
    this.peerBitmap = null;
    this.localBitmapSent = false;
    this.decision = null;
    this.setState({ cs: 'WFReportParams' });
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

  private sendParams(conn: PeerConnection): void {
    const md = this.md;
    conn.send({
      type: 'params',
      protocol: this.cfg.protocol,
      usableSize: md?.usableSize ?? 0,
      uuids: md ? uuidsToWire(md.uuids) : { current: '0', bitmap: '0', history: ['0', '0'] },
      flags: md ? [...md.flags] : [],
      dirtyBits: md?.bitmap.count() ?? 0,
      role: this.role,
      disk: this.disk,
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
    const wasPeerData = diskRank(this.peerDisk) >= diskRank('Inconsistent') && this.peerDisk !== 'Outdated';
    // every write the peer did not confirm is out of sync
    for (const op of this.pending.dropAll()) this.md?.bitmap.setRange(op.offset, op.length);
    this.stopResync();
    this.verifyState = null;
    if (this.md) this.counters.oos = this.oosKiB();
    // "Lost contact to the peer's data while Primary": rotate, so split-brain is detectable later
    if (this.md && this.role === 'Primary' && wasPeerData && this.md.uuids.bitmap === 0n && this.disk === 'UpToDate') {
      this.md.uuids = this.deps.uuids.newCurrent(this.md.uuids, this.role);
      this.persistSuperblock();
    }
    const state: ConnState = this.link ? next : 'StandAlone';
    this.setState({ cs: state });
    if (this.link && state !== 'StandAlone') this.setState({ cs: 'WFConnection' });
  }

  // ---------------------------------------------------------------- peer messages

  private onPeerMessage(conn: PeerConnection, msg: PeerMessage): void {
    switch (msg.type) {
      case 'params':
        return this.onPeerParams(conn, msg);
      case 'bitmap':
        this.peerBitmap = msg.payload;
        return this.maybeStartSync(conn);
      case 'sync-uuid':
        return this.onSyncUuid(msg.uuid);
      case 'state':
        this.setState({ peerRole: msg.role, peerDisk: msg.disk });
        return;
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
        return void this.answerChecksum(conn, msg.offset, msg.length, msg.crc, msg.purpose);
      case 'checksum-reply':
        return this.onChecksumReply(msg.offset, msg.length, msg.equal);
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
    this.peerParams = p;
    this.peerUsableSize = p.usableSize;
    if (!this.md) {
      // a diskless node follows the peer's data entirely
      this.setState({ cs: 'Connected', peerRole: p.role, peerDisk: p.disk });
      return;
    }
    if (p.disk === 'Diskless') {
      this.setState({ cs: 'Connected', peerRole: p.role, peerDisk: p.disk });
      return;
    }
    const d = decideConnect(
      { uuids: this.md.uuids, flags: this.md.flags, dirtyBits: this.md.bitmap.count(), role: this.role, disk: this.disk, discardMyData: this.discardMyData },
      { uuids: uuidsFromWire(p.uuids), flags: new Set(p.flags), dirtyBits: p.dirtyBits, role: p.role, disk: p.disk, discardMyData: p.discardMyData },
      { net: this.cfg.net, selfNode: this.cfg.self.name, peerNode: this.cfg.peer.name },
    );
    this.decision = d;
    for (const line of d.log) this.log.warn({ rule: d.rule }, line);
    for (const h of d.handlers) void this.runHandler(h);
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
    if (d.mode === 'full') this.md.bitmap.setAll();
    const source = d.action === 'sync-source';
    this.setState({ cs: source ? 'WFBitMapS' : 'WFBitMapT', peerRole: p.role, peerDisk: p.disk });
    conn.send({ type: 'bitmap', granularity: this.md.bitmap.granularity, payload: this.md.bitmap.toBuffer() });
    this.localBitmapSent = true;
    this.maybeStartSync(conn);
  }

  /** Both bitmaps are exchanged and OR-ed: the blocks either side changed are the ones to send. */
  private maybeStartSync(conn: PeerConnection): void {
    const md = this.md;
    const d = this.decision;
    if (!md || !d || !this.localBitmapSent || !this.peerBitmap) return;
    if (d.action !== 'sync-source' && d.action !== 'sync-target') return;
    if (this.peerBitmap.length === md.bitmap.toBuffer().length) md.bitmap.merge(this.peerBitmap);
    else md.bitmap.setAll(); // different sizes: nothing to trust but a full sync
    this.peerBitmap = null;
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
    if (cs === 'SyncSource') {
      this.setState({ cs: this.userPaused ? 'PausedSyncS' : 'SyncSource', disk: 'UpToDate', peerDisk: 'Inconsistent' });
      void this.runHandler('before-resync-source');
      return;
    }
    this.setState({ cs: this.userPaused ? 'PausedSyncT' : 'SyncTarget', disk: 'Inconsistent', peerDisk: 'UpToDate' });
    void this.runHandler('before-resync-target');
    this.planner = new ResyncPlanner(
      { maxRequestBytes: RESYNC_REQUEST_BYTES, maxInFlight: RESYNC_IN_FLIGHT, rateBytesPerSec: this.cfg.disk.resyncRateBytesPerSec },
      (from, max) => md.bitmap.nextDirtyRun(from, max),
      () => md.bitmap.count(),
      this.deps.now(),
    );
    this.planner.setPaused(this.userPaused);
    this.pumpResync();
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
      await dev.write(offset, payload);
      md.bitmap.clearRange(offset, payload.length);
      this.counters.nr += payload.length / 1024;
      this.counters.dw += payload.length / 1024;
    } catch (err) {
      this.log.error({ err: (err as Error).message, offset }, 'resync write failed');
    } finally {
      release();
    }
    this.counters.oos = this.oosKiB();
    this.progress?.update(md.bitmap.count() * md.bitmap.granularity, this.deps.now());
    this.planner?.complete(offset);
    this.pumpResync();
  }

  private async serveResyncRequest(conn: PeerConnection, offset: number, length: number): Promise<void> {
    const md = this.md;
    const dev = this.dev;
    if (!md || !dev || offset < 0 || length <= 0 || offset + length > md.usableSize) {
      this.log.warn({ offset, length }, 'invalid resync request dropped');
      return;
    }
    // The lock keeps an application write to the same blocks from overtaking this read on the wire.
    const hold = this.lock.acquire(offset, length);
    const release = typeof hold === 'function' ? hold : await hold;
    try {
      const data = await dev.read(offset, length);
      if (this.conn !== conn) return;
      conn.send({ type: 'resync-data', offset, length, payload: data });
      md.bitmap.clearRange(offset, length);
      this.counters.ns += length / 1024;
      this.counters.dr += length / 1024;
    } catch (err) {
      this.log.error({ err: (err as Error).message, offset }, 'resync read failed');
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
    this.log.info('Resync done');
    void this.runHandler('after-resync-target');
  }

  private onPeerResyncDone(ok: boolean): void {
    const md = this.md;
    if (!md || !ok) return;
    md.uuids = this.deps.uuids.syncSourceFinish(md.uuids);
    this.progress = null;
    this.setState({ cs: 'Connected', peerDisk: 'UpToDate' });
    this.persistSuperblock();
    void md.flushBitmap();
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
    this.peerBitmap = null;
    this.setState({ cs: asSource ? 'StartingSyncS' : 'StartingSyncT' });
    conn.send({ type: 'sync-plan', plan: asSource ? 'source' : 'target', mode: 'full' });
    this.setState({ cs: asSource ? 'WFBitMapS' : 'WFBitMapT' });
    conn.send({ type: 'bitmap', granularity: md.bitmap.granularity, payload: md.bitmap.toBuffer() });
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
    if (mode === 'full') md.bitmap.setAll();
    if (!asSource) {
      md.flags.delete('consistent');
      this.setState({ disk: 'Inconsistent' });
    }
    this.decision = { action: asSource ? 'sync-source' : 'sync-target', mode, rule: 0, reason: 'requested by peer', log: [], handlers: [] };
    this.setState({ cs: asSource ? 'WFBitMapS' : 'WFBitMapT' });
    conn.send({ type: 'bitmap', granularity: md.bitmap.granularity, payload: md.bitmap.toBuffer() });
    this.localBitmapSent = true;
    this.maybeStartSync(conn);
  }

  private onPeerUuids(w: WireUuids, skipInitialSync: boolean): void {
    const md = this.md;
    if (!md) return;
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
  }

  // ---------------------------------------------------------------- the Secondary's apply path

  private async applyPeerWrite(conn: PeerConnection, m: DataMsg): Promise<void> {
    const dev = this.dev;
    if (this.cfg.protocol === 'B') conn.send({ type: 'recv-ack', seq: m.seq });
    if (!dev || !this.md) {
      conn.send({ type: 'write-ack', seq: m.seq, ok: false });
      return;
    }
    if (m.offset < 0 || m.length < 0 || m.offset + m.length > this.md.usableSize || (m.kind === 'write' && (!m.payload || m.payload.length !== m.length))) {
      this.log.warn({ offset: m.offset, length: m.length }, 'invalid data message from peer dropped');
      conn.send({ type: 'write-ack', seq: m.seq, ok: false });
      return;
    }
    // acquired synchronously in arrival order: overlapping writes land in the Primary's order
    const hold = this.lock.acquire(m.offset, m.length);
    const release = typeof hold === 'function' ? hold : await hold;
    let ok = true;
    try {
      await this.writeLocal(dev, m.offset, m.length, m.kind, m.payload, m.fua);
      this.counters.nr += m.length / 1024;
      this.counters.dw += m.length / 1024;
    } catch (err) {
      ok = false;
      this.md?.bitmap.setRange(m.offset, m.length);
      this.log.error({ err: (err as Error).message, offset: m.offset }, 'write of replicated data failed');
    } finally {
      release();
    }
    if (this.conn === conn) conn.send({ type: 'write-ack', seq: m.seq, ok });
  }

  private async applyPeerFlush(conn: PeerConnection, seq: number): Promise<void> {
    let ok = true;
    try {
      await this.lock.drain();
      await this.dev?.flush();
    } catch {
      ok = false;
    }
    if (this.conn === conn) conn.send({ type: 'flush-ack', seq, ok });
  }

  private async writeLocal(dev: BlockDevice, offset: number, length: number, kind: DataMsg['kind'], payload: Buffer | undefined, fua: boolean): Promise<void> {
    if (kind === 'write') await dev.write(offset, payload!);
    else if (kind === 'trim') await dev.discard(offset, length);
    else await writeZeroes(dev, offset, length);
    if (fua) await dev.flush();
  }

  // ---------------------------------------------------------------- the Primary's I/O (NbdBackend)

  private assertServing(): void {
    if (this.role !== 'Primary') throw new StorageError('resource is Secondary', { code: 'EPERM', op: 'read', offset: 0, path: this.name });
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.assertServing();
    const dev = this.dev;
    if (!dev) throw new StorageError('no local disk (Diskless): reads through the peer are not implemented', { code: 'EIO', op: 'read', offset: offset, path: this.name });
    if (this.disk !== 'UpToDate' && this.md?.bitmap.testRange(offset, length)) {
      // these blocks are not yet resynced here; serving them would return stale data
      throw new StorageError('block is out of sync on this node', { code: 'EIO', op: 'read', offset: offset, path: this.name });
    }
    const data = await dev.read(offset, length);
    this.counters.dr += length / 1024;
    return data;
  }

  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    return this.submitWrite(offset, data.length, 'write', data, fua);
  }

  trim(offset: number, length: number): Promise<void> {
    return this.submitWrite(offset, length, 'trim', undefined, false);
  }

  writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    return this.submitWrite(offset, length, 'zeroes', undefined, fua);
  }

  private replicating(): boolean {
    return this.conn !== null && (this.cs === 'Connected' || this.cs === 'SyncSource' || this.cs === 'PausedSyncS'
      || this.cs === 'WFBitMapS' || this.cs === 'SyncTarget' || this.cs === 'PausedSyncT' || this.cs === 'WFBitMapT' || this.cs === 'WFSyncUUID');
  }

  private async submitWrite(offset: number, length: number, kind: DataMsg['kind'], payload: Buffer | undefined, fua: boolean): Promise<void> {
    this.assertServing();
    const dev = this.dev;
    const md = this.md;
    if (!dev || !md) throw new StorageError('no local disk (Diskless)', { code: 'EIO', op: 'write', offset: offset, path: this.name });
    const hold = this.lock.acquire(offset, length);
    const release = typeof hold === 'function' ? hold : await hold;
    this.counters.ap++;
    try {
      const al = md.markActive(offset, length);
      if (al) {
        this.counters.al++;
        await al;
      }
      const conn = this.replicating() ? this.conn : null;
      let peer: Promise<unknown> | null = null;
      let seq = 0;
      if (conn) {
        const needs: AckLevel = this.cfg.protocol === 'C' ? 'write' : this.cfg.protocol === 'B' ? 'recv' : 'none';
        const p = this.pending.add(offset, length, needs);
        seq = p.seq;
        conn.send({ type: 'data', seq, offset, length, kind, fua, payload });
        this.counters.ns += length / 1024;
        this.counters.pe = this.pending.size;
        if (needs === 'write') peer = p.done;
        else if (needs === 'recv') peer = p.received;
      } else {
        md.bitmap.setRange(offset, length);
        this.counters.oos = this.oosKiB();
      }
      await this.writeLocal(dev, offset, length, kind, payload, fua);
      this.counters.dw += length / 1024;
      if (peer) await peer;
    } finally {
      this.counters.ap--;
      release();
    }
  }

  async flush(): Promise<void> {
    this.assertServing();
    const dev = this.dev;
    if (!dev) throw new StorageError('no local disk (Diskless)', { code: 'EIO', op: 'flush', offset: 0, path: this.name });
    const conn = this.replicating() ? this.conn : null;
    let peer: Promise<unknown> | null = null;
    if (conn) {
      const p = this.pending.add(0, 0, 'write');
      conn.send({ type: 'flush', seq: p.seq });
      peer = p.done;
    }
    await dev.flush();
    if (peer) await peer;
  }

  // ---------------------------------------------------------------- roles

  async primary(force: boolean): Promise<Verdict> {
    const v = checkPromote(this.roleView(), force);
    if (!v.ok) return v;
    if (this.role === 'Primary') return v;
    const md = this.md;
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
          this.startAdminSync(true, 'primary --force');
        }
      }
      md.flags.add('primary-ind');
      await md.saveSuperblock();
    }
    this.role = 'Primary';
    await this.deps.exportDevice(this, this);
    this.exported = true;
    this.setState({ role: 'Primary' });
    this.conn?.send({ type: 'state', role: 'Primary', disk: this.disk });
    return { ok: true };
  }

  async secondary(): Promise<Verdict> {
    const v = checkDemote(this.roleView());
    if (!v.ok) return v;
    if (this.role !== 'Primary') return v;
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
    this.conn?.send({ type: 'state', role: 'Secondary', disk: this.disk });
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
    md.bitmap.setAll();
    md.flags.add('full-sync');
    if (!remote) {
      md.flags.delete('consistent');
      this.setState({ disk: 'Inconsistent' });
    }
    await md.flushBitmap();
    await md.saveSuperblock();
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

  setPaused(paused: boolean): Verdict {
    if (!isSyncing(this.cs) && this.cs !== 'PausedSyncS' && this.cs !== 'PausedSyncT') {
      this.userPaused = paused;
      return { ok: true };
    }
    this.userPaused = paused;
    const now = this.deps.now();
    if (paused) this.progress?.pause(now);
    else this.progress?.resume(now);
    this.planner?.setPaused(paused);
    if (this.cs === 'SyncSource' || this.cs === 'PausedSyncS') this.setState({ cs: paused ? 'PausedSyncS' : 'SyncSource' });
    if (this.cs === 'SyncTarget' || this.cs === 'PausedSyncT') this.setState({ cs: paused ? 'PausedSyncT' : 'SyncTarget' });
    if (!paused) this.pumpResync();
    return { ok: true };
  }

  async verify(): Promise<Verdict> {
    const v = checkVerify(this.roleView(), this.cfg.disk.verifyAlg ?? 'crc32c');
    if (!v.ok) return v;
    const md = this.md!;
    this.verifyState = { next: 0, inFlight: 0, oos: 0, total: md.usableSize };
    this.progress = new SyncProgress(Math.min(md.usableSize, this.size), this.deps.now());
    this.setState({ cs: 'VerifyS' });
    this.conn?.send({ type: 'state', role: this.role, disk: this.disk });
    void this.pumpVerify();
    return { ok: true };
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
      conn.send({ type: 'checksum-request', offset, length, crc: crc32c(data), purpose: 'verify' });
    }
  }

  private async answerChecksum(conn: PeerConnection, offset: number, length: number, crc: number, purpose: 'csum-resync' | 'verify'): Promise<void> {
    const dev = this.dev;
    const md = this.md;
    if (!dev || !md || offset < 0 || length <= 0 || offset + length > md.usableSize) return;
    if (this.cs === 'Connected') this.setState({ cs: 'VerifyT' });
    const data = await dev.read(offset, length);
    const equal = crc32c(data) === crc;
    if (!equal) {
      md.bitmap.setRange(offset, length);
      this.counters.oos = this.oosKiB();
    }
    if (this.conn === conn) conn.send({ type: 'checksum-reply', offset, length, equal, purpose });
    if (offset + length >= Math.min(md.usableSize, this.size) && this.cs === 'VerifyT') this.setState({ cs: 'Connected' });
  }

  private onChecksumReply(offset: number, length: number, equal: boolean): void {
    const st = this.verifyState;
    const md = this.md;
    if (!st || !md) return;
    st.inFlight--;
    if (!equal) {
      st.oos += length;
      md.bitmap.setRange(offset, length);
      this.log.warn({ offset, length }, 'Out of sync: start=%d, size=%d (bytes)', offset, length);
    }
    this.counters.oos = this.oosKiB();
    this.progress?.update(Math.max(0, this.size - offset - length), this.deps.now());
    if (st.next >= this.size && st.inFlight === 0) {
      this.log.info({ oosBytes: st.oos }, `Online verify done; found ${Math.round(st.oos / 1024)} KiB out of sync`);
      this.verifyState = null;
      this.progress = null;
      this.setState({ cs: 'Connected' });
      return;
    }
    void this.pumpVerify();
  }

  applyConfig(cfg: ResolvedResource): void {
    this.cfg = cfg;
    this.planner?.setRate(cfg.disk.resyncRateBytesPerSec);
  }

  private async runHandler(name: string): Promise<void> {
    const cmd = this.cfg.handlers[name];
    if (!cmd) return;
    await this.deps.runHandler(name, {
      DRBD_RESOURCE: this.name,
      DRBD_MINOR: String(this.cfg.self.minor),
      DRBD_PEER: this.cfg.peer.name,
      DRBD_PEERS: this.cfg.peer.name,
      DRBD_PEER_ADDRESS: this.cfg.peer.address.host,
      DRBD_PEER_AF: this.cfg.peer.address.family,
      DRBD_CONF: '',
      TANDEM_RESOURCE: this.name,
      TANDEM_PEER: this.cfg.peer.name,
    });
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
        paused: this.userPaused,
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
      flags: { ...IDLE_IO_FLAGS, pausedByUser: this.userPaused && syncing },
      counters: {
        ns: Math.round(this.counters.ns), nr: Math.round(this.counters.nr), dw: Math.round(this.counters.dw), dr: Math.round(this.counters.dr),
        al: this.counters.al, bm: this.counters.bm, lo: 0, pe: this.pending.size, ua: 0, ap: this.counters.ap, ep: 1,
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
