// The data handshake on an established connection (DRBD's drbd_sync_handshake and bitmap
// exchange): our params out, the peer's params in, the decision (connect-decision.ts: none,
// sync-source, sync-target or disconnect, with the split-brain handlers), both bitmaps exchanged
// in pieces and OR-ed, the sync UUID, then the resync starts (resync.ts). Also what the peer tells
// us later about its data: its state (role, disk), new UUIDs, an administrative sync plan
// (invalidate, invalidate-remote, primary --force), and a disk attached on a live connection
// negotiating again. The link and the connection's lifetime are in connection.ts.
import { RESIZE_FEATURE } from './resize.js';
import type { BitmapMsg, DiskState, ParamsMsg, Role, WireUuids } from './messages.js';
import type { PeerConnection } from './peer-connection.js';
import type { ResourceMetadata } from './resource-metadata.js';
import { maskRoleBit, onSkipInitialSyncReceived } from './generation-uuids.js';
import { parseWireUuid, uuidsFromWire, uuidsToWire } from './uuid-engine.js';
import { decideConnect, type ConnectDecision } from './connect-decision.js';
import { diskRank } from './state-rules.js';
import type { ResourceContext } from './resource-context.js';
import { runHandlers } from './handlers-fencing.js';
import type { Resync } from './resync.js';

/** well below the peer link's 16 MiB frame payload limit */
const BITMAP_PIECE_BYTES = 4 << 20;

export interface HandshakeHooks {
  /** the peer lost its disk: a running resync or verify with it stops */
  abortSync: (reason: string) => void;
  /** call-pri-lost-after-sb made this Primary the loser: demote (the Resource's role change) */
  giveUpPrimary: () => Promise<void>;
}

export class Handshake {
  private peerBitmapParts: { total: number; got: number } | null = null;
  private peerBitmapReceived = false;
  private localBitmapSent = false;
  private decision: ConnectDecision | null = null;
  private discardMyData = false;
  /** we attached on a live connection and re-sent our params; the peer's answer starts the handshake */
  private renegotiating = false;
  /** the disk state our metadata gives while the live state shows Negotiating */
  private negotiatedDisk: DiskState | null = null;

  constructor(
    private readonly ctx: ResourceContext,
    private readonly resync: Resync,
    private readonly hooks: HandshakeHooks,
  ) {}

  /** `connect --discard-my-data` (a new connect starts without it unless given again) */
  setDiscardMyData(discard: boolean, keepEarlier: boolean): void {
    if (keepEarlier) {
      if (discard) this.discardMyData = true;
      return;
    }
    this.discardMyData = discard;
  }

  /** A new connection: nothing is known of the peer yet. */
  begin(): void {
    this.ctx.peerParams = null;
    this.forgetExchange();
  }

  /** A resync or verify stopped, or a new connection: no decision and no bitmap exchange under way. */
  forgetExchange(): void {
    this.peerBitmapReceived = false;
    this.peerBitmapParts = null;
    this.localBitmapSent = false;
    this.decision = null;
  }

  /** The connection is gone: a renegotiation under way is over and the disk shows what its metadata says. */
  connectionGone(): void {
    this.renegotiating = false;
    const s = this.ctx.state;
    if (s.disk === 'Negotiating') s.change({ disk: this.negotiatedDisk ?? 'Inconsistent' });
    this.negotiatedDisk = null;
  }

  /** A disk attached on a live connection: negotiated again, exactly like a fresh connect, before it is trusted. */
  renegotiate(conn: PeerConnection, disk: DiskState): void {
    this.negotiatedDisk = disk;
    this.renegotiating = true;
    this.ctx.state.change({ disk: 'Negotiating' });
    this.sendParams(conn);
  }

  sendParams(conn: PeerConnection): void {
    const ctx = this.ctx;
    const md = ctx.md;
    const disk = ctx.state.disk;
    conn.send({
      type: 'params',
      protocol: ctx.cfg.protocol,
      usableSize: md ? ctx.localSize : 0,
      uuids: md ? uuidsToWire(md.uuids) : { current: '0', bitmap: '0', history: ['0', '0'] },
      flags: md ? [...md.flags] : [],
      dirtyBits: md?.bitmap.count() ?? 0,
      role: ctx.state.role,
      disk: disk === 'Negotiating' && this.negotiatedDisk ? this.negotiatedDisk : disk,
      discardMyData: this.discardMyData,
      features: [RESIZE_FEATURE],
      ...(ctx.cfg.disk.csumsAlg ? { csumsAlg: ctx.cfg.disk.csumsAlg.toLowerCase() } : {}),
    });
  }

