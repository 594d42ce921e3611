// Human-readable metadata, in the spirit of `drbdadm dump-md` (and `get-gi` for the one-line
// generation identifier). Pure: formatting only; tandemadm reads the metadata and prints this.

import type { AlRecovery } from './activity-log.js';
import { META_FLAG_LABELS, META_FLAG_NAMES, flagsToBits, setFlagLabels, type MetaFlagName } from './metadata-flags.js';
import { describePlacement } from './metadata-layout.js';
import { FORMAT_VERSION, hex32, hex64, type Superblock } from './superblock.js';

export interface BitmapStats {
  /** set bits in the bitmap (4 KiB blocks out of sync) */
  bitsSet: number;
}

export interface DumpExtras {
  /** AL state as recovered on read, to show what an attach would mark out of sync */
  al?: AlRecovery;
  /** how the device is named in the header comment */
  device?: string;
}

/** get-gi's order of the seven flags after the four UUIDs: c:u:p:C:f:o:x (reference §1.1). */
const GI_FLAGS: readonly MetaFlagName[] = [
  'consistent', 'wasUpToDate', 'primaryInd', 'connectedInd', 'fullSync', 'peerOutdated', 'crashedPrimary',
];

/** `CUR:BM:H1:H2:c:u:p:C:f:o:x`, as `drbdadm get-gi` prints it. */
export function formatGi(sb: Superblock): string {
  const u = sb.uuids;
  const uuids = [u.current, u.bitmap, u.history[0], u.history[1]].map((v) => hex64(v).toUpperCase());
  return [...uuids, ...GI_FLAGS.map((f) => (sb.flags[f] ? '1' : '0'))].join(':');
}

export function formatUuids(sb: Superblock): string {
  const u = sb.uuids;
  return [u.current, u.bitmap, u.history[0], u.history[1]].map((v) => `0x${hex64(v)}`).join(':');
}

export function formatMetadata(sb: Superblock, bitmapStats: BitmapStats, extras: DumpExtras = {}): string {
  const flagBits = flagsToBits(sb.flags);
  const flagNames = setFlagLabels(sb.flags);
  const blocks = sb.usableSize / sb.bmBytesPerBit;
  const lines = [
    '# Tandem meta data dump',
    ...(extras.device ? [`# ${extras.device}`] : []),
    `# created ${new Date(sb.createdAt).toISOString()} by ${sb.createdBy || '(unknown)'}`,
    `version "tandem-v${FORMAT_VERSION}";`,
    '',
    `# meta-disk ${describePlacement(sb.placement)}`,
    `# al-offset ${sb.alOffset} al-size ${sb.alSize} bm-offset ${sb.bitmapOffset} bm-area ${sb.bitmapAreaSize} (bytes, relative to the superblock)`,
    '',
    'uuid {',
    `    ${formatUuids(sb)};`,
    `    flags 0x${hex32(flagBits)};${flagNames.length ? ` # ${flagNames.join(', ')}` : ''}`,
    '}',
    `# gi ${formatGi(sb)}`,
    `# disk state at attach: ${attachDiskState(sb)}`,
    `la-size-sect ${sb.laSizeSect};`,
    `usable-size ${sb.usableSize}; # ${humanBytes(sb.usableSize)}, ${blocks} blocks`,
    `bm-byte-per-bit ${sb.bmBytesPerBit};`,
    `al-extents ${sb.alExtents};`,
    `device-uuid 0x${hex64(sb.deviceUuid)};`,
    `bits-set ${bitmapStats.bitsSet}; # ${humanBytes(bitmapStats.bitsSet * sb.bmBytesPerBit)} out of sync`,
    `bitmap-checksum ${sb.bitmapCrc32c === null ? 'none; # bitmap in use (not stopped cleanly)' : `0x${hex32(sb.bitmapCrc32c)};`}`,
  ];
  if (extras.al) {
    const al = extras.al;
    const last = al.last ? `transaction #${al.last.seq}` : 'no transaction';
    lines.push(`# activity log: ${al.active.size} active extents (${last}; ${al.damagedTransactions} damaged)`);
  }
  return lines.join('\n') + '\n';
}

/** The disk state DRBD derives from the flags at attach (reference §1.2). */
export function attachDiskState(sb: Superblock): 'Inconsistent' | 'Outdated' | 'Consistent' {
  if (!sb.flags.consistent) return 'Inconsistent';
  return sb.flags.wasUpToDate ? 'Consistent' : 'Outdated';
}

export function humanBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(2)} ${units[i]}`;
}

/** Flag labels in DRBD's order, for help text. */
export const FLAG_LEGEND = META_FLAG_NAMES.map((n) => META_FLAG_LABELS[n]);
