// create-md: write fresh metadata, the way drbdmeta does (reference §1.1): current UUID =
// UUID_JUST_CREATED (4), bitmap and history UUIDs 0, la-size 0, and of the flags only al-clean,
// so the disk attaches Inconsistent and the first connect (or `primary --force`) decides the
// initial full sync. The bitmap starts all clear, as drbdmeta's does.
//
// It refuses, unless forced, when the target already holds valid or damaged Tandem metadata, DRBD
// metadata, or a filesystem/volume signature: create-md turns the disk into a sync target.
//
// Write order makes a crash at any point harmless: first the old superblock is zeroed (so no
// valid superblock can ever point at a half-initialised bitmap), then AL and bitmap are zeroed,
// and the new superblock is written last; each step is flushed.

import { randomBytes } from 'node:crypto';
import { checkAlExtents } from './activity-log.js';
import { MetadataError } from './metadata-error.js';
import { noFlags } from './metadata-flags.js';
import { computeLayout, type MetaLayout, type MetaPlacement } from './metadata-layout.js';
import { SIGNATURE_HEAD_BYTES, detectDrbdMetadata, detectSignatures, type Signature } from './fs-signatures.js';
import { crc32c } from './crc32c-js.js';
import {
  superblockLayoutFields,
  writeSuperblock,
  zeroRange,
  type MetaIO,
} from './metadata-store.js';
import {
  SUPERBLOCK_BYTES,
  UUID_JUST_CREATED,
  decodeSuperblock,
  encodeSuperblock,
  hasTandemMagic,
  type Superblock,
} from './superblock.js';

export interface CreateMdTarget {
  /** how messages name the target: "r0" or "r0 (/dev/sdb1)" */
  name: string;
  /** the backing (data) device */
  data: MetaIO;
  /** the metadata device: the same object as `data` for internal metadata */
  meta: MetaIO;
  placement: MetaPlacement;
}

export interface CreateMdOptions {
  force: boolean;
  /** this node's name, recorded as the creator */
  nodeName: string;
  /** al-extents from the resource's config (7..AL_EXTENTS_MAX) */
  alExtents: number;
  /** ms since the epoch; injectable for tests */
  now?: () => number;
  /** non-zero random 64-bit value for the device UUID; injectable for tests */
  randomUuid?: () => bigint;
}

export interface CreateMdResult {
  superblock: Superblock;
  layout: MetaLayout;
  /** what --force overwrote (empty when nothing was there) */
  overwritten: string[];
}

export function randomUuid64(): bigint {
  for (;;) {
    const v = randomBytes(8).readBigUInt64BE(0);
    if (v !== 0n) return v;
  }
}

export async function createMetadata(target: CreateMdTarget, opts: CreateMdOptions): Promise<CreateMdResult> {
  checkAlExtents(opts.alExtents);
  const layout = computeLayout(target.placement, { dataSize: target.data.size, metaDeviceSize: target.meta.size });
  const superblock: Superblock = {
    ...superblockLayoutFields(layout),
    laSizeSect: 0,
    bmBytesPerBit: 4096,
    alExtents: opts.alExtents,
    uuids: { current: UUID_JUST_CREATED, bitmap: 0n, history: [0n, 0n] },
    flags: { ...noFlags(), alClean: true },
    deviceUuid: (opts.randomUuid ?? randomUuid64)(),
    createdAt: (opts.now ?? Date.now)(),
    createdBy: opts.nodeName,
    bitmapCrc32c: crc32c(Buffer.alloc(layout.bitmapBytes)),
  };
  encodeSuperblock(superblock); // validates node name and fields before anything is touched

  const findings = await inspectTarget(target, layout);
  if (findings.length > 0 && !opts.force) throw refusal(target.name, layout, findings[0]!);

  const meta = target.meta;
  await meta.write(layout.superblockOffset, Buffer.alloc(SUPERBLOCK_BYTES));
  await meta.flush();
  await zeroRange(meta, layout.alOffset, layout.alSize);
  await zeroRange(meta, layout.bitmapOffset, Math.ceil(layout.bitmapBytes / 4096) * 4096);
  await meta.flush();
  await writeSuperblock(meta, layout, superblock, { device: target.name });
  return { superblock, layout, overwritten: findings.map(describeFinding) };
}

