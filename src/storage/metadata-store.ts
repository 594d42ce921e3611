// Reading and writing the metadata areas through a minimal I/O interface. The CLI and tests use
// openFileMetaIO (node:fs/promises); tandemd passes its native BlockDevice, which has the same
// shape. Every write helper flushes before it returns: metadata that is not on stable storage
// is not metadata. All I/O here is in whole, 4 KiB-aligned pages, so an O_DIRECT device works.

import { open, readFile, type FileHandle } from 'node:fs/promises';
import { recover, type AlRecovery, type AlWrite } from './activity-log.js';
import { crc32c } from './crc32c-js.js';
import { MetadataError } from './metadata-error.js';
import { MD_ALIGN, bitmapBytesFor, describePlacement, type MetaLayout, type MetaPlacement } from './metadata-layout.js';
import { SUPERBLOCK_BYTES, decodeSuperblock, encodeSuperblock, type Superblock } from './superblock.js';

export interface MetaIO {
  readonly size: number;
  read(offset: number, length: number): Promise<Buffer>;
  write(offset: number, data: Buffer): Promise<void>;
  flush(): Promise<void>;
}

export type ClosableMetaIO = MetaIO & { readonly path: string; close(): Promise<void> };

/** Label for error messages ("r0", "/dev/sdb1"); defaults to "metadata device". */
export interface StoreContext {
  device?: string;
}

const CHUNK = 1024 * 1024;

/** Open a regular file or a block device for metadata I/O (read-write unless readOnly). */
export async function openFileMetaIO(path: string, opts: { readOnly?: boolean } = {}): Promise<ClosableMetaIO> {
  const fh = await open(path, opts.readOnly ? 'r' : 'r+');
  try {
    const st = await fh.stat({ bigint: true });
    let size: number;
    if (st.isFile()) size = Number(st.size);
    else if (st.isBlockDevice()) size = await blockDeviceSize(path, st.rdev);
    else throw new MetadataError('EINVAL', `${path}: not a regular file or block device`);
    return fileMetaIO(fh, path, size);
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** stat() of a block device reports size 0; the kernel publishes it in sysfs (512-byte sectors). */
async function blockDeviceSize(path: string, rdev: bigint): Promise<number> {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  const sysfs = `/sys/dev/block/${major}:${minor}/size`;
  let text: string;
  try {
    text = await readFile(sysfs, 'utf8');
  } catch (err) {
    throw new MetadataError('EINVAL', `${path}: cannot read the block device size from ${sysfs}: ${(err as Error).message}`);
  }
  const sectors = Number(text.trim());
  if (!Number.isSafeInteger(sectors) || sectors < 0) {
    throw new MetadataError('EINVAL', `${path}: unexpected size "${text.trim()}" in ${sysfs}`);
  }
  return sectors * 512;
}

function fileMetaIO(fh: FileHandle, path: string, size: number): ClosableMetaIO {
  return {
    path,
    size,
    async read(offset, length) {
      const buf = Buffer.alloc(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new MetadataError('ESIZE', `${path}: short read at offset ${offset + done} (device is ${size} bytes)`);
        }
        done += bytesRead;
      }
      return buf;
    },
    async write(offset, data) {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
        done += bytesWritten;
      }
    },
    async flush() {
      await fh.datasync();
    },
    async close() {
      await fh.close();
    },
  };
}

function label(ctx: StoreContext | undefined): string {
  return ctx?.device ?? 'metadata device';
}

function requireInside(io: MetaIO, offset: number, length: number, what: string, ctx?: StoreContext): void {
  if (offset < 0 || offset + length > io.size) {
    throw new MetadataError(
      'ESIZE',
      `${label(ctx)}: ${what} at bytes ${offset}..${offset + length} lies outside the device (${io.size} bytes); ` +
        `the device shrank or the metadata does not belong to it`,
    );
  }
}

/** Read and verify the superblock at layout.superblockOffset. */
export async function readSuperblock(io: MetaIO, layout: MetaLayout, ctx?: StoreContext): Promise<Superblock> {
  requireInside(io, layout.superblockOffset, SUPERBLOCK_BYTES, 'superblock', ctx);
  const block = await io.read(layout.superblockOffset, SUPERBLOCK_BYTES);
  return decodeSuperblock(block, { device: label(ctx), offset: layout.superblockOffset });
}

/** The layout a superblock records about itself (positions are relative to where it was found). */
export function layoutFromSuperblock(superblockOffset: number, sb: Superblock, limitedBy: MetaLayout['limitedBy'] = 'backing'): MetaLayout {
  const alOffset = superblockOffset + sb.alOffset;
  const bitmapOffset = superblockOffset + sb.bitmapOffset;
  const start = Math.min(superblockOffset, alOffset, bitmapOffset);
  const end = Math.max(superblockOffset + SUPERBLOCK_BYTES, alOffset + sb.alSize, bitmapOffset + sb.bitmapAreaSize);
  return {
    placement: sb.placement,
    mdOffset: start,
    mdSize: end - start,
    superblockOffset,
    alOffset,
    alSize: sb.alSize,
    bitmapOffset,
    bitmapAreaSize: sb.bitmapAreaSize,
    bitmapBytes: bitmapBytesFor(sb.usableSize),
    usableSize: sb.usableSize,
    usableBlocks: sb.usableSize / 4096,
    limitedBy,
  };
}

