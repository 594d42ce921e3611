// One replicated resource on this node: the composition of its parts, and what the daemon and the
// NBD server call. The parts, each in its own file, in the order a write meets them:
//   resource-state.ts        role, disk and connection state; the one way to change them
//   resource-context.ts      what the parts share (config, disk, metadata, connection, lock, pending)
//   handlers-fencing.ts      handlers, fence-peer, outdate, the IO freeze
//   write-pipeline.ts        the Primary's writes, top to bottom, and the acks that complete them
//   read-path.ts             the Primary's reads (local, or from an UpToDate peer)
//   local-disk.ts            attach/detach, on-io-error, the local writes every path ends in
//   secondary-apply.ts       the Secondary's apply path and the reads it serves for the Primary
//   connection.ts            the peer link's lifetime, ko-count, what a lost connection settles
//   connection-handshake.ts  params, UUIDs, the sync decision, bitmap exchange, admin sync plans
//   resync.ts                both ends of a resync, pause-sync, full-sync marking
//   online-verify.ts         both ends of online verify
//   resource-status.ts       the status the daemon shows
// This file wires them, routes each peer message to its part and carries the administrative
// commands that span several parts (role changes, invalidate, new-current-uuid, down). The
// decisions it takes (may I promote? which way to sync? who wins a split-brain?) are pure
// functions in their own files.
import type { FaultSpec } from '../storage/block-device.js';
import type { ResolvedResource } from '../config/index.js';
import type { NbdBackend } from '../nbd/server.js';
import type { DiskState, PeerMessage, Role, WireUuids } from './messages.js';
import { PROTOCOL_VERSION } from './messages.js';
import type { PeerConnection } from './peer-connection.js';
import { checkDemote, checkInvalidate, checkPromote, diskRank, entersPrimaryWithoutGoodData, refuse, type ConnState, type RoleView, type Verdict } from './state-rules.js';
import { uuidsToWire } from './uuid-engine.js';
import type { ResourceStatus } from '../daemon/status-types.js';
import { ResourceContext, ResourceError, type Counters, type ResourceDeps } from './resource-context.js';
import { applyStateToFlags } from './resource-state.js';
import { Fencing, runHandler } from './handlers-fencing.js';
import { LocalDisk } from './local-disk.js';
import { WritePipeline } from './write-pipeline.js';
import { ReadPath } from './read-path.js';
import { SecondaryApply } from './secondary-apply.js';
import { Resync } from './resync.js';
import { OnlineVerify } from './online-verify.js';
import { Handshake } from './connection-handshake.js';
import { Connection } from './connection.js';
import { resourceStatus } from './resource-status.js';
import { Resize, type ResizeOptions } from './resize.js';
import type { ResizeRefusal } from './resize-decision.js';

export { ResourceError, PROTOCOL_VERSION };
export type { ResourceDeps };

export class Resource implements NbdBackend {
  private readonly ctx: ResourceContext;
  private readonly fencing: Fencing;
  private readonly disk_: LocalDisk;
  private readonly writes: WritePipeline;
  private readonly reads: ReadPath;
  private readonly apply: SecondaryApply;
  private readonly resync: Resync;
  private readonly verifier: OnlineVerify;
  private readonly handshake: Handshake;
  private readonly connection: Connection;
  private readonly resizer: Resize;
  private exported = false;

  constructor(cfg: ResolvedResource, private readonly deps: ResourceDeps) {
    const ctx = (this.ctx = new ResourceContext(cfg, deps, this));
    this.fencing = new Fencing(ctx);
    this.disk_ = new LocalDisk(ctx, {
      abortSync: (reason) => this.abortSync(reason),
      renegotiate: (conn, disk) => this.handshake.renegotiate(conn, disk),
    });
    this.writes = new WritePipeline(ctx, this.fencing, this.disk_);
    this.reads = new ReadPath(ctx, this.fencing);
    this.apply = new SecondaryApply(ctx, this.disk_);
    this.resync = new Resync(ctx, this.disk_);
    this.verifier = new OnlineVerify(ctx);
    this.handshake = new Handshake(ctx, this.resync, {
      abortSync: (reason) => this.abortSync(reason),
      giveUpPrimary: () => this.becomeSecondary(),
    });
    this.connection = new Connection(ctx, { handshake: this.handshake, resync: this.resync, verify: this.verifier, fencing: this.fencing }, (conn, msg) =>
      this.onPeerMessage(conn, msg),
    );
    this.resizer = new Resize(ctx, {
      startBitmapSync: (reason) => this.handshake.startBitmapSync(reason),
      sizeChanged: () => (this.exported && deps.resizeDevice ? deps.resizeDevice(this) : Promise.resolve()),
    });
    // bound straight to their parts: a disk error deep on the write path goes to local-disk.ts
    // without passing through this file again
    ctx.onLocalIoError = this.disk_.onLocalIoError.bind(this.disk_);
    ctx.closeConnection = this.connection.closeConnection.bind(this.connection);
    ctx.state.observe((before, after) => {
      if (ctx.md && applyStateToFlags(ctx.md, after)) ctx.persistSuperblock();
      if (entersPrimaryWithoutGoodData(before, after)) void runHandler(ctx, 'pri-on-incon-degr');
      if (before.cs !== after.cs && after.cs !== 'Connected') this.resizer.connectionLost();
      this.fencing.afterTransition();
      deps.onChange();
    });
  }

