// The wire frame of the peer link:
//   [magic u32 'TNDM'][header length u32][payload length u32] [msgpack header] [raw payload]
// except `data` frames, the one message per application write, whose header has a fixed binary
// layout (data-frame.ts) under the magic 'TNDD'.
// Block data never goes through msgpack: the encoder hands the payload Buffer to the socket as its
// own chunk; the decoder reads a large payload straight into its own Buffer and slices small ones
// out of its read slab. Bad input becomes a `MalformedFrame` value, never an exception.
import { Packr } from 'msgpackr';
import type { DataMsg, PeerMessage } from './messages.js';
import { checkHeader, payloadRule } from './message-schema.js';
import { allocPayload } from '../storage/bulk-buffer.js';
import { IN_PLACE_FROM_BYTES, InPlaceReader } from '../net/in-place-reader.js';
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
 * Incremental decoder. A socket feeds it through `nextBuffer`/`received` (net.Socket `onread`,
 * see in-place-reader.ts): small frames are parsed as views into a slab, large payloads are read
 * straight into their final Buffer. `push` feeds it chunks of any size (tests and tools) through
 * the same path. It calls the emitter once per complete, valid message, in order. After the first
 * malformed frame it is poisoned (the stream has lost its framing) and refuses every later byte.
 */
export class FrameDecoder {
  private readonly reader: InPlaceReader;
  private emit: (msg: PeerMessage) => void = () => {};
  private failure: MalformedFrame | null = null;
  /** prefix + header bytes of the frame whose payload is being filled in place */
  private inPlaceHead = 0;

  constructor(private readonly limits: FrameLimits = DEFAULT_FRAME_LIMITS) {
    this.reader = new InPlaceReader(this.parse);
  }

  /** Bytes received but not yet part of a complete frame. */
  get buffered(): number {
    return this.reader.pending + this.inPlaceHead;
  }

  get error(): MalformedFrame | null {
    return this.failure;
  }

  setEmitter(emit: (msg: PeerMessage) => void): void {
    this.emit = emit;
  }

  /** Where the next socket read should land. */
  nextBuffer(): Buffer {
    return this.reader.nextBuffer();
  }

  /** `n` bytes landed in the last nextBuffer(); false once the stream is malformed (stop reading). */
  received(n: number): boolean {
    if (this.failure) return false;
    return this.reader.received(n) && !this.failure;
  }

  push(chunk: Buffer, emit: (msg: PeerMessage) => void): MalformedFrame | null {
    this.emit = emit;
    let at = 0;
    while (at < chunk.length && !this.failure) {
      const buf = this.reader.nextBuffer();
      const n = Math.min(buf.length, chunk.length - at);
      chunk.copy(buf, 0, at, at + n);
      at += n;
      this.received(n);
    }
    return this.failure;
  }

  private fail(reason: string): void {
    this.failure = { kind: 'malformed', reason };
    this.inPlaceHead = 0;
    this.reader.stop();
  }

  private readonly parse = (data: Buffer, start: number, end: number): number => {
    let pos = start;
    for (;;) {
      if (this.failure) return -1;
      if (end - pos < PREFIX_BYTES) {
        this.reader.expect(PREFIX_BYTES);
        return pos - start;
      }
      const magic = data.readUInt32BE(pos);
      const headerLen = data.readUInt32BE(pos + 4);
      const payloadLen = data.readUInt32BE(pos + 8);
      const bad = checkPrefix(magic, headerLen, payloadLen, this.limits);
      if (bad) {
        this.fail(bad);
        return -1;
      }
      const headerEnd = pos + PREFIX_BYTES + headerLen;
      const frameEnd = headerEnd + payloadLen;
      if (frameEnd <= end) {
        // views: the slab is never written again
        this.deliver(magic, data.subarray(pos + PREFIX_BYTES, headerEnd), payloadLen > 0 ? data.subarray(headerEnd, frameEnd) : EMPTY);
        pos = frameEnd;
        continue;
      }
      if (payloadLen >= IN_PLACE_FROM_BYTES && headerEnd <= end) {
        const header = data.subarray(pos + PREFIX_BYTES, headerEnd);
        const payload = allocPayload(payloadLen);
        const have = data.copy(payload, 0, headerEnd, end);
        this.inPlaceHead = headerEnd - pos;
        this.reader.fillInPlace(payload, have, () => {
          this.inPlaceHead = 0;
          this.deliver(magic, header, payload);
        });
        return end - start;
      }
      this.reader.expect(payloadLen >= IN_PLACE_FROM_BYTES ? headerEnd - pos : frameEnd - pos);
      return pos - start;
    }
  };

  private deliver(magic: number, headerBuf: Buffer, payload: Buffer): void {
    const decoded = magic === DATA_FRAME_MAGIC ? decodeDataHeader(headerBuf, payload) : decodeBody(headerBuf, payload);
    if (!('type' in decoded)) return this.fail(decoded.reason);
    this.emit(decoded);
  }
}

function checkPrefix(magic: number, headerLen: number, payloadLen: number, limits: FrameLimits): string | null {
  if (magic !== FRAME_MAGIC && magic !== DATA_FRAME_MAGIC) return `bad magic 0x${magic.toString(16).padStart(8, '0')}`;
  if (magic === DATA_FRAME_MAGIC && headerLen !== DATA_HEADER_BYTES) return `data header length ${headerLen}, not ${DATA_HEADER_BYTES}`;
  if (headerLen === 0) return 'empty header';
  if (headerLen > limits.maxHeaderBytes) return `header length ${headerLen} exceeds ${limits.maxHeaderBytes}`;
  if (payloadLen > limits.maxPayloadBytes) return `payload length ${payloadLen} exceeds ${limits.maxPayloadBytes}`;
  return null;
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