/** The superblock fields that describe a layout, relative to the superblock (for create-md). */
export function superblockLayoutFields(layout: MetaLayout): Pick<Superblock, 'alOffset' | 'alSize' | 'bitmapOffset' | 'bitmapAreaSize' | 'usableSize' | 'placement'> {
  return {
    alOffset: layout.alOffset - layout.superblockOffset,
    alSize: layout.alSize,
    bitmapOffset: layout.bitmapOffset - layout.superblockOffset,
    bitmapAreaSize: layout.bitmapAreaSize,
    usableSize: layout.usableSize,
    placement: layout.placement,
  };
}

function samePlacement(a: MetaPlacement, b: MetaPlacement): boolean {
  if (a.kind !== b.kind) return false;
  return a.kind !== 'external-indexed' || (b.kind === 'external-indexed' && a.index === b.index);
}

export type BitmapChecksumResult = 'match' | 'mismatch' | 'unrecorded';

export interface MetadataContents {
  superblock: Superblock;
  /** the layout as recorded in the superblock; pass this one to the write helpers */
  layout: MetaLayout;
  /** raw bitmap bytes, exactly ceil(usableBlocks / 64) * 8 */
  bitmap: Buffer;
  alRecovered: AlRecovery;
  /** 'mismatch': the bitmap was damaged after a clean stop; treat every block as out of sync */
  bitmapChecksum: BitmapChecksumResult;
}

/**
 * Read everything. `layout` is the one computed from the configuration and current device sizes
 * (computeLayout); it says where the superblock must be and how much data space exists now.
 */
/**
 * Where the bitmap goes while it is read: by default into `MetadataContents.bitmap`; a sink gets it
 * in 1 MiB pieces instead (byte offset, bytes), so tandemd loads a 32 MiB bitmap (1 TiB of data)
 * into its native bitmap without a second full-size copy. `bitmap` is then empty.
 */
export type BitmapSink = (byteOffset: number, bytes: Buffer) => void;

export async function readMetadata(io: MetaIO, layout: MetaLayout, ctx?: StoreContext, sink?: BitmapSink): Promise<MetadataContents> {
  const dev = label(ctx);
  const superblock = await readSuperblock(io, layout, ctx);
  if (!samePlacement(superblock.placement, layout.placement)) {
    throw new MetadataError(
      'ENOMETA',
      `${dev}: the metadata at offset ${layout.superblockOffset} was created as meta-disk ` +
        `${describePlacement(superblock.placement)}, but the configuration says ${describePlacement(layout.placement)}`,
    );
  }
  if (superblock.usableSize > layout.usableSize) {
    throw new MetadataError(
      'ESIZE',
      `${dev}: metadata records a usable size of ${superblock.usableSize} bytes but only ${layout.usableSize} ` +
        `are available now: the backing device shrank; restore its size, or create-md --force and resync from the peer`,
    );
  }
  const effective = layoutFromSuperblock(layout.superblockOffset, superblock, layout.limitedBy);
  if (effective.placement.kind === 'internal' && effective.mdOffset < superblock.usableSize) {
    // internal metadata sharing bytes with the data area would corrupt data on every bitmap write
    throw new MetadataError(
      'ECORRUPT',
      `${dev}: metadata at offset ${layout.superblockOffset} places its areas from byte ${effective.mdOffset}, ` +
        `inside the ${superblock.usableSize}-byte data area`,
    );
  }
  requireInside(io, effective.alOffset, effective.alSize, 'activity log', ctx);
  requireInside(io, effective.bitmapOffset, effective.bitmapAreaSize, 'bitmap', ctx);
  // whole 4 KiB pages, so an O_DIRECT device can serve the read
  let bitmap: Buffer;
  let crc: number;
  if (sink) {
    bitmap = Buffer.alloc(0);
    crc = 0;
    const area = Math.ceil(effective.bitmapBytes / MD_ALIGN) * MD_ALIGN;
    for (let done = 0; done < area; done += CHUNK) {
      const piece = await io.read(effective.bitmapOffset + done, Math.min(CHUNK, area - done));
      const bytes = piece.subarray(0, Math.max(0, Math.min(piece.length, effective.bitmapBytes - done)));
      if (bytes.length === 0) break;
      crc = crc32c(bytes, crc);
      sink(done, bytes);
    }
  } else {
    const pages = await readChunked(io, effective.bitmapOffset, Math.ceil(effective.bitmapBytes / MD_ALIGN) * MD_ALIGN);
    bitmap = pages.subarray(0, effective.bitmapBytes);
    crc = crc32c(bitmap);
  }
  const alRecovered = recover(await io.read(effective.alOffset, effective.alSize));
  const bitmapChecksum: BitmapChecksumResult =
    superblock.bitmapCrc32c === null ? 'unrecorded' : crc === superblock.bitmapCrc32c ? 'match' : 'mismatch';
  return { superblock, layout: effective, bitmap, alRecovered, bitmapChecksum };
}

