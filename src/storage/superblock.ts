// Encode/decode of Tandem's 4096-byte metadata superblock. Pure: bytes in, values out.
//
// Tandem's format is its own (not DRBD's meta_data_on_disk), but it carries the same facts:
// generation UUIDs, MDF_* flags, last-agreed size, where the AL and bitmap are. Big-endian like
// DRBD. The last 4 bytes are a CRC32C of everything before them, so a torn or partly written
// superblock is never mistaken for a valid one.
//
//  off  size  field
//    0     8  magic "TANDEMMD"
//    8     4  format version (1)
//   12     4  flags (DRBD's MDF_* bits, metadata-flags.ts)
//   16     8  usable size, bytes
//   24     8  la-size-sect: last agreed device size, 512-byte sectors (DRBD's la_size_sect)
//   32     4  bitmap granularity, bytes per bit (4096)
//   36     4  al-extents (configured when the AL was last written)
//   40    32  generation UUIDs: current, bitmap, history[0], history[1]
//   72     8  device UUID (random per create-md; identifies this metadata instance)
//   80     8  created at, ms since the epoch
//   88     8  AL offset, bytes relative to the superblock (signed)
//   96     4  AL size, bytes
//  100     1  placement: 0 internal, 1 external indexed, 2 external flexible
//  101     3  reserved (0)
//  104     4  placement index (indexed external only)
//  108     4  bitmap checksum state: 0 none recorded, 1 recorded
//  112     8  bitmap offset, bytes relative to the superblock (signed)
//  120     8  bitmap area size, bytes
//  128     4  CRC32C of the bitmap bytes (valid when state is 1; see below)
//  132     1  creator node name length (0..64)
//  133    64  creator node name, UTF-8
//  197  3895  reserved (0)
// 4092     4  CRC32C of bytes 0..4091
//
// Bitmap checksum: the bitmap is updated page by page while running, so its CRC is only recorded
// when the whole bitmap is written at a clean stop (detach/down) and must be cleared (null) before
// the first partial bitmap write after attach. A mismatch on a recorded CRC means the bitmap cannot
// be trusted: the daemon then schedules a full sync. AL transactions carry their own CRCs.

import { crc32c } from './crc32c-js.js';
import { MetadataError } from './metadata-error.js';
import { KNOWN_FLAG_MASK, flagsFromBits, flagsToBits, type MetaFlags } from './metadata-flags.js';
import { BM_BLOCK_SIZE, MD_ALIGN, type MetaPlacement, bitmapBytesFor } from './metadata-layout.js';

export type { MetaFlags, MetaFlagName } from './metadata-flags.js';

export const SUPERBLOCK_BYTES = 4096;
export const SUPERBLOCK_MAGIC = Buffer.from('TANDEMMD', 'ascii');
export const FORMAT_VERSION = 1;
export const MAX_NODE_NAME_BYTES = 64;

/** Written by create-md (reference §1.1: drbdmeta v08_md_initialize). */
export const UUID_JUST_CREATED = 4n;
const U64_MAX = (1n << 64n) - 1n;

/** DRBD's magics at offset 60 of its superblock, so a DRBD disk gets a helpful message. */
export const DRBD_MAGICS: ReadonlyMap<number, string> = new Map([
  [0x8374026a, 'DRBD 0.7 (v07)'],
  [0x8374026b, 'DRBD 8 (v08)'],
  [0x8374026c, 'DRBD 8.4 (v08, unclean)'],
  [0x8374026d, 'DRBD 9 (v09)'],
]);

export interface GenerationUuids {
  current: bigint;
  bitmap: bigint;
  history: [bigint, bigint];
}

export interface Superblock {
  usableSize: number;
  laSizeSect: number;
  bmBytesPerBit: number;
  alExtents: number;
  uuids: GenerationUuids;
  flags: MetaFlags;
  deviceUuid: bigint;
  createdAt: number;
  createdBy: string;
  placement: MetaPlacement;
  /** relative to the superblock's own offset (negative for internal metadata) */
  alOffset: number;
  alSize: number;
  bitmapOffset: number;
  bitmapAreaSize: number;
  /** CRC32C of the bitmap bytes at the last clean full write, or null while the bitmap is live */
  bitmapCrc32c: number | null;
}

