// A small NBD client over a unix socket (fixed newstyle, simple replies) with pipelining: any
// number of requests may be in flight; replies are matched by handle. Used by tests and tools.
import { connect as netConnect, type Socket } from 'node:net';
import { ByteQueue } from './byte-queue.js';
import { NbdRequestError } from './errors.js';
import {
  ClientFlag,
  Cmd,
  CmdFlag,
  GREETING_LENGTH,
  HandshakeFlag,
  Info,
  OPTION_REPLY_HEADER_LENGTH,
  Opt,
  REQUEST_HEADER_LENGTH,
  Rep,
  SIMPLE_REPLY_HEADER_LENGTH,
  commandName,
  encodeClientFlags,
  encodeInfoRequest,
  encodeOption,
  encodeRequestHeader,
  isErrorReply,
  parseGreeting,
  parseInfoReply,
  parseOptionReplyHeader,
  parseSimpleReplyHeader,
  readU64,
  type BlockSizes,
} from './protocol.js';

export interface ConnectOptions {
  /** NBD_OPT_GO (default) or the older NBD_OPT_EXPORT_NAME. */
  handshake?: 'go' | 'export-name';
  /** Limit for connecting plus the handshake. Default 10 s. */
  timeoutMs?: number;
}

export interface WriteOptions {
  fua?: boolean;
}
export interface WriteZeroesOptions extends WriteOptions {
  noHole?: boolean;
}

export interface NbdClient {
  readonly size: number;
  readonly transmissionFlags: number;
  readonly blockSizes: BlockSizes | undefined;
  readonly inFlight: number;
  /** Settles when the connection is gone, for whatever reason. */
  readonly closed: Promise<void>;
  read(offset: number, length: number): Promise<Buffer>;
  write(offset: number, data: Buffer, opts?: WriteOptions): Promise<void>;
  flush(): Promise<void>;
  trim(offset: number, length: number, opts?: WriteOptions): Promise<void>;
  writeZeroes(offset: number, length: number, opts?: WriteZeroesOptions): Promise<void>;
  /** Any request from raw fields (for tests of refused requests); resolves with READ data. */
  request(command: number, flags: number, offset: number, length: number, payload?: Buffer): Promise<Buffer | undefined>;
  /** Waits for in-flight requests, sends NBD_CMD_DISC and waits for the server to close. */
  close(): Promise<void>;
  /** Drops the connection at once; in-flight requests reject. */
  destroy(): void;
}

/** The server refused the handshake (unknown export, malformed option, closed connection). */
export class NbdHandshakeError extends Error {
  constructor(
    message: string,
    readonly replyType?: number,
  ) {
    super(message);
    this.name = 'NbdHandshakeError';
  }
}

export async function connect(socketPath: string, exportName: string, opts: ConnectOptions = {}): Promise<NbdClient> {
  const socket = netConnect(socketPath);
  const reader = new SocketReader(socket);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const timer = setTimeout(
    () => socket.destroy(new Error(`NBD connect/handshake to ${socketPath} timed out after ${timeoutMs} ms`)),
    timeoutMs,
  );
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const info = await handshake(socket, reader, exportName, opts.handshake ?? 'go');
    clearTimeout(timer);
    return new Client(socket, reader.detach(), info);
  } catch (err) {
    clearTimeout(timer);
    socket.destroy();
    throw err;
  }
}

interface ExportInfo {
  size: number;
  transmissionFlags: number;
  blockSizes: BlockSizes | undefined;
}