  onPeerParams(conn: PeerConnection, p: ParamsMsg): void {
    const ctx = this.ctx;
    const s = ctx.state;
    if (p.protocol !== ctx.cfg.protocol) {
      ctx.log.error({ local: ctx.cfg.protocol, peer: p.protocol }, 'incompatible communication protocols');
      ctx.closeConnection('incompatible protocol', 'StandAlone');
      return;
    }
    const csums = ctx.cfg.disk.csumsAlg?.toLowerCase() ?? '';
    if ((p.csumsAlg ?? '') !== csums) {
      // drbd receive_SyncParam: "Different csums-alg settings. me=\"%s\" peer=\"%s\"", then disconnect
      ctx.log.error({ local: csums, peer: p.csumsAlg ?? '' }, `Different csums-alg settings. me="${csums}" peer="${p.csumsAlg ?? ''}"`);
      ctx.closeConnection('different csums-alg settings', 'StandAlone');
      return;
    }
    // Params on an established connection: one side attached a disk and negotiates again. The side
    // that did not start it answers with its own params first, so both decide from fresh facts.
    const again = ctx.peerParams !== null;
    if (again && !this.renegotiating) this.sendParams(conn);
    const negotiating = this.renegotiating;
    this.renegotiating = false;
    ctx.peerParams = p;
    ctx.peerUsableSize = p.usableSize;
    const md = ctx.md;
    if (!md) {
      // a diskless node follows the peer's data entirely, but a Primary only the data it exposed:
      // a peer that missed our latest writes must not become the only copy (drbd receive_uuids)
      const peerCurrent = maskRoleBit(uuidsFromWire(p.uuids).current);
      if (s.role === 'Primary' && ctx.exposedUuid !== null && peerCurrent !== ctx.exposedUuid) {
        const hex = ctx.exposedUuid.toString(16).toUpperCase().padStart(16, '0');
        ctx.log.error({ peerCurrent: peerCurrent.toString(16) }, `Can only connect to data with current UUID=${hex}`);
        ctx.closeConnection(`Can only connect to data with current UUID=${hex}`, 'StandAlone');
        return;
      }
      if (s.role === 'Primary') ctx.exposedUuid = peerCurrent;
      s.change({ cs: 'Connected', peerRole: p.role, peerDisk: p.disk });
      return;
    }
    const myDisk: DiskState = s.disk === 'Negotiating' && this.negotiatedDisk ? this.negotiatedDisk : s.disk;
    this.negotiatedDisk = null;
    if (p.disk === 'Diskless') {
      s.change({ cs: 'Connected', peerRole: p.role, peerDisk: p.disk, disk: myDisk });
      return;
    }
    const d = decideConnect(
      { uuids: md.uuids, flags: md.flags, dirtyBits: md.bitmap.count(), role: s.role, disk: myDisk, discardMyData: this.discardMyData },
      { uuids: uuidsFromWire(p.uuids), flags: new Set(p.flags), dirtyBits: p.dirtyBits, role: p.role, disk: p.disk, discardMyData: p.discardMyData },
      {
        net: ctx.cfg.net,
        selfNode: ctx.cfg.self.name,
        peerNode: ctx.cfg.peer.name,
        canDemote: s.role === 'Primary' && !ctx.deps.deviceOpen(ctx.owner),
        negotiating,
      },
    );
    this.decision = d;
    for (const line of d.log) ctx.log.warn({ rule: d.rule }, line);
    void runHandlers(ctx, d.handlers);
    if (s.disk !== myDisk) s.change({ disk: myDisk });
    if (d.action === 'disconnect') {
      ctx.log.error({ rule: d.rule, reason: d.reason }, d.reason);
      ctx.closeConnection(d.reason, 'StandAlone');
      return;
    }
    this.discardMyData = false;
    ctx.log.info({ rule: d.rule, action: d.action, mode: d.mode }, `sync handshake: ${d.action}${d.mode ? ` (${d.mode})` : ''}`);
    if (d.action === 'none') {
      // consistent data on both sides becomes UpToDate on connect
      const disk: DiskState = diskRank(s.disk) >= diskRank('Outdated') && diskRank(p.disk) >= diskRank('Outdated') ? 'UpToDate' : s.disk;
      const peerDisk: DiskState = disk === 'UpToDate' && diskRank(p.disk) >= diskRank('Outdated') ? 'UpToDate' : p.disk;
      if (md.bitmap.count() > 0 && disk === 'UpToDate' && peerDisk === 'UpToDate') {
        ctx.log.warn({ bits: md.bitmap.count() }, `No resync, but ${md.bitmap.count()} bits in bitmap!`);
      }
      s.change({ cs: 'Connected', peerRole: p.role, disk, peerDisk });
      return;
    }
    const source = d.action === 'sync-source';
    s.change({ cs: source ? 'WFBitMapS' : 'WFBitMapT', peerRole: p.role, peerDisk: p.disk });
    // a full sync is on disk (markFullSync) before our bitmap goes out and the resync can start
    const prepared = d.mode === 'full' ? this.resync.markFullSync(md) : Promise.resolve();
    if (d.giveUpPrimary) {
      // call-pri-lost-after-sb made this Primary the loser and nobody holds the device open:
      // demote first, then take the SyncTarget side ("Successfully gave up primary role.")
      void prepared.then(() => this.hooks.giveUpPrimary()).then(
        () => this.sendBitmap(conn),
        (err: Error) => {
          ctx.log.error({ err: err.message }, 'could not give up the Primary role; dropping the connection');
          ctx.closeConnection('could not give up the Primary role', 'StandAlone');
        },
      );
      return;
    }
    if (d.mode !== 'full') return this.sendBitmap(conn);
    prepared.then(() => this.sendBitmap(conn), (err: Error) => ctx.onLocalIoError(err, 'metadata write'));
  }

