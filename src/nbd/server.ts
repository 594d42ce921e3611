// NBD server on a unix socket: fixed newstyle, one named export, simple replies.
import { EventEmitter } from 'node:events';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';
import type { NbdBackend } from './backend.js';
import type { ExportDescription } from './handshake.js';
import { TxFlag } from './protocol.js';
import type { ExportLimits } from './request-check.js';
import { NbdSession } from './session.js';

export type { NbdBackend } from './backend.js';

export interface NbdServerOptions {
  socketPath: string;
  exportName: string;
  backend: NbdBackend;
  logger?: Logger;
  /** Largest READ/WRITE payload, advertised as the maximum block size. Default 32 MiB. */
  maxPayload?: number;
  /**
   * Advertise NBD_FLAG_CAN_MULTI_CONN (default true). Correct because the server keeps no
   * per-connection cache and the backend's flush covers writes completed on every connection.
   */
  multiConn?: boolean;
  /** How long close() lets in-flight requests finish before cutting sockets. Default 30 s. */
  closeGraceMs?: number;
  /** Permission bits of the socket file. Default 0o600. */
  socketMode?: number;
}

export const DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024;

export class NbdServer extends EventEmitter {
  private readonly opts: NbdServerOptions;
  private readonly log: Logger;
  private readonly maxPayload: number;
  private server: Server | undefined;
  private readonly sessions = new Set<NbdSession>();
  private closing: Promise<void> | undefined;
  private nextId = 1;

  constructor(opts: NbdServerOptions) {
    super();
    this.opts = opts;
    this.log = (opts.logger ?? pino({ level: 'silent' })).child({ nbdExport: opts.exportName });
    this.maxPayload = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    if (!Number.isInteger(this.maxPayload) || this.maxPayload < 512 || this.maxPayload > 0xffffffff) {
      throw new RangeError(`NBD maxPayload must be an integer in [512, 2^32-1], got ${this.maxPayload}`);
    }
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  get socketPath(): string {
    return this.opts.socketPath;
  }

  async listen(): Promise<void> {
    if (this.server) throw new Error(`NBD server for '${this.opts.exportName}' is already listening`);
    const path = this.opts.socketPath;
    await mkdir(dirname(path), { recursive: true, mode: 0o750 });
    await removeStaleSocket(path);
    // pauseOnConnect: NbdSession re-wraps the socket to read into its own buffers (read-into.ts)
    const server = createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.reportError(err));
    this.server = server;
    await chmod(path, this.opts.socketMode ?? 0o600);
    this.log.info({ socketPath: path, size: this.opts.backend.size, readOnly: this.opts.backend.readOnly }, 'NBD server listening');
  }

  /**
   * Stops accepting, answers requests that arrive from now on with ESHUTDOWN, waits for
   * in-flight requests, closes every connection and removes the socket file.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const server = this.server;
    const stopped = server
      ? new Promise<void>((resolve) => server.close(() => resolve()))
      : Promise.resolve();
    for (const s of this.sessions) s.shutdown();
    const all = Promise.all([...this.sessions].map((s) => s.closed));
    const grace = this.opts.closeGraceMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), grace);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.log.warn({ connections: this.sessions.size, graceMs: grace }, 'NBD clients still busy at shutdown; cutting them off');
      for (const s of this.sessions) s.destroy();
      await all;
    }
    await stopped;
    this.log.info('NBD server closed');
  }

  private accept(socket: Socket): void {
    const id = this.nextId++;
    const logger = this.log.child({ nbdConn: id });
    if (this.closing) {
      socket.destroy();
      return;
    }
    const backend = this.opts.backend;
    const readOnly = backend.readOnly;
    const limits: ExportLimits = { size: backend.size, readOnly, maxPayload: this.maxPayload };
    const exportDescription: ExportDescription = {
      name: this.opts.exportName,
      size: backend.size,
      transmissionFlags: transmissionFlags(readOnly, this.opts.multiConn ?? true),
      blockSizes: { minimum: 1, preferred: 4096, maximum: this.maxPayload },
    };
    const session = new NbdSession(socket, { exportDescription, limits, backend, logger });
    this.sessions.add(session);
    logger.debug({ connections: this.sessions.size }, 'NBD client connected');
    session.closed.then(
      () => {
        this.sessions.delete(session);
        logger.debug({ connections: this.sessions.size }, 'NBD client gone');
      },
      (err: unknown) => {
        this.sessions.delete(session);
        this.reportError(err instanceof Error ? err : new Error(String(err)));
      },
    );
  }

  private reportError(err: Error): void {
    this.log.error({ err }, 'NBD server error');
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

export function transmissionFlags(readOnly: boolean, multiConn: boolean): number {
  let flags = TxFlag.HAS_FLAGS | TxFlag.SEND_FLUSH;
  if (readOnly) flags |= TxFlag.READ_ONLY;
  else flags |= TxFlag.SEND_FUA | TxFlag.SEND_TRIM | TxFlag.SEND_WRITE_ZEROES;
  if (multiConn) flags |= TxFlag.CAN_MULTI_CONN;
  return flags;
}

/**
 * A socket file left by a previous run is removed; a socket that still accepts connections
 * belongs to a live server and is left alone; any other kind of file is an error.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) {
    throw new Error(`NBD socket path ${path} exists and is not a socket; refusing to replace it`);
  }
  if (await socketIsLive(path)) {
    throw Object.assign(new Error(`NBD socket ${path} is in use by another running server`), { code: 'EADDRINUSE' });
  }
  await unlink(path);
}

function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false)); // ECONNREFUSED: nobody listens any more
  });
}