async function handshake(socket: Socket, reader: SocketReader, exportName: string, mode: 'go' | 'export-name'): Promise<ExportInfo> {
  const greeting = parseGreeting(await reader.read(GREETING_LENGTH));
  if (!greeting.ok) throw new NbdHandshakeError(`not an NBD newstyle server (${greeting.error.kind})`);
  const serverFlags = greeting.value.handshakeFlags;
  const noZeroes = (serverFlags & HandshakeFlag.NO_ZEROES) !== 0;
  const fixed = (serverFlags & HandshakeFlag.FIXED_NEWSTYLE) !== 0;
  socket.write(encodeClientFlags((fixed ? ClientFlag.FIXED_NEWSTYLE : 0) | (noZeroes ? ClientFlag.NO_ZEROES : 0)));

  if (mode === 'go' && fixed) {
    socket.write(encodeOption(Opt.GO, encodeInfoRequest(exportName, [Info.BLOCK_SIZE])));
    let size: number | undefined;
    let transmissionFlags = 0;
    let blockSizes: BlockSizes | undefined;
    for (;;) {
      const header = parseOptionReplyHeader(await reader.read(OPTION_REPLY_HEADER_LENGTH));
      if (!header.ok) throw new NbdHandshakeError(`bad option reply (${header.error.kind})`);
      const { type, length } = header.value;
      const data = await reader.read(length);
      if (type === Rep.ACK) break;
      if (type === Rep.INFO) {
        const info = parseInfoReply(data);
        if (!info.ok) throw new NbdHandshakeError(`malformed NBD_REP_INFO (${info.error.kind})`);
        if (info.value.kind === 'export') {
          size = info.value.size;
          transmissionFlags = info.value.transmissionFlags;
        } else if (info.value.kind === 'block-size') {
          blockSizes = info.value.sizes;
        }
        continue;
      }
      if (isErrorReply(type)) {
        const message = data.toString('utf8');
        throw new NbdHandshakeError(`server refused export '${exportName}': ${repName(type)}${message ? `: ${message}` : ''}`, type);
      }
      // Unknown non-error replies are ignored, as the spec asks of clients.
    }
    if (size === undefined) throw new NbdHandshakeError('server acknowledged NBD_OPT_GO without NBD_INFO_EXPORT');
    return { size, transmissionFlags, blockSizes };
  }

  socket.write(encodeOption(Opt.EXPORT_NAME, Buffer.from(exportName, 'utf8')));
  let reply: Buffer;
  try {
    reply = await reader.read(noZeroes ? 10 : 134);
  } catch (err) {
    throw new NbdHandshakeError(`server closed the connection after NBD_OPT_EXPORT_NAME '${exportName}' (unknown export?)`);
  }
  return { size: readU64(reply, 0), transmissionFlags: reply.readUInt16BE(8), blockSizes: undefined };
}

function repName(type: number): string {
  for (const [name, v] of Object.entries(Rep)) if (v === type) return `NBD_REP_${name}`;
  return `reply type 0x${type.toString(16)}`;
}

/** Awaitable reads for the (not performance critical) handshake. */
class SocketReader {
  private readonly queue = new ByteQueue();
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private ended: Error | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
  }

  read(n: number): Promise<Buffer> {
    if (this.queue.length >= n) return Promise.resolve(this.queue.take(n));
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
    });
  }

  /** Stops listening; returns bytes received beyond the handshake. */
  detach(): Buffer[] {
    this.socket.off('data', this.onData);
    this.socket.off('close', this.onClose);
    this.socket.off('error', this.onError);
    return this.queue.takeAll();
  }

  private readonly onData = (chunk: Buffer): void => {
    this.queue.push(chunk);
    const w = this.waiter;
    if (w && this.queue.length >= w.n) {
      this.waiter = undefined;
      w.resolve(this.queue.take(w.n));
    }
  };
  private readonly onError = (err: Error): void => this.fail(err);
  private readonly onClose = (): void => this.fail(new NbdHandshakeError('server closed the connection during the handshake'));
  private fail(err: Error): void {
    this.ended ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(this.ended);
  }
}

interface Pending {
  command: number;
  length: number;
  resolve: (data: Buffer | undefined) => void;
  reject: (err: Error) => void;
}

class Client implements NbdClient {
  readonly size: number;
  readonly transmissionFlags: number;
  readonly blockSizes: BlockSizes | undefined;
  readonly closed: Promise<void>;

  private readonly pending = new Map<number, Pending>();
  private nextHandle = 1;
  private corked = false;
  private failure: Error | undefined;
  private disconnecting = false;
  private idleWaiters: Array<() => void> = [];

  // Reply parser state.
  private readonly scratch = Buffer.allocUnsafe(SIMPLE_REPLY_HEADER_LENGTH);
  private scratchFill = 0;
  private payloadFor: Pending | undefined;
  private payload: Buffer | undefined;
  private payloadFill = 0;

