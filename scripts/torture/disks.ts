// Byte comparison of the two backing disks' data areas (the metadata behind them is per node).
import fs from 'node:fs';

export interface DiskDiff {
  identical: boolean;
  /** byte offset of the first differing 4 KiB block, if any */
  firstDiff: number | null;
  differingBlocks: number;
}

export function compareDisks(a: string, b: string, length: number, chunk = 4 * 1024 * 1024): DiskDiff {
  const fa = fs.openSync(a, 'r');
  const fb = fs.openSync(b, 'r');
  const ba = Buffer.alloc(chunk);
  const bb = Buffer.alloc(chunk);
  let firstDiff: number | null = null;
  let differingBlocks = 0;
  try {
    for (let at = 0; at < length; at += chunk) {
      const n = Math.min(chunk, length - at);
      readFully(fa, ba, n, at, a);
      readFully(fb, bb, n, at, b);
      if (ba.subarray(0, n).equals(bb.subarray(0, n))) continue;
      for (let o = 0; o < n; o += 4096) {
        const e = Math.min(o + 4096, n);
        if (!ba.subarray(o, e).equals(bb.subarray(o, e))) {
          differingBlocks++;
          firstDiff ??= at + o;
        }
      }
    }
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
  return { identical: differingBlocks === 0, firstDiff, differingBlocks };
}

function readFully(fd: number, buf: Buffer, n: number, pos: number, what: string): void {
  let got = 0;
  while (got < n) {
    const r = fs.readSync(fd, buf, got, n - got, pos + got);
    if (r === 0) throw new Error(`${what}: unexpected end at byte ${pos + got} (wanted ${pos + n})`);
    got += r;
  }
}
