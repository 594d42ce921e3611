// The wire frame of the peer link:
//   [magic u32 'TNDM'][header length u32][payload length u32] [msgpack header] [raw payload]
// except `data` frames, the one message per application write, whose header has a fixed binary
// layout (data-frame.ts) under the magic 'TNDD'.
// Block data never goes through msgpack: the encoder hands the payload Buffer to the socket as its
// own chunk and the decoder slices it out of the received chunk (a copy only when the payload is
// split across TCP reads). Bad input becomes a `MalformedFrame` value, never an exception.
import { Packr } from 'msgpackr';
import type { DataMsg, PeerMessage } from './messages.js';
import { checkHeader, payloadRule } from './message-schema.js';
import { allocPayload } from '../storage/bulk-buffer.js';
import { DATA_HEADER_BYTES, decodeDataHeader, encodeDataHeader } from './data-frame.js';

export const FRAME_MAGIC = 0x544e444d; // 'TNDM'
export const DATA_FRAME_MAGIC = 0x544e4444; // 'TNDD'
export const PREFIX_BYTES = 12;
export const MAX_HEADER_BYTES = 64 * 1024;
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

export interface FrameLimits {
  maxHeaderBytes: number;
  maxPayloadBytes: number;
}
export const DEFAULT_FRAME_LIMITS: FrameLimits = { maxHeaderBytes: MAX_HEADER_BYTES, maxPayloadBytes: MAX_PAYLOAD_BYTES };

export interface MalformedFrame {
  kind: 'malformed';
  reason: string;
}

/** Thrown by the encoder only: a message we would refuse ourselves is a bug in the sender. */
export class FrameTooLargeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameTooLargeError';
  }
}

// Records (msgpackr's shared structures) would need both ends to agree on state: plain maps only.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/**
 * Encodes a message as the chunks of one frame: prefix+header in one small Buffer, then the
 * payload Buffer itself (not copied). Write them with one cork/uncork or writev.
 */
export function encodeFrame(msg: PeerMessage, limits: FrameLimits = DEFAULT_FRAME_LIMITS): Buffer[] {
  if (msg.type === 'data') return encodeDataFrame(msg, limits);
  let payload: Buffer | undefined;
  let header: Buffer;
  if ('payload' in msg) {
    const { payload: p, ...rest } = msg;
    payload = p;
    header = packr.pack(rest);
  } else {
    header = packr.pack(msg);
  }
  if (header.length > limits.maxHeaderBytes) {
    throw new FrameTooLargeError(`${msg.type} header is ${header.length} bytes, limit ${limits.maxHeaderBytes}`);
  }
  const payloadLen = payload?.length ?? 0;
  if (payloadLen > limits.maxPayloadBytes) {
    throw new FrameTooLargeError(`${msg.type} payload is ${payloadLen} bytes, limit ${limits.maxPayloadBytes}`);
  }
  // msgpackr returns a view into its reusable scratch buffer: copy the (small) header out.
  const head = Buffer.allocUnsafe(PREFIX_BYTES + header.length);
  head.writeUInt32BE(FRAME_MAGIC, 0);
  head.writeUInt32BE(header.length, 4);
  head.writeUInt32BE(payloadLen, 8);
  header.copy(head, PREFIX_BYTES);
  return payload !== undefined && payloadLen > 0 ? [head, payload] : [head];
}

function encodeDataFrame(msg: DataMsg, limits: FrameLimits): Buffer[] {
  const payload = msg.kind === 'write' ? msg.payload : undefined;
  const payloadLen = payload?.length ?? 0;
  if (payloadLen > limits.maxPayloadBytes) {
    throw new FrameTooLargeError(`data payload is ${payloadLen} bytes, limit ${limits.maxPayloadBytes}`);
  }
  const head = Buffer.allocUnsafe(PREFIX_BYTES + DATA_HEADER_BYTES);
  head.writeUInt32BE(DATA_FRAME_MAGIC, 0);
  head.writeUInt32BE(DATA_HEADER_BYTES, 4);
  head.writeUInt32BE(payloadLen, 8);
  encodeDataHeader(msg, head, PREFIX_BYTES);
  return payload !== undefined && payloadLen > 0 ? [head, payload] : [head];
}