  constructor(
    private readonly socket: Socket,
    leftover: Buffer[],
    info: ExportInfo,
  ) {
    this.size = info.size;
    this.transmissionFlags = info.transmissionFlags;
    this.blockSizes = info.blockSizes;
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.failAll(err));
    socket.on('close', () => this.failAll(new Error('NBD connection closed')));
    for (const chunk of leftover) this.onData(chunk);
  }

  get inFlight(): number {
    return this.pending.size;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    return (await this.request(Cmd.READ, 0, offset, length)) ?? Buffer.alloc(0);
  }
  async write(offset: number, data: Buffer, opts: WriteOptions = {}): Promise<void> {
    await this.request(Cmd.WRITE, opts.fua ? CmdFlag.FUA : 0, offset, data.length, data);
  }
  async flush(): Promise<void> {
    await this.request(Cmd.FLUSH, 0, 0, 0);
  }
  async trim(offset: number, length: number, opts: WriteOptions = {}): Promise<void> {
    await this.request(Cmd.TRIM, opts.fua ? CmdFlag.FUA : 0, offset, length);
  }
  async writeZeroes(offset: number, length: number, opts: WriteZeroesOptions = {}): Promise<void> {
    const flags = (opts.fua ? CmdFlag.FUA : 0) | (opts.noHole ? CmdFlag.NO_HOLE : 0);
    await this.request(Cmd.WRITE_ZEROES, flags, offset, length);
  }

  request(command: number, flags: number, offset: number, length: number, payload?: Buffer): Promise<Buffer | undefined> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.disconnecting) return Promise.reject(new Error('NBD client is closing'));
    const handle = this.allocHandle();
    const promise = new Promise<Buffer | undefined>((resolve, reject) => {
      this.pending.set(handle, { command, length, resolve, reject });
    });
    this.send(command, flags, handle, offset, length, payload);
    return promise;
  }

  async close(): Promise<void> {
    if (this.failure) return;
    this.disconnecting = true;
    // The spec asks a client to let in-flight requests finish before NBD_CMD_DISC.
    while (!this.failure && (this.pending.size > 0 || this.payloadFor !== undefined)) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
    if (!this.socket.destroyed) {
      this.send(Cmd.DISC, 0, 0, 0, 0, undefined);
      this.socket.end();
    }
    await this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private allocHandle(): number {
    let h = this.nextHandle;
    while (this.pending.has(h)) h = (h + 1) >>> 0 || 1;
    this.nextHandle = (h + 1) >>> 0 || 1;
    return h;
  }

  private send(command: number, flags: number, handle: number, offset: number, length: number, payload: Buffer | undefined): void {
    const header = encodeRequestHeader({ command, flags, handleHi: 0, handleLo: handle, offset, length }, Buffer.allocUnsafe(REQUEST_HEADER_LENGTH));
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(header);
    if (payload !== undefined && payload.length > 0) this.socket.write(payload);
  }

  private onData(chunk: Buffer): void {
    this.parseReplies(chunk);
    if (this.idleWaiters.length > 0 && (this.failure || (this.pending.size === 0 && this.payloadFor === undefined))) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private parseReplies(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.failure) {
      if (this.payload !== undefined) {
        const n = Math.min(this.payload.length - this.payloadFill, chunk.length - pos);
        chunk.copy(this.payload, this.payloadFill, pos, pos + n);
        pos += n;
        this.payloadFill += n;
        if (this.payloadFill === this.payload.length) {
          const p = this.payloadFor!;
          const data = this.payload;
          this.payload = undefined;
          this.payloadFor = undefined;
          p.resolve(data);
        }
        continue;
      }
      let src = chunk;
      let at = pos;
      if (this.scratchFill === 0 && chunk.length - pos >= SIMPLE_REPLY_HEADER_LENGTH) {
        pos += SIMPLE_REPLY_HEADER_LENGTH;
      } else {
        const n = Math.min(SIMPLE_REPLY_HEADER_LENGTH - this.scratchFill, chunk.length - pos);
        chunk.copy(this.scratch, this.scratchFill, pos, pos + n);
        pos += n;
        this.scratchFill += n;
        if (this.scratchFill < SIMPLE_REPLY_HEADER_LENGTH) return;
        this.scratchFill = 0;
        src = this.scratch;
        at = 0;
      }
      const header = parseSimpleReplyHeader(src, at);
      if (!header.ok) {
        this.protocolError(`bad reply from server (${header.error.kind})`);
        return;
      }
      const { error, handleHi, handleLo } = header.value;
      const p = handleHi === 0 ? this.pending.get(handleLo) : undefined;
      if (p === undefined) {
        this.protocolError(`reply for unknown handle ${handleHi}:${handleLo}`);
        return;
      }
      this.pending.delete(handleLo);
      if (error !== 0) {
        p.reject(new NbdRequestError(error, commandName(p.command)));
      } else if (p.command === Cmd.READ && p.length > 0) {
        if (chunk.length - pos >= p.length) {
          p.resolve(chunk.subarray(pos, pos + p.length));
          pos += p.length;
        } else {
          this.payloadFor = p;
          this.payload = Buffer.allocUnsafe(p.length);
          this.payloadFill = 0;
        }
      } else {
        p.resolve(p.command === Cmd.READ ? Buffer.alloc(0) : undefined);
      }
    }
  }

  private protocolError(message: string): void {
    this.failAll(new Error(`NBD protocol error: ${message}`));
    this.socket.destroy();
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    if (this.payloadFor) {
      this.payloadFor.reject(this.failure);
      this.payloadFor = undefined;
      this.payload = undefined;
    }
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
