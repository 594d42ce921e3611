// The connection to the peer over its lifetime: `connect` starts the peer link (peer-link.ts:
// listen, connect, authenticate, keep alive), an established connection starts the data handshake
// (connection-handshake.ts) and hands every message to the Resource's router, the ko-count watch
// expels a peer that stops completing writes, and when the connection ends (lost, refused, torn
// down, `disconnect`) everything that depended on it is settled: unacknowledged writes go into the
// bitmap, peer reads fail, resync and verify stop, a Primary starts a new data generation and asks
// the fence-peer handler to fence the peer.
import type { PeerMessage } from './messages.js';
import { PeerLink } from './peer-link.js';
import type { PeerConnection } from './peer-connection.js';
import { KoWatch } from './ko-count.js';
import { checkDisconnect, diskRank, type ConnState, type Verdict } from './state-rules.js';
import type { ResourceContext } from './resource-context.js';
import type { Fencing } from './handlers-fencing.js';
import type { Handshake } from './connection-handshake.js';
import type { Resync } from './resync.js';
import type { OnlineVerify } from './online-verify.js';

export type MessageRouter = (conn: PeerConnection, msg: PeerMessage) => void;

export class Connection {
  /** net { timeout; ko-count; }: expels a peer that stops completing writes (ko-count.ts) */
  private koTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: ResourceContext,
    private readonly parts: { handshake: Handshake; resync: Resync; verify: OnlineVerify; fencing: Fencing },
    private readonly route: MessageRouter,
  ) {}

  connect(opts: { discardMyData: boolean }): void {
    const ctx = this.ctx;
    if (ctx.link) {
      this.parts.handshake.setDiscardMyData(opts.discardMyData, true);
      return;
    }
    this.parts.handshake.setDiscardMyData(opts.discardMyData, false);
    const net = ctx.cfg.net;
    const link = new PeerLink({
      resource: ctx.name,
      selfNode: ctx.cfg.self.name,
      peerNode: ctx.cfg.peer.name,
      listen: { host: ctx.cfg.self.address.host, port: ctx.cfg.self.address.port },
      peer: { host: ctx.cfg.peer.address.host, port: ctx.cfg.peer.address.port },
      auth: net.cramHmacAlg && net.sharedSecret ? { alg: net.cramHmacAlg, secret: net.sharedSecret } : undefined,
      pingIntMs: net.pingIntSec * 1000,
      pingTimeoutMs: net.pingTimeoutMs,
      connectIntMs: net.connectIntSec * 1000,
      logger: ctx.log,
    });
    ctx.link = link;
    link.onState((s) => {
      if (ctx.conn && s !== 'Connected') return; // our own finer states take over once established
      if (s === 'Connected') return;
      ctx.state.change({ cs: s as ConnState });
    });
    link.onEstablished((conn) => this.onEstablished(conn));
    link.onLost((reason) => this.onLinkLost(reason));
    link.onAuthFailed((reason) => {
      ctx.log.error({ reason }, 'Authentication of peer failed; going StandAlone');
      // the link has discarded its network configuration; forget it so `connect` starts a new one
      if (ctx.link === link) ctx.link = null;
      void link.stop().catch(() => undefined);
      if (ctx.conn) this.closeConnection('authentication failed', 'StandAlone');
      ctx.state.change({ cs: 'StandAlone' });
    });
    ctx.state.change({ cs: 'Unconnected' });
    link.start().catch((err: Error) => {
      // e.g. the local address is not ours or the port is taken: nothing to retry, say why
      ctx.log.error({ err: err.message }, 'cannot listen for the peer; going StandAlone');
      if (ctx.link === link) ctx.link = null;
      void link.stop().catch(() => undefined);
      ctx.state.change({ cs: 'StandAlone' });
    });
  }

  async disconnect(): Promise<Verdict> {
    const ctx = this.ctx;
    const v = checkDisconnect(ctx.roleView());
    // DRBD 8.4 (conn_try_disconnect) treats "already StandAlone" as success, so the documented
    // split-brain recovery (disconnect; connect --discard-my-data) works after the handshake dropped it
    if (!v.ok && v.error === 'SS_ALREADY_STANDALONE') {
      // a link that gave up by itself (authentication failure) is discarded, so `connect` starts anew
      const gone = ctx.link;
      ctx.link = null;
      if (gone) await gone.stop().catch(() => undefined);
      return { ok: true };
    }
    if (!v.ok) return v;
    const link = ctx.link;
    ctx.link = null;
    if (ctx.conn) this.closeConnection('administrative disconnect', 'StandAlone');
    if (link) await link.stop();
    ctx.state.change({ cs: 'StandAlone' });
    return { ok: true };
  }

  /** `down`, after disconnect: a link still there stops, then is forgotten. */
  async stopLink(): Promise<void> {
    if (this.ctx.link) await this.ctx.link.stop();
    this.ctx.link = null;
  }

  /** SIGTERM: the link is forgotten first (nothing reconnects), the connection closed, then the link stops. */
  async shutdown(): Promise<void> {
    const link = this.ctx.link;
    this.ctx.link = null;
    if (this.ctx.conn) this.closeConnection('peer shutting down', 'StandAlone');
    await link?.stop();
  }

  private onEstablished(conn: PeerConnection): void {
    const ctx = this.ctx;
    ctx.conn = conn;
    this.parts.handshake.begin();
    ctx.state.change({ cs: 'WFReportParams' });
    this.startKoWatch(conn);
    conn.onMessage((msg) => {
      try {
        this.route(conn, msg);
      } catch (err) {
        ctx.log.error({ err: (err as Error).message, type: msg.type }, 'protocol error handling peer message');
        this.closeConnection(`protocol error: ${(err as Error).message}`, 'ProtocolError');
      }
    });
    this.parts.handshake.sendParams(conn);
  }

  private startKoWatch(conn: PeerConnection): void {
    const ctx = this.ctx;
    if (this.koTimer) clearInterval(this.koTimer);
    this.koTimer = null;
    const { koCount, timeoutMs } = ctx.cfg.net;
    const watch = new KoWatch(koCount);
    if (!watch.enabled) return;
    this.koTimer = setInterval(() => {
      if (ctx.conn !== conn) return;
      if (watch.tick(ctx.pending.oldestSeq()) === 'expel') {
        ctx.log.error({ koCount, timeoutMs, pending: ctx.pending.size }, 'Remote failed to finish a request within ko-count * timeout; dropping the peer');
        this.closeConnection(`the peer did not complete a write within ko-count (${koCount}) * timeout (${timeoutMs / 1000}s)`, 'Timeout');
      }
    }, timeoutMs);
    this.koTimer.unref();
  }

  private onLinkLost(reason: string): void {
    if (!this.ctx.conn) return;
    this.ctx.log.warn({ reason }, 'connection to peer lost');
    this.afterConnectionGone(reason.includes('ping') ? 'NetworkFailure' : 'BrokenPipe');
  }

  /** The peer said it is disconnecting. */
  onPeerDisconnect(reason: string): void {
    this.ctx.log.info({ reason }, 'peer is disconnecting');
    this.ctx.conn?.close('peer disconnected');
    this.afterConnectionGone('TearDown');
  }

  /** Tear down our side of an established connection. `next` is the state to show meanwhile. */
  closeConnection(reason: string, next: ConnState): void {
    const ctx = this.ctx;
    const conn = ctx.conn;
    if (!conn) return;
    try {
      conn.send({ type: 'disconnect', reason });
    } catch {
      /* already gone */
    }
    conn.close(reason);
    this.afterConnectionGone(next);
    if (next === 'StandAlone') {
      const link = ctx.link;
      ctx.link = null;
      void link?.stop();
    }
  }

  private afterConnectionGone(next: ConnState): void {
    const ctx = this.ctx;
    const s = ctx.state;
    ctx.conn = null;
    ctx.peerPaused = false;
    if (this.koTimer) clearInterval(this.koTimer);
    this.koTimer = null;
    const wasPeerData = diskRank(s.peerDisk) >= diskRank('Inconsistent') && s.peerDisk !== 'Outdated';
    // every write the peer did not confirm is out of sync
    for (const op of ctx.pending.dropAll()) ctx.md?.bitmap.setRange(op.offset, op.length);
    ctx.peerReads.failAll('connection lost');
    this.parts.resync.stop();
    this.parts.verify.stop();
    this.parts.handshake.connectionGone();
    if (ctx.md) ctx.counters.oos = ctx.oosKiB();
    // "Lost contact to the peer's data while Primary": rotate, so split-brain is detectable later
    if (ctx.md && s.role === 'Primary' && wasPeerData && ctx.md.uuids.bitmap === 0n && s.disk === 'UpToDate') {
      ctx.md.uuids = ctx.deps.uuids.newCurrent(ctx.md.uuids, s.role);
      ctx.persistSuperblock();
    }
    const state: ConnState = ctx.link ? next : 'StandAlone';
    s.change({ cs: state });
    if (ctx.link && state !== 'StandAlone') s.change({ cs: 'WFConnection' });
    // fencing: a Primary that lost its peer asks the fence-peer handler to outdate it
    this.parts.fencing.afterPeerLost(wasPeerData);
  }
}
