// An established, authenticated connection to the peer, as the daemon sees it: send messages,
// receive them, watch backpressure, close. Keepalive (ping / ping-ack) is handled here and never
// reaches the daemon; so is the peer's goodbye (`disconnect`), which ends the connection.
import { performance } from 'node:perf_hooks';
import type { PeerMessage } from './messages.js';
import type { FramedSocket, LostCause } from './framed-socket.js';
import { Keepalive, type KeepaliveTimes } from './keepalive.js';

export type MessageHandler = (msg: PeerMessage) => void;

export interface PeerConnectionInfo {
  /** the decider's and the follower's hello nonces: the same string on both nodes */
  id: string;
  remoteNode: string;
  /** who opened the TCP connection */
  initiatedBy: 'self' | 'peer';
}

export class PeerConnection {
  readonly id: string;
  readonly remoteNode: string;
  readonly initiatedBy: 'self' | 'peer';
  readonly remoteAddress: string;

  private readonly handlers: MessageHandler[] = [];
  private readonly closeHandlers: ((cause: LostCause) => void)[] = [];
  /** messages that arrived before the daemon attached a handler (e.g. in the handshake's last chunk) */
  private backlog: PeerMessage[] = [];
  private readonly keepalive: Keepalive;
  private keepaliveTimer: NodeJS.Timeout | null = null;

  /** @internal built by PeerLink once the handshake succeeded */
  constructor(private readonly framed: FramedSocket, info: PeerConnectionInfo, times: KeepaliveTimes) {
    this.id = info.id;
    this.remoteNode = info.remoteNode;
    this.initiatedBy = info.initiatedBy;
    this.remoteAddress = framed.remote;
    this.keepalive = new Keepalive(times, performance.now());
    framed.setReceiver(this.receive);
    framed.setEndListener(this.ended);
    this.armKeepalive(times.pingIntMs);
  }

  /**
   * Queues a message; all sends in one tick leave as one write. Dropped silently once closed.
   * `onWritten` runs once the kernel has the frame (see FramedSocket.send).
   */
  send(msg: PeerMessage, onWritten?: () => void): void {
    this.framed.send(msg, onWritten);
  }

  /**
   * A protocol C acknowledgement. Successful ones sent in the same tick leave as one `write-acks`
   * frame (one header to encode and decode instead of one per 4 KiB write); order with every
   * other message is kept.
   */
  sendWriteAck(seq: number, ok: boolean): void {
    this.framed.sendWriteAck(seq, ok);
  }

  /** Adds a handler; any messages received before the first handler are delivered to it at once. */
  onMessage(handler: MessageHandler): () => void {
    this.handlers.push(handler);
    if (this.backlog.length > 0) {
      const pending = this.backlog;
      this.backlog = [];
      for (const m of pending) handler(m);
    }
    return () => {
      const i = this.handlers.indexOf(handler);
      if (i >= 0) this.handlers.splice(i, 1);
    };
  }

  /** Called once when the connection ends, for whatever reason. */
  onClose(handler: (cause: LostCause) => void): () => void {
    const cause = this.framed.endCause;
    if (cause) {
      handler(cause);
      return () => {};
    }
    this.closeHandlers.push(handler);
    return () => {
      const i = this.closeHandlers.indexOf(handler);
      if (i >= 0) this.closeHandlers.splice(i, 1);
    };
  }

  /** The socket's send buffer is over its high-water mark: stop queueing bulk (resync) data until onDrain. */
  get writableNeedDrain(): boolean {
    return this.framed.socket.writableNeedDrain;
  }

  /** Bytes queued in the socket and not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.framed.socket.writableLength;
  }

  onDrain(handler: () => void): () => void {
    return this.framed.addDrainListener(handler);
  }

  /**
   * Stops reading from the peer (receiver-side flow control). While paused no ping-ack can be
   * read either, so keep pauses shorter than ping-int + ping-timeout.
   */
  pauseReceiving(): void {
    this.framed.socket.pause();
  }

  resumeReceiving(): void {
    this.framed.socket.resume();
  }

  get closed(): boolean {
    return this.framed.closed;
  }

  get bytesSent(): number {
    return this.framed.bytesSent;
  }
  get bytesReceived(): number {
    return this.framed.bytesReceived;
  }
  get messagesSent(): number {
    return this.framed.messagesSent;
  }
  get messagesReceived(): number {
    return this.framed.messagesReceived;
  }

  /** Says goodbye with `reason` and closes; the link then goes back to WFConnection. */
  close(reason: string): void {
    this.framed.close({ kind: 'closed-locally', reason }, [{ type: 'disconnect', reason }]);
  }

  /** @internal the link ends the connection with a specific cause */
  terminate(cause: LostCause, farewell: PeerMessage[] = []): void {
    this.framed.close(cause, farewell);
  }

  private readonly receive = (msg: PeerMessage): void => {
    switch (msg.type) {
      case 'ping':
        this.framed.send({ type: 'ping-ack' });
        return;
      case 'ping-ack':
        this.keepalive.pingAcked(performance.now());
        return;
      case 'disconnect':
        this.framed.close({ kind: 'peer-disconnected', reason: msg.reason });
        return;
      case 'hello':
      case 'auth-challenge':
      case 'auth-response':
      case 'auth-result': {
        // The handshake is over on both sides before either sends anything else.
        const reason = `unexpected ${msg.type} after the handshake`;
        this.framed.close({ kind: 'protocol-error', reason }, [{ type: 'disconnect', reason }]);
        return;
      }
      default:
        break;
    }
    const hs = this.handlers;
    if (hs.length === 0) {
      this.backlog.push(msg);
      return;
    }
    if (hs.length === 1) {
      hs[0]!(msg);
      return;
    }
    for (const h of [...hs]) h(msg);
  };

  private readonly ended = (cause: LostCause): void => {
    if (this.keepaliveTimer) clearTimeout(this.keepaliveTimer);
    this.keepaliveTimer = null;
    const hs = this.closeHandlers.splice(0);
    for (const h of hs) h(cause);
  };

  private armKeepalive(ms: number): void {
    this.keepaliveTimer = setTimeout(this.onKeepaliveTimer, Math.max(1, Math.ceil(ms)));
    this.keepaliveTimer.unref();
  }

  private readonly onKeepaliveTimer = (): void => {
    this.keepaliveTimer = null;
    if (this.framed.closed) return;
    this.keepalive.received(this.framed.lastChunkAt);
    const action = this.keepalive.check(performance.now());
    switch (action.kind) {
      case 'dead':
        this.framed.close(
          { kind: 'ping-timeout', reason: `PingAck did not arrive in time (silent for ${Math.round(action.silentForMs)} ms)` },
          [{ type: 'disconnect', reason: 'ping-timeout' }],
        );
        return;
      case 'send-ping':
        this.framed.send({ type: 'ping' });
        this.armKeepalive(action.checkInMs);
        return;
      case 'wait':
        this.armKeepalive(action.checkInMs);
        return;
    }
  };
}
