// The benchmark's scratch space: one temp directory (so every backing file is on the same
// filesystem), a data template, and plain-copy baselines timed with dd.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runOk } from './proc.js';
import { MiB } from './stats.js';

export function makeScratchDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-'));
}

/**
 * A file of `bytes` incompressible-looking data (a random MiB, stamped with its index so no two
 * MiB are equal), so nothing in the path can take a shortcut over holes or zeros.
 */
export function writeTemplate(file: string, bytes: number): void {
  const chunk = Buffer.alloc(MiB);
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((Math.random() * 0x1_0000_0000) >>> 0, i);
  const fd = fs.openSync(file, 'w');
  try {
    for (let off = 0; off < bytes; off += MiB) {
      chunk.writeUInt32LE(off / MiB, 0);
      fs.writeSync(fd, chunk, 0, Math.min(MiB, bytes - off), off);
    }
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export async function copyFile(src: string, dst: string): Promise<void> {
  await runOk('cp', ['--sparse=never', src, dst]);
  await runOk('sync', [dst]);
}

/**
 * Plain copy of the first `bytes` of `src` with dd (1 MiB blocks), with or without a final
 * fdatasync; returns MiB/s. The destination is removed afterwards.
 */
export async function timedCopy(src: string, dst: string, bytes: number, fdatasync: boolean): Promise<number> {
  fs.rmSync(dst, { force: true });
  const args = [`if=${src}`, `of=${dst}`, 'bs=1M', `count=${Math.ceil(bytes / MiB)}`, 'status=none'];
  if (fdatasync) args.push('conv=fdatasync');
  const t0 = performance.now();
  await runOk('dd', args);
  const sec = (performance.now() - t0) / 1000;
  fs.rmSync(dst, { force: true });
  return bytes / MiB / sec;
}

/**
 * Writes back and drops the cached pages of `files`, so every contender starts a case from the
 * same page-cache state. This matters on this kernel: after 1 MiB reads or writes (a resync, a cp)
 * a file's cache is held in large folios, and a 4 KiB buffered pwrite into a large folio costs
 * 12-17 µs (ext4_block_write_begin walks the folio's buffer heads) instead of 3-5 µs. Without
 * this the resynced Tandem files and the freshly copied nbdkit file would not be comparable.
 */
export async function evictPageCache(files: readonly string[]): Promise<void> {
  for (const f of files) {
    await runOk('sync', [f]);
    // GNU dd: iflag=nocache with count=0 drops the whole file from the cache (POSIX_FADV_DONTNEED)
    await runOk('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']);
  }
}

/** Reads `files` whole (dd to /dev/null) so every contender's reads start from a cached file. */
export async function warmPageCache(files: readonly string[]): Promise<void> {
  for (const f of files) await runOk('dd', [`if=${f}`, 'of=/dev/null', 'bs=1M', 'status=none']);
}
