// The I/O edge of the replication link for one resource: listens on the local address, connects
// to the peer every connect-int (with a fast start), runs the handshake on each TCP connection
// and hands the one authenticated connection to the daemon. Connection states and their order
// follow DRBD: StandAlone -> Unconnected -> WFConnection -> WFReportParams (handshake done; the
// daemon exchanges params and calls markConnected()) -> Connected; a lost connection passes
// through BrokenPipe / NetworkFailure / ProtocolError and Unconnected back to WFConnection; an
// authentication failure ends in StandAlone without retrying.
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { FramedSocket, type LostCause } from './framed-socket.js';
import { Handshake, roleOf, type HandshakeStep, type LinkRole } from './handshake.js';
import { newChallenge, resolveAuth, type AuthConfig, type ResolvedAuth } from './auth.js';
import { PeerConnection } from './peer-connection.js';
import { ConnectBackoff } from './connect-backoff.js';
import type { LinkLogger } from './link-logger.js';

export type LinkState =
  | 'StandAlone' | 'Unconnected' | 'WFConnection' | 'WFReportParams' | 'Connected'
  | 'BrokenPipe' | 'NetworkFailure' | 'Timeout' | 'ProtocolError';

export interface HostPort {
  host: string;
  port: number;
}

export interface PeerLinkOptions {
  resource: string;
  selfNode: string;
  peerNode: string;
  /** the local `address` of this node's `on` section; only this address is bound */
  listen: HostPort;
  /** the peer's `address` */
  peer: HostPort;
  /** `cram-hmac-alg` + `shared-secret`; absent: no authentication */
  auth?: AuthConfig;
  pingIntMs: number;
  pingTimeoutMs: number;
  /** the longest wait between connect attempts (DRBD connect-int) */
  connectIntMs: number;
  /** the first wait between connect attempts; doubles up to connectIntMs. Default min(100, connectIntMs) */
  connectMinMs?: number;
  /** TCP connect plus handshake must finish within this. Default max(4 x ping-timeout, 1 s), as DRBD
   *  uses ping-timeout x 4 for its handshake reads */
  handshakeTimeoutMs?: number;
  /** inbound connections still in their handshake, beyond which new ones are dropped. Default 8 */
  maxPendingInbound?: number;
  logger: LinkLogger;
}

export class PeerLinkConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PeerLinkConfigError';
  }
}

export class PeerLinkListenError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
    this.name = 'PeerLinkListenError';
  }
}

/** Reasons the decider gives when it closes a connection it did not choose; logged quietly on both sides. */
const RACE_PREFIX = 'connection race:';

interface Attempt {
  direction: 'outbound' | 'inbound';
  framed: FramedSocket;
  handshake: Handshake | null;
  timer: NodeJS.Timeout;
  finished: boolean;
}

type Listener<A extends unknown[]> = (...args: A) => void;

export class PeerLink {
  readonly role: LinkRole;
  private readonly opts: Required<Omit<PeerLinkOptions, 'auth'>>;
  private readonly auth: ResolvedAuth | null;
  private readonly log: LinkLogger;
  private readonly fields: Record<string, unknown>;
  private readonly backoff: ConnectBackoff;

  private current: LinkState = 'StandAlone';
  private running = false;
  private server: net.Server | null = null;
  private readonly attempts = new Set<Attempt>();
  private outbound: Attempt | null = null;
  /** decider: the connection it sent its hello on, while that handshake runs */
  private claimed: Attempt | null = null;
  private conn: PeerConnection | null = null;
  private connectTimer: NodeJS.Timeout | null = null;

  private readonly stateListeners = new Set<Listener<[LinkState, LinkState]>>();
  private readonly establishedListeners = new Set<Listener<[PeerConnection]>>();
  private readonly lostListeners = new Set<Listener<[string, LostCause, PeerConnection]>>();
  private readonly authFailedListeners = new Set<Listener<[string]>>();
  private readonly refusedListeners = new Set<Listener<[string]>>();