  // ---------------------------------------------------------------- what the daemon reads

  get cfg(): ResolvedResource {
    return this.ctx.cfg;
  }

  get log(): ResourceContext['log'] {
    return this.ctx.log;
  }

  get name(): string {
    return this.ctx.name;
  }

  get role(): Role {
    return this.ctx.state.role;
  }

  get peerRole(): Role {
    return this.ctx.state.peerRole;
  }

  get disk(): DiskState {
    return this.ctx.state.disk;
  }

  get peerDisk(): DiskState {
    return this.ctx.state.peerDisk;
  }

  get cs(): ConnState {
    return this.ctx.state.cs;
  }

  get counters(): Counters {
    return this.ctx.counters;
  }

  /** came back from being a degraded Primary (PRIMARY_IND without CONNECTED_IND): wait-connect uses degr-wfc-timeout */
  get degradedAtAttach(): boolean {
    return this.disk_.degradedAtAttach;
  }

  /** bytes the Primary exports: the smaller of both sizes once connected */
  get size(): number {
    return this.ctx.size;
  }

  get readOnly(): boolean {
    return false;
  }

  get isAttached(): boolean {
    return this.ctx.dev !== null;
  }

  get isUp(): boolean {
    return this.ctx.dev !== null || this.ctx.link !== null;
  }

  roleView(): RoleView {
    return this.ctx.roleView();
  }

  uuidsWire(): WireUuids | null {
    return this.ctx.md ? uuidsToWire(this.ctx.md.uuids) : null;
  }

  dirtyBits(): number {
    return this.ctx.md?.bitmap.count() ?? 0;
  }

  status(): ResourceStatus {
    return resourceStatus(this.ctx, { verifyNext: this.verifier.nextOffset, ioFrozen: this.fencing.frozen });
  }

  // ---------------------------------------------------------------- NbdBackend: the Primary's I/O

