// Recognise what already lives on a disk, so create-md does not silently turn somebody's
// filesystem or volume into a resync target. Pure: looks at the first bytes of the data area
// (SIGNATURE_HEAD_BYTES) and at one metadata block; offsets as in libblkid's probes.

import { drbdMagicName } from './superblock.js';

/** Enough of the device head to see every signature below (btrfs sits at 64 KiB). */
export const SIGNATURE_HEAD_BYTES = 68 * 1024;

export interface Signature {
  /** short name: "ext4", "xfs", "btrfs", "swap", "LUKS", "LVM2 PV", "GPT", "DRBD 8 (v08)" */
  type: string;
  /** where and what was matched, for the error message */
  evidence: string;
  /** size of the filesystem in bytes when the signature tells it */
  size?: number;
}

const at = (b: Buffer, off: number, s: string): boolean =>
  b.length >= off + s.length && b.toString('latin1', off, off + s.length) === s;

/** All signatures found in the head of a data area (normally zero or one). */
export function detectSignatures(head: Buffer): Signature[] {
  const found: Signature[] = [];
  const ext = detectExt(head);
  if (ext) found.push(ext);
  if (at(head, 0, 'XFSB')) {
    const sig: Signature = { type: 'xfs', evidence: '"XFSB" at byte 0' };
    if (head.length >= 16) {
      const size = Number(head.readBigUInt64BE(8)) * head.readUInt32BE(4);
      if (Number.isSafeInteger(size)) sig.size = size;
    }
    found.push(sig);
  }
  if (at(head, 65536 + 64, '_BHRfS_M')) {
    const sig: Signature = { type: 'btrfs', evidence: '"_BHRfS_M" at byte 65600' };
    if (head.length >= 65536 + 0x78) {
      const size = Number(head.readBigUInt64LE(65536 + 0x70));
      if (Number.isSafeInteger(size)) sig.size = size;
    }
    found.push(sig);
  }
  for (const page of [4096, 8192, 16384, 65536]) {
    for (const magic of ['SWAPSPACE2', 'SWAP-SPACE']) {
      if (at(head, page - 10, magic)) found.push({ type: 'swap', evidence: `"${magic}" at byte ${page - 10}` });
    }
  }
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]))) {
    found.push({ type: 'LUKS', evidence: '"LUKS\\xba\\xbe" at byte 0' });
  }
  for (let sector = 0; sector < 4; sector++) {
    if (at(head, sector * 512, 'LABELONE')) {
      found.push({ type: 'LVM2 PV', evidence: `"LABELONE" at byte ${sector * 512}` });
      break;
    }
  }
  if (at(head, 512, 'EFI PART')) found.push({ type: 'GPT partition table', evidence: '"EFI PART" at byte 512' });
  return found;
}

function detectExt(head: Buffer): Signature | null {
  const sb = 1024;
  if (head.length < sb + 0x158 || head.readUInt16LE(sb + 0x38) !== 0xef53) return null;
  const compat = head.readUInt32LE(sb + 0x5c);
  const incompat = head.readUInt32LE(sb + 0x60);
  const INCOMPAT_EXTENTS = 0x40, INCOMPAT_64BIT = 0x80, INCOMPAT_FLEX_BG = 0x200, COMPAT_HAS_JOURNAL = 0x4;
  const type = incompat & (INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG) ? 'ext4' : compat & COMPAT_HAS_JOURNAL ? 'ext3' : 'ext2';
  const logBlock = head.readUInt32LE(sb + 24);
  const sig: Signature = { type, evidence: 'magic 0xEF53 at byte 1080' };
  if (logBlock <= 6) {
    const hi = incompat & INCOMPAT_64BIT ? head.readUInt32LE(sb + 0x150) : 0;
    const blocks = hi * 2 ** 32 + head.readUInt32LE(sb + 4);
    const size = blocks * (1024 << logBlock);
    if (Number.isSafeInteger(size)) sig.size = size;
  }
  return sig;
}

/** DRBD's own superblock in a 4 KiB metadata block, as a signature. */
export function detectDrbdMetadata(block: Buffer, offset: number): Signature | null {
  const name = drbdMagicName(block);
  return name ? { type: `${name} metadata`, evidence: `DRBD magic at byte ${offset + 60}` } : null;
}
