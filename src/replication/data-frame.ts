// The header of a `data` frame (an application write on its way to the peer) in a fixed binary
// layout instead of msgpack: it is the one message sent per 4 KiB write, and encoding, decoding
// and schema-checking a msgpack map for it was several per cent of each daemon's CPU at depth 32.
//   [seq u64][offset u64][length u64][kind u8][fua u8][reserved 6 bytes = 0]
// Frames carrying it use DATA_FRAME_MAGIC in the prefix. Bad input is a MalformedFrame value.
import type { DataMsg, WriteKind } from './messages.js';
import type { MalformedFrame } from './frame-codec.js';

export const DATA_HEADER_BYTES = 32;

const KINDS: readonly WriteKind[] = ['write', 'trim', 'zeroes'];
const KIND_CODE: Readonly<Record<WriteKind, number>> = { write: 0, trim: 1, zeroes: 2 };
const TWO32 = 2 ** 32;
/** high word of Number.MAX_SAFE_INTEGER: larger u64 values cannot be a JS number */
const MAX_SAFE_HI = 0x1fffff;

function writeU64(buf: Buffer, v: number, at: number): void {
  buf.writeUInt32BE(Math.floor(v / TWO32), at);
  buf.writeUInt32BE(v >>> 0, at + 4);
}

function readU64(buf: Buffer, at: number): number {
  const hi = buf.readUInt32BE(at);
  return hi > MAX_SAFE_HI ? -1 : hi * TWO32 + buf.readUInt32BE(at + 4);
}

/** Writes the header of `msg` at `at` (DATA_HEADER_BYTES bytes). */
export function encodeDataHeader(msg: DataMsg, buf: Buffer, at: number): void {
  writeU64(buf, msg.seq, at);
  writeU64(buf, msg.offset, at + 8);
  writeU64(buf, msg.length, at + 16);
  buf[at + 24] = KIND_CODE[msg.kind];
  buf[at + 25] = msg.fua ? 1 : 0;
  buf.fill(0, at + 26, at + 32);
}

export function decodeDataHeader(h: Buffer, payload: Buffer): DataMsg | MalformedFrame {
  if (h.length !== DATA_HEADER_BYTES) return bad(`header is ${h.length} bytes, not ${DATA_HEADER_BYTES}`);
  const seq = readU64(h, 0);
  const offset = readU64(h, 8);
  const length = readU64(h, 16);
  if (seq < 0) return bad('seq is not a safe integer');
  if (offset < 0) return bad('offset is not a safe integer');
  if (length < 0) return bad('length is not a safe integer');
  const kind = KINDS[h[24]!];
  if (kind === undefined) return bad(`unknown kind ${h[24]}`);
  const fua = h[25]!;
  if (fua > 1) return bad(`fua flag ${fua}`);
  for (let i = 26; i < DATA_HEADER_BYTES; i++) if (h[i] !== 0) return bad('reserved bytes are not zero');
  if (kind === 'write') {
    // the length field decides how many bytes land on disk: it must describe the payload exactly
    if (payload.length !== length) return bad(`says length ${length} but carries ${payload.length} bytes`);
    return { type: 'data', seq, offset, length, kind, fua: fua === 1, payload };
  }
  if (payload.length > 0) return bad(`${kind} carries an unexpected ${payload.length}-byte payload`);
  return { type: 'data', seq, offset, length, kind, fua: fua === 1 };
}

function bad(reason: string): MalformedFrame {
  return { kind: 'malformed', reason: `data: ${reason}` };
}
