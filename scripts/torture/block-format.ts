// Self-describing 4 KiB blocks: whoever reads one back can tell which block it belongs to, which
// version of it this is, and whether it arrived whole, without any outside record.
//
//  off  size  field
//    0     4  magic "TRTR"
//    4     4  run id (random per torture run: a block from an older run is never mistaken for ours)
//    8     8  block number (index in the working set, not the byte offset)
//   16     8  version (per block, 1, 2, 3, … in the order the writer issued them)
//   24     4  CRC32C of the whole block with these 4 bytes zero
//   28     4  reserved (0)
//   32  4064  fill: a PRNG stream seeded by (run id, block, version)
import { crc32c } from '../../src/storage/crc32c-js.js';
import { Prng, mix } from './prng.js';

export const BLOCK_SIZE = 4096;
export const HEADER_SIZE = 32;
const MAGIC = 0x54525452;
const CRC_AT = 24;

export interface BlockStamp {
  runId: number;
  block: number;
  version: number;
}

export type DecodedBlock =
  | { kind: 'zero' }
  | { kind: 'stamp'; stamp: BlockStamp }
  | { kind: 'corrupt'; reason: string };

export function encodeBlock(s: BlockStamp): Buffer {
  const buf = Buffer.alloc(BLOCK_SIZE);
  buf.writeUInt32BE(MAGIC, 0);
  buf.writeUInt32BE(s.runId >>> 0, 4);
  buf.writeBigUInt64BE(BigInt(s.block), 8);
  buf.writeBigUInt64BE(BigInt(s.version), 16);
  const rng = new Prng(mix(s.runId, s.block, s.version));
  for (let o = HEADER_SIZE; o < BLOCK_SIZE; o += 4) buf.writeUInt32LE(Math.floor(rng.next() * 4294967296), o);
  buf.writeUInt32BE(crc32c(buf), CRC_AT);
  return buf;
}

export function decodeBlock(buf: Buffer): DecodedBlock {
  if (buf.length !== BLOCK_SIZE) return { kind: 'corrupt', reason: `block is ${buf.length} bytes, not ${BLOCK_SIZE}` };
  if (isZero(buf)) return { kind: 'zero' };
  if (buf.readUInt32BE(0) !== MAGIC) return { kind: 'corrupt', reason: 'no torture magic (foreign or torn data)' };
  const stored = buf.readUInt32BE(CRC_AT);
  const copy = Buffer.from(buf);
  copy.writeUInt32BE(0, CRC_AT);
  const actual = crc32c(copy);
  if (stored !== actual) return { kind: 'corrupt', reason: `checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)})` };
  const block = Number(buf.readBigUInt64BE(8));
  const version = Number(buf.readBigUInt64BE(16));
  return { kind: 'stamp', stamp: { runId: buf.readUInt32BE(4), block, version } };
}

function isZero(buf: Buffer): boolean {
  for (let o = 0; o < buf.length; o += 8) if (buf.readBigUInt64LE(o) !== 0n) return false;
  return true;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;
