// One client socket from accept to close: drives the handshake machine, then hands the socket
// to Transmission. `closed` settles once the socket is gone and no backend call is running.
import type { Socket } from 'node:net';
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

  constructor(
    private readonly socket: Socket,
    private readonly ctx: SessionContext,
  ) {
    this.log = ctx.logger;
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
    socket.on('data', this.onHandshakeData);
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

  private readonly onHandshakeData = (chunk: Buffer): void => {
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
          this.socket.off('data', this.onHandshakeData);
          this.socket.end(() => this.socket.destroy());
          return;
        case 'enter-transmission':
          this.socket.off('data', this.onHandshakeData);
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
  };
}