  read(offset: number, length: number): Promise<Buffer> {
    return this.reads.read(offset, length);
  }

  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    return this.writes.write(offset, data, fua);
  }

  trim(offset: number, length: number): Promise<void> {
    return this.writes.trim(offset, length);
  }

  writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    return this.writes.writeZeroes(offset, length, fua);
  }

  flush(): Promise<void> {
    return this.writes.flush();
  }

  // ---------------------------------------------------------------- peer messages, each to its part

  private onPeerMessage(conn: PeerConnection, msg: PeerMessage): void {
    switch (msg.type) {
      case 'params':
        return this.handshake.onPeerParams(conn, msg);
      case 'bitmap':
        return this.handshake.onBitmapPiece(conn, msg);
      case 'sync-uuid':
        return this.handshake.onSyncUuid(msg.uuid);
      case 'state':
        this.resync.setPeerPaused(!!msg.userPaused);
        return this.handshake.onPeerState(msg.role, msg.disk);
      case 'uuids':
        return this.handshake.onPeerUuids(msg.uuids, msg.skipInitialSync);
      case 'sync-plan':
        return this.handshake.onPeerSyncPlan(msg.plan, msg.mode);
      case 'data':
        return void this.apply.applyPeerWrite(conn, msg);
      case 'flush':
        return void this.apply.applyPeerFlush(conn, msg.seq);
      case 'out-of-sync':
        return this.apply.onOutOfSync(msg.offset, msg.length);
      case 'read-request':
        return void this.apply.serveReadRequest(conn, msg);
      case 'recv-ack':
        return this.writes.onRecvAck(msg.seq);
      case 'write-ack':
        return this.writes.onWriteAck(msg.seq, msg.ok);
      case 'write-acks':
        return this.writes.onWriteAcks(msg.seqs);
      case 'flush-ack':
        return this.writes.onFlushAck(msg.seq, msg.ok);
      case 'read-reply':
        return this.reads.onReadReply(msg);
      case 'resync-request':
        return void this.resync.serveRequest(conn, msg.offset, msg.length);
      case 'resync-data':
        return void this.resync.applyData(msg.offset, msg.payload);
      case 'resync-done':
        return this.resync.onPeerDone(msg.ok);
      case 'checksum-request':
        if (msg.purpose === 'csum-resync') return void this.resync.serveChecksum(conn, msg);
        return void this.verifier.answerChecksum(conn, msg);
      case 'checksum-reply':
        if (msg.purpose === 'csum-resync') return this.resync.onChecksumReply(msg);
        return this.verifier.onChecksumReply(msg.offset, msg.length, msg.equal, msg.diff);
      case 'disconnect':
        return this.connection.onPeerDisconnect(msg.reason);
      case 'resize-probe':
        return this.resizer.onProbe(conn);
      case 'resize-info':
      case 'resize-done':
        return this.resizer.onReply(msg);
      case 'resize-commit':
        return void this.resizer.onCommit(conn, msg);
      default:
        this.ctx.log.warn({ type: msg.type }, 'unexpected message from peer dropped');
    }
  }

  /** "A disk failing during sync or verify aborts it (conn → Connected)." */
  private abortSync(reason: string): void {
    const s = this.ctx.state;
    const active = s.syncRunning || s.verifying;
    this.resync.stop();
    this.verifier.stop();
    this.handshake.forgetExchange();
    if (active && this.ctx.conn) {
      this.ctx.log.warn({ reason, cs: s.cs }, 'resync/verify aborted');
      s.change({ cs: 'Connected' });
    }
  }

  // ---------------------------------------------------------------- disk and connection

  attach(): Promise<void> {
    return this.disk_.attach();
  }

  detach(): Promise<void> {
    return this.disk_.detach();
  }

  /** Only works when tandemd runs with TANDEM_TEST_FAULTS=1 (the addon refuses otherwise). */
  injectFaults(faults: FaultSpec[]): void {
    this.disk_.injectFaults(faults);
  }

  clearFaults(): void {
    this.disk_.clearFaults();
  }

  connect(opts: { discardMyData: boolean }): void {
    this.connection.connect(opts);
  }

  disconnect(): Promise<Verdict> {
    return this.connection.disconnect();
  }

  // ---------------------------------------------------------------- roles

  async primary(force: boolean): Promise<Verdict> {
    const ctx = this.ctx;
    const s = ctx.state;
    let v = checkPromote(ctx.roleView(), force);
    if (!v.ok && this.fencing.mayFence(v.error)) {
      // drbd_set_role: an unknown peer must be fenced first; a fenced peer lets promotion go on
      await this.fencing.fencePeer();
      v = checkPromote(ctx.roleView(), force);
    }
    if (!v.ok) return v;
    if (s.role === 'Primary') return v;
    const md = ctx.md;
    let fullSyncToPeer = false;
    if (md) {
      const connected = s.connected;
      const forcedOverInconsistent = force && s.disk !== 'UpToDate';
      md.uuids = this.deps.uuids.promote(md.uuids, {
        peerDataReachable: connected && diskRank(s.peerDisk) > diskRank('Failed'),
        forced: forcedOverInconsistent,
      });
      if (forcedOverInconsistent) {
        // --force: this node's data is declared good; a connected peer gets a full sync
        md.flags.add('consistent');
        md.flags.add('was-up-to-date');
        s.change({ disk: 'UpToDate' });
        if (connected && ctx.conn) {
          ctx.conn.send({ type: 'uuids', uuids: uuidsToWire(md.uuids), dirtyBits: md.bitmap.count(), skipInitialSync: false });
          fullSyncToPeer = true;
        }
      }
      md.flags.add('primary-ind');
      await md.saveSuperblock();
    }
    s.setRoleQuietly('Primary');
    try {
      await this.deps.exportDevice(this, this);
    } catch (err) {
      // no block device for the application: stay Secondary rather than a Primary nobody can use
      s.setRoleQuietly('Secondary');
      if (md) {
        md.flags.delete('primary-ind');
        md.uuids = this.deps.uuids.demote(md.uuids);
        await md.saveSuperblock().catch(() => undefined);
      }
      // the data was still declared good: the peer gets it
      if (fullSyncToPeer && ctx.conn) this.handshake.startAdminSync(true, 'primary --force');
      throw new ResourceError(`${this.name}: cannot export the device: ${(err as Error).message}`, 20);
    }
    this.exported = true;
    s.change({ role: 'Primary' });
    ctx.conn?.send({ type: 'state', role: 'Primary', disk: s.disk, userPaused: ctx.userPaused });
    // as in DRBD, the role change comes first and the full sync it asks for after it
    if (fullSyncToPeer && ctx.conn) this.handshake.startAdminSync(true, 'primary --force');
    return { ok: true };
  }

  async secondary(): Promise<Verdict> {
    const v = checkDemote(this.ctx.roleView());
    if (!v.ok) return v;
    if (this.ctx.state.role !== 'Primary') return v;
    await this.becomeSecondary();
    return { ok: true };
  }

  private async becomeSecondary(): Promise<void> {
    const ctx = this.ctx;
    await this.unexport();
    await ctx.lock.drain();
    ctx.state.setRoleQuietly('Secondary');
    if (ctx.dev) await ctx.dev.flush().catch(() => undefined);
    const md = ctx.md;
    if (md) {
      md.uuids = this.deps.uuids.demote(md.uuids);
      md.flags.delete('primary-ind');
      await md.flushBitmap();
      await md.saveSuperblock();
    }
    ctx.state.change({ role: 'Secondary' });
    ctx.sendState();
  }

  private async unexport(): Promise<void> {
    if (!this.exported) return;
    this.exported = false;
    await this.deps.unexportDevice(this);
  }

  /** `outdate`: mark this node's data Outdated (what the peer's fence-peer handler asks for). Persists. */
  outdate(): Promise<Verdict> {
    return this.fencing.outdate();
  }

  /** `resume-io`: lets frozen IO go on (a fence-peer handler that failed leaves it frozen). */
  resumeIo(): Verdict {
    this.fencing.thawIo('resume-io');
    return { ok: true };
  }

  // ---------------------------------------------------------------- admin actions

  async invalidate(remote: boolean): Promise<Verdict> {
    const ctx = this.ctx;
    const v = checkInvalidate(ctx.roleView(), remote);
    if (!v.ok) return v;
    const md = ctx.md!;
    if (!remote) {
      md.flags.delete('consistent');
      ctx.state.change({ disk: 'Inconsistent' });
    }
    await this.resync.markFullSync(md);
    if (ctx.conn) this.handshake.startAdminSync(remote, remote ? 'invalidate-remote' : 'invalidate');
    return { ok: true };
  }

  async newCurrentUuid(clearBitmap: boolean): Promise<Verdict | { ok: false; message: string; exitCode: number }> {
    const ctx = this.ctx;
    const s = ctx.state;
    const md = ctx.md;
    if (!md) return refuse('SS_IS_DISKLESS');
    const connected = s.connected;
    const r = this.deps.uuids.newCurrentCommand(md.uuids, {
      role: s.role,
      conn: s.cs === 'StandAlone' ? 'StandAlone' : s.cs === 'Connected' ? 'Connected' : 'other',
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
      s.change({ disk: 'UpToDate', peerDisk: 'UpToDate' });
      ctx.conn?.send({ type: 'uuids', uuids: uuidsToWire(md.uuids), dirtyBits: 0, skipInitialSync: true });
    }
    await md.flushBitmap();
    await md.saveSuperblock();
    this.deps.onChange();
    return { ok: true };
  }

  /** pause-sync / resume-sync: this node's flag; the peer learns it with our state and pauses too. */
  setPaused(paused: boolean): Verdict | { ok: false; message: string; exitCode: number } {
    return this.resync.setPaused(paused);
  }

  /** `resize [--size=SIZE] [--assume-clean]`: resize.ts */
  resize(o: ResizeOptions): Promise<{ ok: true; message: string } | ResizeRefusal> {
    return this.resizer.run(o);
  }

  verify(): Promise<Verdict> {
    return this.verifier.start();
  }

  /** disk { size } in the config read last differs from the one in effect (adjust resizes) */
  sizeChangedInConfig(): boolean {
    return this.ctx.cfg.disk.sizeBytes !== this.ctx.appliedSize;
  }

  applyConfig(cfg: ResolvedResource): void {
    this.ctx.cfg = cfg;
    this.resync.setRate(cfg.disk.resyncRateBytesPerSec);
  }

  // ---------------------------------------------------------------- down

  async down(): Promise<Verdict> {
    const ctx = this.ctx;
    if (ctx.state.role === 'Primary') {
      const v = await this.secondary();
      if (!v.ok) return v;
    }
    await this.disconnect().catch(() => undefined);
    await this.connection.stopLink();
    await ctx.lock.drain();
    await this.disk_.closeDisk();
    ctx.state.change({ disk: 'Diskless', cs: 'StandAlone' });
    return { ok: true };
  }

  /** SIGTERM: persist everything; the role is not persistent (a restarted node is Secondary). */
  async shutdown(): Promise<void> {
    const ctx = this.ctx;
    await this.unexport().catch(() => undefined);
    if (ctx.state.role === 'Primary') {
      ctx.state.setRoleQuietly('Secondary');
      if (ctx.md) {
        ctx.md.flags.delete('primary-ind');
        ctx.md.uuids = this.deps.uuids.demote(ctx.md.uuids);
      }
    }
    await this.connection.shutdown();
    await ctx.lock.drain();
    await this.disk_.closeDisk();
  }
}
