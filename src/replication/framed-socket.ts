// One TCP socket speaking frames: encodes and batches outgoing messages, decodes incoming chunks,
// and turns every way the connection can end into one `LostCause`, reported once. Used by the
// handshake and, after it, by PeerConnection. Nothing thrown here escapes into a socket callback.
// The socket reads into the decoder's buffers (`onread`), so a large payload lands in place.
import net, { type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { DEFAULT_FRAME_LIMITS, FrameDecoder, encodeFrame, type FrameLimits } from './frame-codec.js';
import type { PeerMessage } from './messages.js';
import type { LinkLogger } from './link-logger.js';
import { noteBulkReceived } from '../storage/bulk-buffer.js';
import { readAcceptedInto, type ReadInto } from '../net/read-into.js';

export type LostKind =
  | 'closed-locally'    // this node closed it (daemon request, stop, auth failure, race)
  | 'peer-disconnected' // the peer said goodbye with a reason
  | 'peer-closed'       // EOF without goodbye (DRBD: "sock was shut down by peer" -> BrokenPipe)
  | 'network-error'     // ECONNRESET, EPIPE, ... (NetworkFailure)
  | 'ping-timeout'      // "PingAck did not arrive in time." (NetworkFailure)
  | 'protocol-error'    // malformed frame or a message out of place (ProtocolError)
  | 'superseded'        // the decider chose a newer connection
  | 'internal-error';   // a message handler threw: a bug here, reported instead of crashing

export interface LostCause {
  kind: LostKind;
  reason: string;
}

/** How long a closed socket may take to flush its last frames before it is destroyed. */
const LINGER_MS = 2000;
/** keeps a write-acks header far below the frame's header limit (a seq is at most 9 bytes) */
const MAX_ACKS_PER_FRAME = 2048;

export class FramedSocket {
  bytesSent = 0;
  bytesReceived = 0;
  messagesSent = 0;
  messagesReceived = 0;
  /** performance.now() of the last received chunk; the keepalive reads it instead of a per-chunk callback */
  lastChunkAt: number;

  private readonly decoder: FrameDecoder;
  private receiver: (msg: PeerMessage) => void = () => {};
  private endListener: (cause: LostCause) => void = () => {};
  private readonly drainListeners = new Set<() => void>();
  private ended: LostCause | null = null;
  private corked = false;
  /** successful write-acks queued in this tick, sent before any later message and at uncork */
  private acks: number[] = [];
  private lastError: Error | null = null;

  readonly socket: Socket;

  /** A FramedSocket on a new outbound connection. */
  static connect(opts: net.TcpNetConnectOpts, logger: LinkLogger, logFields: Record<string, unknown>, limits?: FrameLimits): FramedSocket {
    return new FramedSocket((onread) => net.connect({ ...opts, onread } as net.TcpNetConnectOpts), logger, logFields, limits);
  }

  /** A FramedSocket on a connection accepted by a server created with `pauseOnConnect: true`. */
  static accept(accepted: Socket, logger: LinkLogger, logFields: Record<string, unknown>, limits?: FrameLimits): FramedSocket {
    return new FramedSocket((onread) => readAcceptedInto(accepted, onread), logger, logFields, limits);
  }

  private constructor(
    open: (onread: ReadInto) => Socket,
    private readonly logger: LinkLogger,
    private readonly logFields: Record<string, unknown>,
    limits: FrameLimits = DEFAULT_FRAME_LIMITS,
  ) {
    this.decoder = new FrameDecoder(limits);
    this.decoder.setEmitter(this.deliver);
    this.lastChunkAt = performance.now();
    const socket = open({ buffer: () => this.decoder.nextBuffer(), callback: this.onRead });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('end', () => this.finish({ kind: 'peer-closed', reason: 'connection closed by peer' }, []));
    socket.on('error', (err) => {
      this.lastError = err;
      const code = (err as NodeJS.ErrnoException).code;
      this.finish({ kind: 'network-error', reason: code ? `${code}: ${err.message}` : err.message }, null);
    });
    socket.on('close', () => {
      if (!this.ended) this.finish(this.lastError
        ? { kind: 'network-error', reason: this.lastError.message }
        : { kind: 'peer-closed', reason: 'connection closed by peer' }, null);
    });
    socket.on('drain', () => {
      for (const l of this.drainListeners) l();
    });
  }

  get closed(): boolean {
    return this.ended !== null;
  }

  get endCause(): LostCause | null {
    return this.ended;
  }

  get remote(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  setReceiver(receiver: (msg: PeerMessage) => void): void {
    this.receiver = receiver;
  }

  setEndListener(listener: (cause: LostCause) => void): void {
    this.endListener = listener;
  }

  addDrainListener(listener: () => void): () => void {
    this.drainListeners.add(listener);
    return () => this.drainListeners.delete(listener);
  }

  /**
   * Queues one frame. The first send in a tick corks the socket and the rest of the tick's sends
   * join it, so a batch goes out as one writev when the tick ends. `onWritten` runs once the
   * kernel has the frame (its payload Buffer may then be reused); never if the connection dies.
   */
  send(msg: PeerMessage, onWritten?: () => void): void {
    if (this.ended) return;
    this.corkForTick();
    if (this.acks.length > 0) this.flushAcks();
    this.write(msg, onWritten);
  }

  /** A write-ack; successful ones of the same tick are joined into one write-acks frame. */
  sendWriteAck(seq: number, ok: boolean): void {
    if (this.ended) return;
    if (!ok) return this.send({ type: 'write-ack', seq, ok });
    this.corkForTick();
    this.acks.push(seq);
    if (this.acks.length >= MAX_ACKS_PER_FRAME) this.flushAcks();
  }

  private corkForTick(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(this.uncork);
  }

  private flushAcks(): void {
    const seqs = this.acks;
    this.acks = [];
    this.write(seqs.length === 1 ? { type: 'write-ack', seq: seqs[0]!, ok: true } : { type: 'write-acks', seqs });
  }

  /** onWritten: called once the whole frame was handed to the kernel (not if the connection dies first). */
  private write(msg: PeerMessage, onWritten?: () => void): void {
    const chunks = encodeFrame(msg);
    const last = chunks.length - 1;
    for (let i = 0; i <= last; i++) {
      const c = chunks[i]!;
      if (i === last && onWritten) this.socket.write(c, (err) => (err ? undefined : onWritten()));
      else this.socket.write(c);
      this.bytesSent += c.length;
    }
    this.messagesSent++;
  }

  /** Sends `farewell` (if any), flushes, and ends the connection; reports `cause` once. */
  close(cause: LostCause, farewell: PeerMessage[] = []): void {
    this.finish(cause, farewell);
  }

  /** Drops the connection without flushing (a stray or hostile peer). */
  destroy(cause: LostCause): void {
    this.finish(cause, null);
  }

  private readonly uncork = (): void => {
    this.corked = false;
    if (this.acks.length > 0 && !this.ended) this.flushAcks();
    if (!this.socket.destroyed) this.socket.uncork();
  };

  /** `n` bytes landed in the decoder's buffer; returning false stops reading (the connection is ending). */
  private readonly onRead = (n: number): boolean => {
    if (this.ended) return false;
    this.bytesReceived += n;
    this.lastChunkAt = performance.now();
    noteBulkReceived(n);
    try {
      this.decoder.received(n);
    } catch (err) {
      const reason = `message handler failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`;
      this.logger.error({ ...this.logFields, remote: this.remote }, reason);
      this.finish({ kind: 'internal-error', reason }, null);
      return false;
    }
    const error = this.decoder.error;
    if (error && !this.ended) {
      this.logger.warn({ ...this.logFields, remote: this.remote, reason: error.reason }, 'dropping connection: malformed frame');
      const reason = `malformed frame: ${error.reason}`;
      this.finish({ kind: 'protocol-error', reason }, [{ type: 'disconnect', reason }]);
    }
    return !this.ended;
  };

  private readonly deliver = (msg: PeerMessage): void => {
    if (this.ended) return;
    this.messagesReceived++;
    this.receiver(msg);
  };

  /** farewell null: destroy at once; an array: send it, then end gracefully. */
  private finish(cause: LostCause, farewell: PeerMessage[] | null): void {
    if (this.ended) return;
    this.ended = cause;
    const s = this.socket;
    if (farewell === null || s.destroyed) {
      s.destroy();
    } else {
      try {
        if (this.acks.length > 0) this.flushAcks();
        for (const m of farewell) {
          for (const c of encodeFrame(m)) s.write(c);
        }
      } catch {
        // a farewell that cannot be encoded is not worth more than the close itself
      }
      s.end();
      setTimeout(() => s.destroy(), LINGER_MS).unref();
    }
    this.endListener(cause);
  }
}