async function readChunked(io: MetaIO, offset: number, length: number): Promise<Buffer> {
  if (length <= CHUNK) return io.read(offset, length);
  const parts: Buffer[] = [];
  for (let done = 0; done < length; done += CHUNK) parts.push(await io.read(offset + done, Math.min(CHUNK, length - done)));
  return Buffer.concat(parts, length);
}

export async function writeSuperblock(io: MetaIO, layout: MetaLayout, sb: Superblock, ctx?: StoreContext): Promise<void> {
  const block = encodeSuperblock(sb);
  requireInside(io, layout.superblockOffset, block.length, 'superblock', ctx);
  await io.write(layout.superblockOffset, block);
  await io.flush();
}

/** Write one AL transaction (from ActivityLogWriter.recordActive) and flush it. */
export async function writeAlTransaction(io: MetaIO, layout: MetaLayout, tx: AlWrite, ctx?: StoreContext): Promise<void> {
  if (tx.offset < layout.alOffset || tx.offset + tx.data.length > layout.alOffset + layout.alSize) {
    throw new MetadataError('EINVAL', `${label(ctx)}: AL transaction at ${tx.offset} lies outside the activity log area`);
  }
  await io.write(tx.offset, tx.data);
  await io.flush();
}

function checkBitmapLength(layout: MetaLayout, bitmapBytes: Buffer, ctx?: StoreContext): void {
  if (bitmapBytes.length !== layout.bitmapBytes) {
    throw new MetadataError(
      'EINVAL',
      `${label(ctx)}: bitmap buffer is ${bitmapBytes.length} bytes, the layout needs exactly ${layout.bitmapBytes}`,
    );
  }
}

/**
 * Write the whole bitmap (whole 4 KiB pages, zero-padded) and flush. Returns its CRC32C, which the
 * caller records in the superblock (bitmapCrc32c) when this is a clean stop.
 */
export async function writeBitmap(io: MetaIO, layout: MetaLayout, bitmapBytes: Buffer, ctx?: StoreContext): Promise<number> {
  checkBitmapLength(layout, bitmapBytes, ctx);
  await writePages(io, layout, bitmapBytes, 0, Math.ceil(bitmapBytes.length / MD_ALIGN), ctx);
  await io.flush();
  return crc32c(bitmapBytes);
}

/**
 * Persist the 64-bit words [firstWordIndex, firstWordIndex + wordCount) by rewriting only the
 * 4 KiB bitmap pages that contain them, then flush.
 */
export async function writeBitmapRange(
  io: MetaIO,
  layout: MetaLayout,
  bitmapBytes: Buffer,
  firstWordIndex: number,
  wordCount: number,
  ctx?: StoreContext,
): Promise<void> {
  checkBitmapLength(layout, bitmapBytes, ctx);
  const words = bitmapBytes.length / 8;
  if (!Number.isSafeInteger(firstWordIndex) || !Number.isSafeInteger(wordCount) || firstWordIndex < 0 || wordCount < 0 ||
      firstWordIndex + wordCount > words) {
    throw new MetadataError(
      'EINVAL',
      `${label(ctx)}: bitmap words ${firstWordIndex}..${firstWordIndex + wordCount} are outside the bitmap of ${words} words`,
    );
  }
  if (wordCount === 0) return;
  const firstPage = Math.floor((firstWordIndex * 8) / MD_ALIGN);
  const endPage = Math.ceil(((firstWordIndex + wordCount) * 8) / MD_ALIGN);
  await writePages(io, layout, bitmapBytes, firstPage, endPage, ctx);
  await io.flush();
}

async function writePages(io: MetaIO, layout: MetaLayout, bitmapBytes: Buffer, firstPage: number, endPage: number, ctx?: StoreContext): Promise<void> {
  requireInside(io, layout.bitmapOffset, layout.bitmapAreaSize, 'bitmap', ctx);
  const pagesPerChunk = CHUNK / MD_ALIGN;
  for (let p = firstPage; p < endPage; p += pagesPerChunk) {
    const pEnd = Math.min(endPage, p + pagesPerChunk);
    const from = p * MD_ALIGN;
    const to = pEnd * MD_ALIGN;
    let chunk = bitmapBytes.subarray(from, Math.min(to, bitmapBytes.length));
    if (chunk.length < to - from) {
      // the last page is partly beyond the bitmap bytes: write it whole, zero-padded
      const padded = Buffer.alloc(to - from);
      chunk.copy(padded);
      chunk = padded;
    }
    await io.write(layout.bitmapOffset + from, chunk);
  }
}

/** Zero a byte range in 1 MiB writes (create-md uses it for the AL and bitmap areas). */
export async function zeroRange(io: MetaIO, offset: number, length: number): Promise<void> {
  const zeros = Buffer.alloc(Math.min(CHUNK, length));
  for (let done = 0; done < length; done += CHUNK) {
    const n = Math.min(CHUNK, length - done);
    await io.write(offset + done, n === zeros.length ? zeros : zeros.subarray(0, n));
  }
}