  // ---------------------------------------------------------------- bitmap exchange

  private sendBitmap(conn: PeerConnection): void {
    const md = this.ctx.md;
    if (!md || this.ctx.conn !== conn) return;
    this.sendBitmapPieces(conn, md);
    this.localBitmapSent = true;
    this.maybeStartSync(conn);
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

  /** Each piece of the peer's bitmap is OR-ed into ours as it arrives: no full-size copy of it. */
  onBitmapPiece(conn: PeerConnection, msg: BitmapMsg): void {
    const md = this.ctx.md;
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
    this.maybeStartSync(conn);
  }

  /** Both bitmaps are exchanged and OR-ed: the blocks either side changed are the ones to send. */
  private maybeStartSync(conn: PeerConnection): void {
    const ctx = this.ctx;
    const md = ctx.md;
    const d = this.decision;
    if (!md || !d || !this.localBitmapSent || !this.peerBitmapReceived) return;
    if (d.action !== 'sync-source' && d.action !== 'sync-target') return;
    this.peerBitmapReceived = false;
    if (d.action === 'sync-source') {
      const { uuids, syncUuid } = ctx.deps.uuids.syncSourceStart(md.uuids);
      md.uuids = uuids;
      ctx.persistSuperblock();
      conn.send({ type: 'sync-uuid', uuid: syncUuid.toString(16) });
      this.resync.startAs('SyncSource');
    } else {
      ctx.state.change({ cs: 'WFSyncUUID' });
    }
  }

  onSyncUuid(uuid: string): void {
    const ctx = this.ctx;
    const md = ctx.md;
    if (!md || ctx.state.cs !== 'WFSyncUUID') {
      ctx.log.warn({ cs: ctx.state.cs }, 'sync-uuid outside WFSyncUUID dropped');
      return;
    }
    md.uuids = ctx.deps.uuids.syncTargetStart(md.uuids, parseWireUuid(uuid), ctx.state.role);
    ctx.persistSuperblock();
    this.resync.startAs('SyncTarget');
  }

  // ---------------------------------------------------------------- administrative syncs

  /**
   * A full sync started by the administrator (primary --force, invalidate, invalidate-remote):
   * announce it, mark everything, exchange bitmaps; the usual start-of-sync flow follows.
   */
  startAdminSync(asSource: boolean, reason: string): void {
    const ctx = this.ctx;
    const md = ctx.md;
    const conn = ctx.conn;
    if (!md || !conn) return;
    this.resync.stop();
    md.bitmap.setAll();
    this.decision = { action: asSource ? 'sync-source' : 'sync-target', mode: 'full', rule: 0, reason, log: [], handlers: [] };
    this.peerBitmapReceived = false;
    this.peerBitmapParts = null;
    ctx.state.change({ cs: asSource ? 'StartingSyncS' : 'StartingSyncT' });
    conn.send({ type: 'sync-plan', plan: asSource ? 'source' : 'target', mode: 'full' });
    ctx.state.change({ cs: asSource ? 'WFBitMapS' : 'WFBitMapT' });
    this.sendBitmapPieces(conn, md);
    this.localBitmapSent = true;
    this.maybeStartSync(conn);
  }

  /**
   * A bitmap-based sync this Primary starts on a live connection (after `resize` marked the grown
   * area): like the administrative full sync, without marking everything.
   */
  startBitmapSync(reason: string): void {
    const ctx = this.ctx;
    const md = ctx.md;
    const conn = ctx.conn;
    if (!md || !conn) return;
    this.resync.stop();
    this.decision = { action: 'sync-source', mode: 'bitmap', rule: 0, reason, log: [], handlers: [] };
    this.peerBitmapReceived = false;
    this.peerBitmapParts = null;
    ctx.state.change({ cs: 'StartingSyncS' });
    conn.send({ type: 'sync-plan', plan: 'source', mode: 'bitmap' });
    ctx.state.change({ cs: 'WFBitMapS' });
    this.sendBitmapPieces(conn, md);
    this.localBitmapSent = true;
    this.maybeStartSync(conn);
  }

  /** The peer started an administrative sync; take the opposite side of it. */
  onPeerSyncPlan(plan: 'none' | 'source' | 'target', mode: 'bitmap' | 'full'): void {
    const ctx = this.ctx;
    const md = ctx.md;
    const conn = ctx.conn;
    if (!md || !conn || plan === 'none') return;
    this.resync.stop();
    const asSource = plan === 'target';
    if (!asSource) {
      md.flags.delete('consistent');
      ctx.state.change({ disk: 'Inconsistent' });
    }
    this.decision = { action: asSource ? 'sync-source' : 'sync-target', mode, rule: 0, reason: 'requested by peer', log: [], handlers: [] };
    ctx.state.change({ cs: asSource ? 'WFBitMapS' : 'WFBitMapT' });
    // the metadata says Inconsistent / all out of sync before the first resync block can land
    const ready = mode === 'full' ? this.resync.markFullSync(md) : md.saveSuperblock();
    ready.then(() => {
      if (ctx.conn !== conn || ctx.md !== md) return;
      this.sendBitmapPieces(conn, md);
      this.localBitmapSent = true;
      this.maybeStartSync(conn);
    }, (err: Error) => ctx.onLocalIoError(err, 'metadata write'));
  }

  // ---------------------------------------------------------------- what the peer tells us later

  /**
   * The peer's role or disk changed. A peer that lost its disk stops any resync with it; if either
   * side is Primary, this node starts a new data generation (DRBD's lost_contact_to_peer_data), so
   * the peer's reattached disk later resyncs by bitmap (rule 50) instead of in full.
   */
  onPeerState(role: Role, disk: DiskState): void {
    const ctx = this.ctx;
    const s = ctx.state;
    const before = s.peerDisk;
    s.change({ peerRole: role, peerDisk: disk });
    const hadData = diskRank(before) >= diskRank('Inconsistent') && before !== 'Outdated' && before !== 'DUnknown';
    if (!hadData || diskRank(disk) >= diskRank('Inconsistent')) return;
    this.hooks.abortSync('peer lost its disk');
    const md = ctx.md;
    if (md && (s.role === 'Primary' || role === 'Primary') && md.uuids.bitmap === 0n && s.disk === 'UpToDate') {
      md.uuids = ctx.deps.uuids.newCurrent(md.uuids, s.role);
      ctx.persistSuperblock();
      ctx.conn?.send({ type: 'uuids', uuids: uuidsToWire(md.uuids), dirtyBits: md.bitmap.count(), skipInitialSync: false });
      ctx.log.info({ uuids: uuidsToWire(md.uuids) }, 'peer lost its disk: new current UUID');
    }
  }

  onPeerUuids(w: WireUuids, skipInitialSync: boolean): void {
    const ctx = this.ctx;
    const s = ctx.state;
    const md = ctx.md;
    if (!md) {
      // the UpToDate peer started a new generation for our diskless Primary: that is what we expose now
      if (s.role === 'Primary' && ctx.exposedUuid !== null) ctx.exposedUuid = maskRoleBit(uuidsFromWire(w).current);
      return;
    }
    const peer = uuidsFromWire(w);
    if (skipInitialSync) {
      // the peer ran `new-current-uuid --clear-bitmap` on a just-created pair: adopt it, no sync
      const r = onSkipInitialSyncReceived(md.uuids, peer.current, { role: s.role, connected: s.connected });
      if (!r.accepted) return;
      md.uuids = r.uuids;
      md.bitmap.clearAll();
      md.flags.add('consistent');
      md.flags.add('was-up-to-date');
      s.change({ disk: 'UpToDate', peerDisk: 'UpToDate' });
      ctx.persistSuperblock();
      void md.flushBitmap();
      return;
    }
    if (ctx.peerParams) ctx.peerParams = { ...ctx.peerParams, uuids: w };
  }
}