/** Where a superblock came from, for error messages. */
export interface SuperblockSource {
  device: string;
  offset: number;
}

const OFF = {
  magic: 0, version: 8, flags: 12, usable: 16, laSize: 24, bpb: 32, alExtents: 36, uuids: 40,
  deviceUuid: 72, createdAt: 80, alOffset: 88, alSize: 96, placement: 100, reserved3: 101,
  index: 104, bmSumState: 108, bmOffset: 112, bmArea: 120, bmSum: 128, nameLen: 132, name: 133,
  reservedTail: 197, crc: 4092,
} as const;

const PLACEMENT_CODES = { internal: 0, 'external-indexed': 1, 'external-flexible': 2 } as const;

export function encodeSuperblock(sb: Superblock): Buffer {
  const name = Buffer.from(sb.createdBy, 'utf8');
  if (name.length > MAX_NODE_NAME_BYTES) {
    throw new MetadataError('EINVAL', `node name "${sb.createdBy}" is longer than ${MAX_NODE_NAME_BYTES} bytes`);
  }
  for (const [what, v] of [
    ['current UUID', sb.uuids.current], ['bitmap UUID', sb.uuids.bitmap],
    ['history UUID 1', sb.uuids.history[0]], ['history UUID 2', sb.uuids.history[1]],
    ['device UUID', sb.deviceUuid],
  ] as const) {
    if (v < 0n || v > U64_MAX) throw new MetadataError('EINVAL', `${what} ${v} does not fit in 64 bits`);
  }
  const problem = fieldProblem(sb);
  if (problem) throw new MetadataError('EINVAL', `cannot encode superblock: ${problem}`);

  const buf = Buffer.alloc(SUPERBLOCK_BYTES);
  SUPERBLOCK_MAGIC.copy(buf, OFF.magic);
  buf.writeUInt32BE(FORMAT_VERSION, OFF.version);
  buf.writeUInt32BE(flagsToBits(sb.flags), OFF.flags);
  buf.writeBigUInt64BE(BigInt(sb.usableSize), OFF.usable);
  buf.writeBigUInt64BE(BigInt(sb.laSizeSect), OFF.laSize);
  buf.writeUInt32BE(sb.bmBytesPerBit, OFF.bpb);
  buf.writeUInt32BE(sb.alExtents, OFF.alExtents);
  const u = [sb.uuids.current, sb.uuids.bitmap, sb.uuids.history[0], sb.uuids.history[1]];
  u.forEach((v, i) => buf.writeBigUInt64BE(v, OFF.uuids + 8 * i));
  buf.writeBigUInt64BE(sb.deviceUuid, OFF.deviceUuid);
  buf.writeBigUInt64BE(BigInt(sb.createdAt), OFF.createdAt);
  buf.writeBigInt64BE(BigInt(sb.alOffset), OFF.alOffset);
  buf.writeUInt32BE(sb.alSize, OFF.alSize);
  buf.writeUInt8(PLACEMENT_CODES[sb.placement.kind], OFF.placement);
  buf.writeUInt32BE(sb.placement.kind === 'external-indexed' ? sb.placement.index : 0, OFF.index);
  buf.writeUInt32BE(sb.bitmapCrc32c === null ? 0 : 1, OFF.bmSumState);
  buf.writeBigInt64BE(BigInt(sb.bitmapOffset), OFF.bmOffset);
  buf.writeBigUInt64BE(BigInt(sb.bitmapAreaSize), OFF.bmArea);
  buf.writeUInt32BE(sb.bitmapCrc32c ?? 0, OFF.bmSum);
  buf.writeUInt8(name.length, OFF.nameLen);
  name.copy(buf, OFF.name);
  buf.writeUInt32BE(crc32c(buf.subarray(0, OFF.crc)), OFF.crc);
  return buf;
}

/** True if the block starts with Tandem's magic (valid or not). */
export function hasTandemMagic(block: Buffer): boolean {
  return block.length >= SUPERBLOCK_MAGIC.length && block.subarray(0, SUPERBLOCK_MAGIC.length).equals(SUPERBLOCK_MAGIC);
}

