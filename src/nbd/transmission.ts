// The transmission phase of one connection: the hot data path. Requests are dispatched as soon
// as they are parsed (many in flight), replies go out as they complete, and all replies that
// complete within one event-loop turn leave in one socket write at setImmediate (headers and small
// READ payloads copied together, large READ payloads as their own chunks: SocketWriteBatch).
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { NbdBackend } from './backend.js';
import { nbdErrnoOf } from './errors.js';
import { Cmd, CmdFlag, Errno, SIMPLE_REPLY_HEADER_LENGTH, SIMPLE_REPLY_MAGIC, commandName } from './protocol.js';
import { checkRequest, type ExportLimits } from './request-check.js';
import { IN_PLACE_FROM_BYTES } from '../net/in-place-reader.js';
import { RequestParser, type NbdRequest, type RequestStreamError } from './request-parser.js';
import { SocketWriteBatch } from '../net/socket-write-batch.js';

export interface TransmissionOptions {
  socket: Socket;
  backend: NbdBackend;
  limits: ExportLimits;
  logger: Logger;
  /** Stop reading from the client while this many requests are in flight. */
  maxInFlightRequests?: number;
  /** ... or while this many payload bytes are in flight (WRITE payloads and READ lengths). */
  maxInFlightBytes?: number;
  /** ... or while this many reply bytes wait in the socket's write buffer. */
  maxQueuedReplyBytes?: number;
}

/** Why the connection stopped taking requests. */
export type StopReason = 'client-disconnect' | 'bad-magic' | 'server-shutdown' | 'socket-closed';

const EMPTY = Buffer.alloc(0);

export class Transmission {
  private readonly socket: Socket;
  private readonly backend: NbdBackend;
  private readonly limits: ExportLimits;
  private readonly log: Logger;
  private readonly parser: RequestParser;
  private readonly maxInFlightRequests: number;
  private readonly maxInFlightBytes: number;
  private readonly maxQueuedReplyBytes: number;

  private inFlight = 0;
  private inFlightBytes = 0;
  private paused = false;
  /** `corked`: replies of this loop turn are collected in `replies`, written by uncork */
  private corked = false;
  private readonly replies = new SocketWriteBatch();
  private stopReason: StopReason | undefined;
  private shuttingDown = false;
  private ending = false;
  private idleWaiters: Array<() => void> = [];

  constructor(opts: TransmissionOptions) {
    this.socket = opts.socket;
    this.backend = opts.backend;
    this.limits = opts.limits;
    this.log = opts.logger;
    this.maxInFlightRequests = opts.maxInFlightRequests ?? 1024;
    this.maxInFlightBytes = opts.maxInFlightBytes ?? 128 * 1024 * 1024;
    this.maxQueuedReplyBytes = opts.maxQueuedReplyBytes ?? 32 * 1024 * 1024;
    this.parser = new RequestParser(this.limits.maxPayload, {
      request: (req) => this.onRequest(req),
      fatal: (err) => this.onFatal(err),
    });
  }

  /** Begins serving; `leftover` are bytes that arrived with the end of the handshake. */
  start(leftover: Buffer[]): void {
    this.socket.on('drain', this.maybeResume);
    for (const chunk of leftover) this.receive(chunk);
  }

  /** Bytes from the client (the session reads the socket). */
  receive(chunk: Buffer): void {
    if (this.stopReason !== undefined) return;
    this.parser.push(chunk);
  }

  /**
   * A large WRITE payload only partly received: the session reads the rest straight into
   * payload[filled..] and then calls payloadFilled.
   */
  payloadInProgress(): { payload: Buffer; filled: number } | undefined {
    if (this.stopReason !== undefined) return undefined;
    const p = this.parser.payloadInProgress();
    return p && p.payload.length >= IN_PLACE_FROM_BYTES ? p : undefined;
  }