  constructor(options: PeerLinkOptions) {
    const { auth, ...rest } = options;
    if (options.selfNode === options.peerNode) {
      throw new PeerLinkConfigError(`resource ${options.resource}: this node and the peer are both named '${options.selfNode}'`);
    }
    for (const key of ['pingIntMs', 'pingTimeoutMs', 'connectIntMs'] as const) {
      if (!(options[key] > 0)) throw new PeerLinkConfigError(`resource ${options.resource}: ${key} must be > 0, got ${options[key]}`);
    }
    for (const [what, addr, min] of [['listen', options.listen, 0], ['peer', options.peer, 1]] as const) {
      if (!Number.isInteger(addr.port) || addr.port < min || addr.port > 65535) {
        throw new PeerLinkConfigError(`resource ${options.resource}: ${what} port ${addr.port} is not a TCP port`);
      }
      if (addr.host === '') throw new PeerLinkConfigError(`resource ${options.resource}: ${what} address is empty`);
    }
    if (auth) {
      const r = resolveAuth(auth);
      if (!r.ok) throw new PeerLinkConfigError(`resource ${options.resource}: ${r.reason}`);
      this.auth = r.auth;
    } else {
      this.auth = null;
    }
    this.opts = {
      ...rest,
      connectMinMs: options.connectMinMs ?? Math.min(100, options.connectIntMs),
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? Math.max(4 * options.pingTimeoutMs, 1000),
      maxPendingInbound: options.maxPendingInbound ?? 8,
    };
    this.role = roleOf(options.selfNode, options.peerNode);
    this.log = options.logger;
    this.fields = { resource: options.resource, node: options.selfNode, peer: options.peerNode };
    this.backoff = new ConnectBackoff(this.opts.connectMinMs, this.opts.connectIntMs);
  }

  get state(): LinkState {
    return this.current;
  }

  /** The established connection, or null. */
  get connection(): PeerConnection | null {
    return this.conn;
  }

