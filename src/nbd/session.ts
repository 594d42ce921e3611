// One client socket from accept to close: drives the handshake machine, then hands the socket
// to Transmission. `closed` settles once the socket is gone and no backend call is running.
// The socket reads into an InPlaceReader: requests are parsed out of its slab, and the rest of a
// large WRITE payload is read straight into the payload's Buffer (no per-read chunk, no join).
import type { Socket } from 'node:net';
import { InPlaceReader } from '../net/in-place-reader.js';
import { readAcceptedInto } from '../net/read-into.js';
import type { Logger } from 'pino';
import type { NbdBackend } from './backend.js';
import { ServerHandshake, type ExportDescription, type HandshakeAction } from './handshake.js';
import type { ExportLimits } from './request-check.js';
import { Transmission } from './transmission.js';

export interface SessionContext {
  exportDescription: ExportDescription;
  limits: ExportLimits;
  backend: NbdBackend;
  logger: Logger;
}

export type SessionPhase = 'handshake' | 'transmission' | 'closed';

export class NbdSession {
  readonly closed: Promise<void>;
  private phaseNow: SessionPhase = 'handshake';
  private readonly handshake: ServerHandshake;
  private transmission: Transmission | undefined;
  private readonly log: Logger;
  private readonly socket: Socket;
  private readonly reader: InPlaceReader;
  /** the handshake ended the conversation: later bytes are dropped */
  private deaf = false;

  /** `accepted` comes from a server created with pauseOnConnect (see read-into.ts). */
  constructor(
    accepted: Socket,
    private readonly ctx: SessionContext,
  ) {
    this.log = ctx.logger;
    this.reader = new InPlaceReader(this.parse);
    const socket = readAcceptedInto(accepted, { buffer: () => this.reader.nextBuffer(), callback: (n) => this.reader.received(n) });
    this.socket = socket;
    this.handshake = new ServerHandshake(ctx.exportDescription);
    const socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    this.closed = socketClosed.then(async () => {
      this.phaseNow = 'closed';
      this.transmission?.socketClosed();
      await this.transmission?.idle();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // EPIPE/ECONNRESET are clients going away; 'close' follows and cleans up.
      this.log.debug({ err: err.message, code: err.code }, 'NBD client socket error');
    });
    socket.write(this.handshake.greeting());
  }

  get phase(): SessionPhase {
    return this.phaseNow;
  }

  /** Server shutdown: a session still negotiating is dropped; a transmitting one drains. */
  shutdown(): void {
    if (this.phaseNow === 'handshake') this.socket.destroy();
    else this.transmission?.shutdown();
  }

  /** Forced close after the shutdown grace period. */
  destroy(): void {
    this.socket.destroy();
  }

  /** Takes every received byte (the reader's slab is never rewritten, so views of it may live on). */
  private readonly parse = (data: Buffer, start: number, end: number): number => {
    const chunk = data.subarray(start, end);
    if (this.deaf) return end - start;
    if (this.phaseNow === 'handshake') this.onHandshakeData(chunk);
    else this.transmission?.receive(chunk);
    const t = this.transmission;
    const inProgress = t?.payloadInProgress();
    if (t && inProgress) this.reader.fillInPlace(inProgress.payload, inProgress.filled, () => t.payloadFilled());
    return end - start;
  };

  private onHandshakeData(chunk: Buffer): void {
    let actions: HandshakeAction[];
    try {
      actions = this.handshake.push(chunk);
    } catch (err) {
      // The machine is written not to throw; if it ever does, drop this client, not the server.
      this.log.error({ err }, 'NBD handshake failed unexpectedly; dropping the client');
      this.socket.destroy();
      return;
    }
    for (const action of actions) {
      switch (action.kind) {
        case 'send':
          this.socket.write(action.data);
          break;
        case 'close':
          this.log.info({ reason: action.reason }, action.detail);
          this.deaf = true;
          this.socket.end(() => this.socket.destroy());
          return;
        case 'enter-transmission':
          this.phaseNow = 'transmission';
          this.log.debug({ via: action.via, exportName: action.exportName }, 'NBD client entered transmission');
          this.transmission = new Transmission({
            socket: this.socket,
            backend: this.ctx.backend,
            limits: this.ctx.limits,
            logger: this.log,
          });
          this.transmission.start(action.leftover);
          return;
      }
    }
  }
}