  payloadFilled(): void {
    if (this.stopReason === undefined) this.parser.payloadFilled();
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** Server shutdown: requests not yet started get ESHUTDOWN, then the connection ends. */
  shutdown(): void {
    this.shuttingDown = true;
    this.maybeResume();
    this.endWhenIdle();
  }

  /** The socket went away: nothing more can be sent, but backend calls still run to completion. */
  socketClosed(): void {
    this.stopReason ??= 'socket-closed';
  }

  /** Resolves once no backend call of this connection is running. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private onFatal(err: RequestStreamError): void {
    this.log.warn(
      { magic: `0x${err.magic.toString(16).padStart(8, '0')}` },
      'NBD request with a bad magic: the stream is out of sync, disconnecting',
    );
    this.stop('bad-magic');
  }

  private stop(reason: StopReason): void {
    if (this.stopReason !== undefined) return;
    this.stopReason = reason;
    this.endWhenIdle();
  }

  private onRequest(req: NbdRequest): void {
    if (this.stopReason !== undefined) return;
    if (req.command === Cmd.DISC) {
      this.log.debug('client sent NBD_CMD_DISC');
      this.stop('client-disconnect');
      return;
    }
    if (this.shuttingDown) {
      this.reply(req, Errno.ESHUTDOWN, undefined);
      return;
    }
    const error = req.payloadDiscarded ? Errno.EINVAL : checkRequest(req, this.limits);
    if (error !== 0) {
      this.log.debug(
        { command: commandName(req.command), flags: req.flags, offset: req.offset, length: req.length, error },
        'NBD request refused',
      );
      this.reply(req, error, undefined);
      return;
    }
    if (req.length === 0 && req.command !== Cmd.FLUSH) {
      this.reply(req, 0, EMPTY);
      return;
    }
    this.dispatch(req);
  }

  private dispatch(req: NbdRequest): void {
    const bytes = req.command === Cmd.READ || req.command === Cmd.WRITE ? req.length : 0;
    this.inFlight++;
    this.inFlightBytes += bytes;
    if (
      !this.paused &&
      (this.inFlight >= this.maxInFlightRequests || this.inFlightBytes >= this.maxInFlightBytes)
    ) {
      this.paused = true;
      this.socket.pause();
    }
    const fua = (req.flags & CmdFlag.FUA) !== 0;
    const fail = (err: unknown): void => this.complete(req, bytes, this.backendFailed(req, err), undefined);
    try {
      switch (req.command) {
        case Cmd.READ:
          this.backend.read(req.offset, req.length).then((data) => this.readDone(req, bytes, data), fail);
          return;
        case Cmd.WRITE:
          this.backend.write(req.offset, req.data!, fua).then(() => this.complete(req, bytes, 0, undefined), fail);
          return;
        case Cmd.FLUSH:
          this.backend.flush().then(() => this.complete(req, bytes, 0, undefined), fail);
          return;
        case Cmd.TRIM:
          // TRIM with FUA: the trim is not durable until flushed; a flush after it makes it so.
          this.backend
            .trim(req.offset, req.length)
            .then(() => (fua ? this.backend.flush() : undefined))
            .then(() => this.complete(req, bytes, 0, undefined), fail);
          return;
        case Cmd.WRITE_ZEROES:
          this.backend.writeZeroes(req.offset, req.length, fua).then(() => this.complete(req, bytes, 0, undefined), fail);
          return;
        default:
          // checkRequest lets only the commands above through.
          this.complete(req, bytes, Errno.EINVAL, undefined);
      }
    } catch (err) {
      fail(err); // a backend that throws instead of rejecting
    }
  }

  private readDone(req: NbdRequest, bytes: number, data: Buffer): void {
    if (!Buffer.isBuffer(data) || data.length !== req.length) {
      // Sending a payload of the wrong size would desynchronise the client's reply stream.
      this.log.error(
        { offset: req.offset, length: req.length, got: Buffer.isBuffer(data) ? data.length : typeof data },
        'backend read returned the wrong number of bytes; replying EIO',
      );
      this.complete(req, bytes, Errno.EIO, undefined);
      return;
    }
    this.complete(req, bytes, 0, data);
  }

  private backendFailed(req: NbdRequest, err: unknown): number {
    const errno = nbdErrnoOf(err);
    this.log.warn(
      { err, command: commandName(req.command), offset: req.offset, length: req.length, errno },
      'NBD request failed in the backend',
    );
    return errno;
  }

  private complete(req: NbdRequest, bytes: number, error: number, data: Buffer | undefined): void {
    this.inFlight--;
    this.inFlightBytes -= bytes;
    try {
      this.reply(req, error, data);
    } catch (err) {
      // Runs inside a promise callback: a throw here would be an unhandled rejection.
      this.log.error({ err }, 'failed to queue an NBD reply; dropping the connection');
      this.socket.destroy();
    }
    if (this.paused) this.maybeResume();
    if (this.inFlight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      if (this.stopReason !== undefined || this.shuttingDown) this.endWhenIdle();
    }
  }

  private reply(req: NbdRequest, error: number, data: Buffer | undefined): void {
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) return;
    const header = Buffer.allocUnsafe(SIMPLE_REPLY_HEADER_LENGTH);
    header.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
    header.writeUInt32BE(error, 4);
    header.writeUInt32BE(req.handleHi, 8);
    header.writeUInt32BE(req.handleLo, 12);
    if (!this.corked) {
      this.corked = true;
      setImmediate(this.uncork);
    }
    this.replies.push(header);
    // A READ that failed carries no payload in a simple reply.
    if (error === 0 && req.command === Cmd.READ && data !== undefined && data.length > 0) this.replies.push(data);
    if (!this.paused && socket.writableLength + this.replies.pendingBytes >= this.maxQueuedReplyBytes) {
      this.paused = true;
      socket.pause();
    }
  }

  private readonly uncork = (): void => {
    if (!this.corked) return;
    this.corked = false;
    this.replies.flushTo(this.socket);
  };

  private readonly maybeResume = (): void => {
    if (!this.paused || this.stopReason !== undefined) return;
    if (
      this.inFlight < this.maxInFlightRequests &&
      this.inFlightBytes < this.maxInFlightBytes &&
      this.socket.writableLength + this.replies.pendingBytes < this.maxQueuedReplyBytes
    ) {
      this.paused = false;
      this.socket.resume();
    }
  };

  private endWhenIdle(): void {
    if (this.inFlight > 0 || this.ending) return;
    this.ending = true;
    this.uncork();
    const socket = this.socket;
    if (socket.destroyed) return;
    if (socket.writable) {
      // Close only after the last reply is flushed; destroy rather than wait for the client's FIN.
      socket.end(() => socket.destroy());
    } else {
      socket.destroy();
    }
  }
}