/** DRBD's superblock at this block, if any (magic at offset 60). */
export function drbdMagicName(block: Buffer): string | null {
  if (block.length < 64) return null;
  return DRBD_MAGICS.get(block.readUInt32BE(60)) ?? null;
}

/** Decode and verify; throws MetadataError ENOMETA / EBADSUM / EVERSION / ECORRUPT. */
export function decodeSuperblock(block: Buffer, src: SuperblockSource): Superblock {
  const at = `${src.device}: `;
  if (block.length !== SUPERBLOCK_BYTES) {
    throw new MetadataError('EINVAL', `${at}superblock must be ${SUPERBLOCK_BYTES} bytes, got ${block.length}`);
  }
  if (!hasTandemMagic(block)) {
    const drbd = drbdMagicName(block);
    const hint = drbd ? ` (found ${drbd} metadata instead; Tandem uses its own format)` : '';
    throw new MetadataError('ENOMETA', `${at}no Tandem metadata found at offset ${src.offset}${hint} (run create-md)`);
  }
  const version = block.readUInt32BE(OFF.version);
  const stored = block.readUInt32BE(OFF.crc);
  const actual = crc32c(block.subarray(0, OFF.crc));
  if (stored !== actual) {
    const maybeVersion = version !== FORMAT_VERSION ? ` (or a superblock of unknown format version ${version})` : '';
    throw new MetadataError(
      'EBADSUM',
      `${at}metadata superblock checksum mismatch (torn write or corruption)${maybeVersion}; ` +
        `stored 0x${hex32(stored)}, computed 0x${hex32(actual)} at offset ${src.offset}; ` +
        `recreate with create-md --force and resync from the peer`,
    );
  }
  if (version !== FORMAT_VERSION) {
    throw new MetadataError(
      'EVERSION',
      `${at}metadata format version ${version} is not supported (this Tandem reads version ${FORMAT_VERSION})`,
    );
  }
  const flagBits = block.readUInt32BE(OFF.flags);
  if ((flagBits & ~KNOWN_FLAG_MASK) !== 0) {
    throw new MetadataError(
      'EVERSION',
      `${at}metadata has unknown flag bits 0x${hex32(flagBits & ~KNOWN_FLAG_MASK)} (written by a newer Tandem?)`,
    );
  }
  const bpb = block.readUInt32BE(OFF.bpb);
  if (bpb !== BM_BLOCK_SIZE) {
    throw new MetadataError('EVERSION', `${at}bitmap granularity ${bpb} bytes per bit is not supported (only ${BM_BLOCK_SIZE})`);
  }
  const corrupt = (what: string): MetadataError =>
    new MetadataError('ECORRUPT', `${at}metadata superblock at offset ${src.offset} is inconsistent: ${what}`);
  const safe = (n: bigint, what: string): number => {
    if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)) throw corrupt(`${what} ${n} out of range`);
    return Number(n);
  };
  const placementCode = block.readUInt8(OFF.placement);
  let placement: MetaPlacement;
  if (placementCode === 0) placement = { kind: 'internal' };
  else if (placementCode === 1) placement = { kind: 'external-indexed', index: block.readUInt32BE(OFF.index) };
  else if (placementCode === 2) placement = { kind: 'external-flexible' };
  else throw corrupt(`unknown placement code ${placementCode}`);

  const nameLen = block.readUInt8(OFF.nameLen);
  if (nameLen > MAX_NODE_NAME_BYTES) throw corrupt(`node name length ${nameLen}`);
  const sumState = block.readUInt32BE(OFF.bmSumState);
  if (sumState > 1) throw corrupt(`bitmap checksum state ${sumState}`);

  const sb: Superblock = {
    usableSize: safe(block.readBigUInt64BE(OFF.usable), 'usable size'),
    laSizeSect: safe(block.readBigUInt64BE(OFF.laSize), 'la-size-sect'),
    bmBytesPerBit: bpb,
    alExtents: block.readUInt32BE(OFF.alExtents),
    uuids: {
      current: block.readBigUInt64BE(OFF.uuids),
      bitmap: block.readBigUInt64BE(OFF.uuids + 8),
      history: [block.readBigUInt64BE(OFF.uuids + 16), block.readBigUInt64BE(OFF.uuids + 24)],
    },
    flags: flagsFromBits(flagBits),
    deviceUuid: block.readBigUInt64BE(OFF.deviceUuid),
    createdAt: safe(block.readBigUInt64BE(OFF.createdAt), 'creation time'),
    createdBy: block.toString('utf8', OFF.name, OFF.name + nameLen),
    placement,
    alOffset: safe(block.readBigInt64BE(OFF.alOffset), 'AL offset'),
    alSize: block.readUInt32BE(OFF.alSize),
    bitmapOffset: safe(block.readBigInt64BE(OFF.bmOffset), 'bitmap offset'),
    bitmapAreaSize: safe(block.readBigUInt64BE(OFF.bmArea), 'bitmap area size'),
    bitmapCrc32c: sumState === 1 ? block.readUInt32BE(OFF.bmSum) : null,
  };
  const problem = fieldProblem(sb);
  if (problem) throw corrupt(problem);
  return sb;
}