type Finding =
  | { kind: 'tandem'; superblock: Superblock }
  | { kind: 'tandem-damaged'; reason: string }
  | { kind: 'signature'; where: 'data' | 'meta'; signature: Signature };

/** What is on the target now; pure reads. */
async function inspectTarget(target: CreateMdTarget, layout: MetaLayout): Promise<Finding[]> {
  const findings: Finding[] = [];
  const sbBlock = await target.meta.read(layout.superblockOffset, SUPERBLOCK_BYTES);
  if (hasTandemMagic(sbBlock)) {
    try {
      findings.push({ kind: 'tandem', superblock: decodeSuperblock(sbBlock, { device: target.name, offset: layout.superblockOffset }) });
    } catch (err) {
      findings.push({ kind: 'tandem-damaged', reason: err instanceof Error ? err.message : String(err) });
    }
  }
  const drbd = detectDrbdMetadata(sbBlock, layout.superblockOffset);
  if (drbd) findings.push({ kind: 'signature', where: 'meta', signature: drbd });
  if (target.meta !== target.data && target.data.size >= 2 * SUPERBLOCK_BYTES) {
    // the data disk may have been a DRBD backing device with internal metadata
    const off = target.data.size - (target.data.size % 4096) - SUPERBLOCK_BYTES;
    const sig = detectDrbdMetadata(await target.data.read(off, SUPERBLOCK_BYTES), off);
    if (sig) findings.push({ kind: 'signature', where: 'data', signature: sig });
  }
  const headLength = Math.min(SIGNATURE_HEAD_BYTES, target.data.size - (target.data.size % 4096));
  const head = headLength > 0 ? await target.data.read(0, headLength) : Buffer.alloc(0);
  for (const signature of detectSignatures(head)) findings.push({ kind: 'signature', where: 'data', signature });
  return findings;
}

function refusal(name: string, layout: MetaLayout, f: Finding): MetadataError {
  switch (f.kind) {
    case 'tandem':
      return new MetadataError(
        'EEXIST',
        `${name}: already contains Tandem metadata (created ${new Date(f.superblock.createdAt).toISOString()} ` +
          `by ${f.superblock.createdBy || 'unknown node'}); use --force to overwrite`,
      );
    case 'tandem-damaged':
      return new MetadataError(
        'EEXIST',
        `${name}: already contains damaged Tandem metadata at offset ${layout.superblockOffset} (${f.reason}); ` +
          `use --force to overwrite`,
      );
    case 'signature': {
      const s = f.signature;
      const size = s.size !== undefined ? ` of ${s.size} bytes` : '';
      const cut =
        layout.placement.kind === 'internal' && s.size !== undefined && s.size > layout.usableSize
          ? `; it is larger than the ${layout.usableSize} usable bytes, so internal metadata would overwrite its end`
          : '';
      const where = f.where === 'meta' ? 'the metadata area' : 'the data area';
      return new MetadataError(
        'EFSSIG',
        `${name}: ${where} contains ${article(s.type)} ${s.type} signature${size} (${s.evidence})${cut}; ` +
          `the device becomes Inconsistent and a resync may overwrite it; use --force to proceed anyway`,
      );
    }
  }
}

function describeFinding(f: Finding): string {
  switch (f.kind) {
    case 'tandem':
      return `Tandem metadata created ${new Date(f.superblock.createdAt).toISOString()} by ${f.superblock.createdBy}`;
    case 'tandem-damaged':
      return 'damaged Tandem metadata';
    case 'signature':
      return `${f.signature.type} (${f.signature.evidence})`;
  }
}

function article(word: string): string {
  return /^[aeiouAEIOU]|^LVM|^xfs/.test(word) ? 'an' : 'a';
}