  /** The bound port (useful with port 0), or null when not listening. */
  get listenPort(): number | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : null;
  }

  onState(l: (state: LinkState, previous: LinkState) => void): () => void {
    return subscribe(this.stateListeners, l);
  }
  /** After hello (+ auth): the daemon attaches its handlers and starts the params exchange. */
  onEstablished(l: (conn: PeerConnection) => void): () => void {
    return subscribe(this.establishedListeners, l);
  }
  /** The established connection ended; `reason` is human-readable, `cause.kind` says what happened. */
  onLost(l: (reason: string, cause: LostCause, conn: PeerConnection) => void): () => void {
    return subscribe(this.lostListeners, l);
  }
  onAuthFailed(l: (reason: string) => void): () => void {
    return subscribe(this.authFailedListeners, l);
  }
  /** A connection that is not our peer, or an incompatible one, was refused (the link keeps trying). */
  onRefused(l: (reason: string) => void): () => void {
    return subscribe(this.refusedListeners, l);
  }

  /** Binds the listener and starts connecting. Rejects with PeerLinkListenError if the address cannot be bound. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.backoff.reset();
    this.setState('Unconnected');
    // pauseOnConnect: nothing is read before FramedSocket.accept re-wraps the socket to read in place
    const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accepted(socket));
    this.server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: this.opts.listen.host, port: this.opts.listen.port, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.server = null;
      this.running = false;
      this.setState('StandAlone');
      throw new PeerLinkListenError(
        `resource ${this.opts.resource}: cannot listen on ${this.opts.listen.host}:${this.opts.listen.port}: ${code ?? (err as Error).message}`,
        code,
      );
    }
    server.on('error', (err) => this.log.error({ ...this.fields, err: err.message }, 'listener error'));
    if (!this.running) {
      // stop() came while binding
      server.close();
      return;
    }
    this.setState('WFConnection');
    this.connectNow();
  }

  /** Says goodbye to the peer, closes everything and goes StandAlone (DRBD `disconnect`). */
  async stop(reason = 'administrative disconnect'): Promise<void> {
    this.shutdown(reason);
    // The listening handle closes at once; the 'close' event would also wait for lingering sockets.
    await new Promise<void>((r) => setImmediate(r));
  }

  /** The daemon finished the params exchange: WFReportParams -> Connected. */
  markConnected(): void {
    if (this.current === 'WFReportParams' && this.conn) this.setState('Connected');
  }

  // --- connecting ---

  private scheduleConnect(): void {
    if (!this.running || this.conn || this.outbound || this.connectTimer) return;
    const delay = this.backoff.next();
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null;
      this.connectNow();
    }, delay);
  }

  private connectNow(): void {
    if (!this.running || this.conn || this.outbound) return;
    if (this.role === 'decider' && this.claimed) return; // a handshake on an inbound connection is under way
    const { host, port } = this.opts.peer;
    const local = this.opts.listen.host;
    const framed = FramedSocket.connect({
      host,
      port,
      // Like DRBD, connect from the configured local address so the peer sees the address it expects.
      ...(local === '0.0.0.0' || local === '::' ? {} : { localAddress: local }),
    }, this.log, this.fields);
    const a = this.newAttempt(framed, 'outbound');
    this.outbound = a;
    framed.socket.once('connect', () => this.outboundConnected(a));
  }

  private outboundConnected(a: Attempt): void {
    if (a.finished) return;
    if (this.role === 'decider') {
      if (this.conn || this.claimed) {
        a.framed.destroy({ kind: 'closed-locally', reason: `${RACE_PREFIX} another connection is already chosen` });
        return;
      }
      this.claimed = a;
    }
    this.runHandshake(a, true);
  }

  private accepted(socket: net.Socket): void {
    if (!this.running) {
      socket.destroy();
      return;
    }
    let inbound = 0;
    for (const a of this.attempts) if (a.direction === 'inbound') inbound++;
    if (inbound >= this.opts.maxPendingInbound) {
      this.log.warn({ ...this.fields, remote: `${socket.remoteAddress}:${socket.remotePort}` }, 'too many connections in handshake; dropping a new one');
      socket.destroy();
      return;
    }
    const a = this.newAttempt(FramedSocket.accept(socket, this.log, this.fields), 'inbound');
    this.runHandshake(a, false);
  }

  private newAttempt(framed: FramedSocket, direction: Attempt['direction']): Attempt {
    const a: Attempt = {
      direction,
      framed,
      handshake: null,
      finished: false,
      timer: setTimeout(() => {
        framed.destroy({ kind: 'network-error', reason: `no handshake within ${this.opts.handshakeTimeoutMs} ms` });
      }, this.opts.handshakeTimeoutMs),
    };
    this.attempts.add(a);
    framed.setEndListener((cause) => this.attemptEnded(a, cause));
    return a;
  }

  /** Bookkeeping for an attempt that ended before it was established. */
  private attemptEnded(a: Attempt, cause: LostCause): void {
    if (a.finished) return;
    this.release(a);
    const detail = { ...this.fields, direction: a.direction, remote: a.framed.remote, reason: cause.reason };
    if (cause.reason.startsWith(RACE_PREFIX) || cause.kind === 'network-error' && a.handshake === null) {
      this.log.debug(detail, 'connection attempt ended');
    } else {
      this.log.info(detail, 'connection attempt ended');
    }
    this.scheduleConnect();
  }

  private release(a: Attempt): void {
    a.finished = true;
    clearTimeout(a.timer);
    this.attempts.delete(a);
    if (this.outbound === a) this.outbound = null;
    if (this.claimed === a) this.claimed = null;
  }

  // --- handshake ---

  private runHandshake(a: Attempt, initiator: boolean): void {
    const hs = new Handshake({
      resource: this.opts.resource,
      selfNode: this.opts.selfNode,
      peerNode: this.opts.peerNode,
      auth: this.auth,
      initiator,
      nonce: randomBytes(8).toString('hex'),
      challenge: this.auth ? newChallenge() : Buffer.alloc(0),
    });
    a.handshake = hs;
    a.framed.setReceiver((msg) => this.apply(a, hs.receive(msg)));
    this.apply(a, hs.start());
  }

  private apply(a: Attempt, step: HandshakeStep): void {
    if (a.finished) return;
    for (const m of step.send) a.framed.send(m);
    const outcome = step.outcome;
    const remote = a.framed.remote;
    switch (outcome.kind) {
      case 'pending':
        return;
      case 'claim': {
        if (this.conn || this.claimed) {
          const reason = `${RACE_PREFIX} ${this.opts.selfNode} keeps another connection`;
          const decline = a.handshake!.decline(reason);
          a.framed.close({ kind: 'closed-locally', reason }, decline.send);
          return;
        }
        this.claimed = a;
        this.apply(a, a.handshake!.claim());
        return;
      }
      case 'established':
        this.establish(a, outcome.connectionId, outcome.peer.node);
        return;
      case 'refused':
        this.log.warn({ ...this.fields, remote, reason: outcome.reason }, 'connection refused');
        a.framed.close({ kind: 'closed-locally', reason: outcome.reason });
        this.emit(this.refusedListeners, outcome.reason);
        return;
      case 'peer-closed':
        if (outcome.reason.startsWith(RACE_PREFIX)) {
          this.log.debug({ ...this.fields, remote, reason: outcome.reason }, 'peer closed a crossed connection');
        } else {
          this.log.warn({ ...this.fields, remote, reason: outcome.reason }, 'peer refused the connection');
        }
        a.framed.close({ kind: 'peer-disconnected', reason: outcome.reason });
        return;
      case 'protocol-error':
        this.log.warn({ ...this.fields, remote, reason: outcome.reason }, 'dropping connection: protocol error in handshake');
        a.framed.close({ kind: 'protocol-error', reason: outcome.reason }, [{ type: 'disconnect', reason: outcome.reason }]);
        return;
      case 'auth-failed':
        if (this.conn) {
          // an established, authenticated link stays: a stranger failing the handshake on the
          // listening port must not be able to tear replication down
          this.log.warn({ ...this.fields, remote, reason: outcome.reason }, 'rejected an unauthenticated connection attempt while connected');
          a.framed.close({ kind: 'closed-locally', reason: outcome.reason });
          return;
        }
        this.log.error({ ...this.fields, remote, reason: outcome.reason }, outcome.reason);
        this.log.error({ ...this.fields }, 'Discarding network configuration.');
        a.framed.close({ kind: 'closed-locally', reason: outcome.reason });
        this.shutdown(outcome.reason);
        this.emit(this.authFailedListeners, outcome.reason);
        return;
    }
  }

  private establish(a: Attempt, id: string, remoteNode: string): void {
    this.release(a);
    const conn = new PeerConnection(
      a.framed,
      { id, remoteNode, initiatedBy: a.direction === 'outbound' ? 'self' : 'peer' },
      { pingIntMs: this.opts.pingIntMs, pingTimeoutMs: this.opts.pingTimeoutMs },
    );
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.backoff.reset();
    const old = this.conn;
    if (old) {
      // Only the decider starts a new handshake while one is established: it saw the old one die.
      this.conn = null;
      old.terminate({ kind: 'superseded', reason: 'the peer established a newer connection' });
      this.setState('NetworkFailure');
      this.setState('Unconnected');
      this.setState('WFConnection');
    }
    // A handshake of ours still running would only be declined by the decider now.
    for (const other of [...this.attempts]) {
      if (other.direction === 'outbound') {
        other.framed.close({ kind: 'closed-locally', reason: `${RACE_PREFIX} another connection was established` },
          [{ type: 'disconnect', reason: `${RACE_PREFIX} another connection was established` }]);
      }
    }
    this.conn = conn;
    conn.onClose((cause) => this.connectionLost(conn, cause));
    this.log.info({ ...this.fields, conn: id, remote: conn.remoteAddress, initiatedBy: conn.initiatedBy, auth: this.auth?.alg ?? 'none' },
      this.auth ? `Peer authenticated using ${this.auth.alg} HMAC; connection established` : 'connection established');
    this.setState('WFReportParams');
    this.emit(this.establishedListeners, conn);
  }

  private connectionLost(conn: PeerConnection, cause: LostCause): void {
    if (this.conn !== conn) {
      // superseded or stopped: the state was already handled there
      this.emit(this.lostListeners, cause.reason, cause, conn);
      return;
    }
    this.conn = null;
    const level = cause.kind === 'closed-locally' || cause.kind === 'peer-disconnected' ? 'info' : 'warn';
    this.log[level]({ ...this.fields, conn: conn.id, kind: cause.kind, reason: cause.reason }, 'connection lost');
    const failure = failureState(cause);
    if (failure) this.setState(failure);
    this.emit(this.lostListeners, cause.reason, cause, conn);
    if (!this.running) return;
    this.setState('Unconnected');
    this.setState('WFConnection');
    this.backoff.reset();
    this.scheduleConnect();
  }

  /** Everything down, StandAlone; no more retries until start(). */
  private shutdown(reason: string): void {
    const wasRunning = this.running;
    this.running = false;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    for (const a of [...this.attempts]) {
      const cause: LostCause = { kind: 'closed-locally', reason };
      // Not yet connected: nothing to say goodbye on.
      if (a.handshake === null) a.framed.destroy(cause);
      else a.framed.close(cause, [{ type: 'disconnect', reason }]);
    }
    const conn = this.conn;
    this.conn = null;
    if (conn) conn.terminate({ kind: 'closed-locally', reason }, [{ type: 'disconnect', reason }]);
    this.server?.close();
    this.server = null;
    if (wasRunning || this.current !== 'StandAlone') this.setState('StandAlone');
  }

  private setState(next: LinkState): void {
    const prev = this.current;
    if (prev === next) return;
    this.current = next;
    this.log.info({ ...this.fields, from: prev, to: next }, `conn( ${prev} -> ${next} )`);
    this.emit(this.stateListeners, next, prev);
  }

  /** Listeners are the daemon's code: one that throws is logged, and must not break the link. */
  private emit<A extends unknown[]>(listeners: Set<Listener<A>>, ...args: A): void {
    for (const l of [...listeners]) {
      try {
        l(...args);
      } catch (err) {
        this.log.error({ ...this.fields, err: err instanceof Error ? err.stack ?? err.message : String(err) }, 'peer link listener threw');
      }
    }
  }
}

function subscribe<T>(set: Set<T>, l: T): () => void {
  set.add(l);
  return () => set.delete(l);
}

function failureState(cause: LostCause): LinkState | null {
  switch (cause.kind) {
    case 'peer-closed':
      return 'BrokenPipe';
    case 'network-error':
    case 'ping-timeout': // DRBD: "PingAck did not arrive in time." -> NetworkFailure
    case 'superseded':
      return 'NetworkFailure';
    case 'protocol-error':
    case 'internal-error':
      return 'ProtocolError';
    case 'closed-locally':
    case 'peer-disconnected':
      return null;
  }
}