/** Cross-field checks shared by encode (refuse to write nonsense) and decode (refuse to trust it). */
function fieldProblem(sb: Superblock): string | null {
  const isUInt = (n: number, max = Number.MAX_SAFE_INTEGER): boolean => Number.isSafeInteger(n) && n >= 0 && n <= max;
  if (!isUInt(sb.usableSize) || sb.usableSize === 0 || sb.usableSize % BM_BLOCK_SIZE !== 0) {
    return `usable size ${sb.usableSize} is not a positive multiple of ${BM_BLOCK_SIZE}`;
  }
  if (!isUInt(sb.laSizeSect)) return `la-size-sect ${sb.laSizeSect} out of range`;
  if (sb.bmBytesPerBit !== BM_BLOCK_SIZE) return `bitmap granularity ${sb.bmBytesPerBit}`;
  if (!isUInt(sb.alExtents, 0xffffffff)) return `al-extents ${sb.alExtents}`;
  if (!isUInt(sb.createdAt)) return `creation time ${sb.createdAt}`;
  if (!isUInt(sb.alSize, 0xffffffff) || sb.alSize < 2 * MD_ALIGN || sb.alSize % MD_ALIGN !== 0) {
    return `AL size ${sb.alSize} is not a multiple of ${MD_ALIGN} of at least two blocks`;
  }
  if (!Number.isSafeInteger(sb.alOffset) || sb.alOffset % MD_ALIGN !== 0) return `AL offset ${sb.alOffset}`;
  if (!Number.isSafeInteger(sb.bitmapOffset) || sb.bitmapOffset % MD_ALIGN !== 0) return `bitmap offset ${sb.bitmapOffset}`;
  if (!isUInt(sb.bitmapAreaSize) || sb.bitmapAreaSize % MD_ALIGN !== 0 || sb.bitmapAreaSize < bitmapBytesFor(sb.usableSize)) {
    return `bitmap area of ${sb.bitmapAreaSize} bytes cannot hold the bitmap of ${sb.usableSize} bytes of data`;
  }
  if (sb.placement.kind === 'external-indexed' && !isUInt(sb.placement.index, 0xffffffff)) {
    return `meta-disk index ${sb.placement.index}`;
  }
  if (sb.bitmapCrc32c !== null && !isUInt(sb.bitmapCrc32c, 0xffffffff)) return `bitmap checksum ${sb.bitmapCrc32c}`;
  // the three areas must not overlap one another (superblock is [0, 4096) relative to itself)
  const areas: Array<[string, number, number]> = [
    ['superblock', 0, SUPERBLOCK_BYTES],
    ['activity log', sb.alOffset, sb.alOffset + sb.alSize],
    ['bitmap', sb.bitmapOffset, sb.bitmapOffset + sb.bitmapAreaSize],
  ];
  for (let i = 0; i < areas.length; i++) {
    for (let j = i + 1; j < areas.length; j++) {
      const [a, a0, a1] = areas[i]!;
      const [b, b0, b1] = areas[j]!;
      if (a0 < b1 && b0 < a1) return `${a} and ${b} overlap`;
    }
  }
  return null;
}

export function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

export function hex64(n: bigint): string {
  return n.toString(16).padStart(16, '0');
}