/** Total bytes of an encoded frame, for counters and tests. */
export function frameLength(chunks: readonly Buffer[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

/**
 * Incremental decoder: feed it socket chunks of any size; it calls `emit` once per complete,
 * valid message, in order. After the first malformed frame it is poisoned (the stream has lost
 * its framing) and returns the same error for every later push.
 */
export class FrameDecoder {
  private readonly chunks: Buffer[] = [];
  private offset = 0; // read position inside chunks[0]
  private available = 0;
  private headerLen = -1; // -1: waiting for a prefix
  private payloadLen = 0;
  /** the frame being read has a binary data header (DATA_FRAME_MAGIC) */
  private dataFrame = false;
  private failure: MalformedFrame | null = null;

  constructor(private readonly limits: FrameLimits = DEFAULT_FRAME_LIMITS) {}

  /** Bytes received but not yet part of a complete frame. */
  get buffered(): number {
    return this.available + (this.headerLen >= 0 ? PREFIX_BYTES : 0);
  }

  get error(): MalformedFrame | null {
    return this.failure;
  }

  push(chunk: Buffer, emit: (msg: PeerMessage) => void): MalformedFrame | null {
    if (this.failure) return this.failure;
    if (chunk.length === 0) return null;
    this.chunks.push(chunk);
    this.available += chunk.length;
    for (;;) {
      if (this.headerLen < 0) {
        if (this.available < PREFIX_BYTES) return null;
        const bad = this.readPrefix();
        if (bad) return this.fail(bad);
      }
      if (this.available < this.headerLen + this.payloadLen) return null;
      const headerBuf = this.take(this.headerLen);
      const payload = this.take(this.payloadLen);
      this.headerLen = -1;
      const decoded = this.dataFrame ? decodeDataHeader(headerBuf, payload) : decodeBody(headerBuf, payload);
      if (!('type' in decoded)) return this.fail(decoded.reason);
      emit(decoded);
    }
  }

  private fail(reason: string): MalformedFrame {
    this.failure = { kind: 'malformed', reason };
    this.chunks.length = 0;
    this.available = 0;
    return this.failure;
  }

  private readPrefix(): string | null {
    const first = this.chunks[0]!;
    const view = first.length - this.offset >= PREFIX_BYTES ? first : this.take(PREFIX_BYTES);
    const at = view === first ? this.offset : 0;
    const magic = view.readUInt32BE(at);
    const headerLen = view.readUInt32BE(at + 4);
    const payloadLen = view.readUInt32BE(at + 8);
    if (view === first) this.skip(PREFIX_BYTES);
    if (magic !== FRAME_MAGIC && magic !== DATA_FRAME_MAGIC) return `bad magic 0x${magic.toString(16).padStart(8, '0')}`;
    this.dataFrame = magic === DATA_FRAME_MAGIC;
    if (this.dataFrame && headerLen !== DATA_HEADER_BYTES) return `data header length ${headerLen}, not ${DATA_HEADER_BYTES}`;
    if (headerLen === 0) return 'empty header';
    if (headerLen > this.limits.maxHeaderBytes) return `header length ${headerLen} exceeds ${this.limits.maxHeaderBytes}`;
    if (payloadLen > this.limits.maxPayloadBytes) return `payload length ${payloadLen} exceeds ${this.limits.maxPayloadBytes}`;
    this.headerLen = headerLen;
    this.payloadLen = payloadLen;
    return null;
  }

  private skip(n: number): void {
    this.offset += n;
    this.available -= n;
    if (this.offset === this.chunks[0]!.length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }

  /** n bytes from the front: a view when they lie in one chunk, a copy when they span chunks. */
  private take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const first = this.chunks[0]!;
    if (first.length - this.offset >= n) {
      const view = first.subarray(this.offset, this.offset + n);
      this.skip(n);
      return view;
    }
    const out = allocPayload(n);
    let copied = 0;
    while (copied < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length - this.offset, n - copied);
      c.copy(out, copied, this.offset, this.offset + k);
      copied += k;
      this.skip(k);
    }
    return out;
  }
}

const EMPTY = Buffer.alloc(0);

function decodeBody(headerBuf: Buffer, payload: Buffer): PeerMessage | MalformedFrame {
  let raw: unknown;
  try {
    raw = packr.unpack(headerBuf);
  } catch (err) {
    return { kind: 'malformed', reason: `header is not valid msgpack: ${err instanceof Error ? err.message : String(err)}` };
  }
  const checked = checkHeader(raw);
  if (!checked.ok) return { kind: 'malformed', reason: checked.reason };
  const msg = checked.message;
  if (msg.type === 'data') return { kind: 'malformed', reason: 'data travels in TNDD frames, not as msgpack' };
  const rule = payloadRule(msg.type);
  const carries = rule === 'required' || (rule === 'write-only' && msg.kind === 'write');
  if (!carries) {
    if (payload.length > 0) return { kind: 'malformed', reason: `${msg.type} frame carries an unexpected ${payload.length}-byte payload` };
    return msg as unknown as PeerMessage;
  }
  // The length field decides how many bytes land on disk: it must describe the payload exactly.
  if (msg.type === 'resync-data' && msg.length !== payload.length) {
    return { kind: 'malformed', reason: `${msg.type} says length ${String(msg.length)} but carries ${payload.length} bytes` };
  }
  msg.payload = payload;
  return msg as unknown as PeerMessage;
}

/** Decodes a whole byte sequence given as chunks; for tests and tools. */
export function decodeChunks(chunks: readonly Buffer[], limits?: FrameLimits): { messages: PeerMessage[]; error: MalformedFrame | null; buffered: number } {
  const decoder = new FrameDecoder(limits);
  const messages: PeerMessage[] = [];
  let error: MalformedFrame | null = null;
  for (const c of chunks) {
    error = decoder.push(c, (m) => messages.push(m));
    if (error) break;
  }
  return { messages, error, buffered: decoder.buffered };
}
