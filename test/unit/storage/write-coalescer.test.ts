import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BlockDevice } from '../../../src/storage/block-device.js';
import { WriteCoalescer } from '../../../src/storage/write-coalescer.js';

const dir = mkdtempSync(join(existsSync('/var/tmp') ? '/var/tmp' : tmpdir(), 'tandem-wc-'));
const open: BlockDevice[] = [];
let seq = 0;

function openFile(size: number, opts: { direct?: boolean } = {}): BlockDevice {
  const p = join(dir, `d${seq++}.img`);
  writeFileSync(p, '');
  truncateSync(p, size);
  const d = BlockDevice.open(p, opts);
  open.push(d);
  return d;
}

afterEach(() => {
  for (const d of open.splice(0)) d.close();
  delete process.env.TANDEM_TEST_FAULTS;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Both paths: small writes go inline (synchronous pwritev), large or O_DIRECT ones to the pool.
const cases = [
  { name: 'small buffered writes (inline)', size: 4096, direct: false },
  { name: '256 KiB buffered writes (pool)', size: 256 * 1024, direct: false },
  { name: 'O_DIRECT writes (pool)', size: 4096, direct: true },
];

describe.each(cases)('WriteCoalescer: $name', ({ size, direct }) => {
  it('writes submitted in one tick all land, overlapping ones in submission order', async () => {
    const d = openFile(64 * size, { direct });
    const c = new WriteCoalescer(d);
    const model = Buffer.alloc(d.size);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      const at = ((i * 7) % 60) * size;
      const data = d.allocAligned(size);
      randomBytes(size).copy(data);
      data.copy(model, at);
      writes.push(c.write(at, data));
    }
    await Promise.all(writes);
    expect(readFileSync(d.path).equals(model)).toBe(true);
  });

  it('a failing block rejects only its own write; the others land', async () => {
    process.env.TANDEM_TEST_FAULTS = '1';
    const d = openFile(16 * size, { direct });
    d.injectFaults([{ offset: 3 * size, length: size, op: 'write', errno: 'EIO' }]);
    const c = new WriteCoalescer(d);
    const outcomes = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((i) => c.write(i * size, Buffer.alloc(size, i + 1))));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((outcomes[3] as PromiseRejectedResult).reason).toMatchObject({ code: 'EIO', offset: 3 * size });
    const file = readFileSync(d.path);
    for (const i of [0, 1, 2, 4, 5]) expect(file.subarray(i * size, (i + 1) * size).every((x) => x === i + 1)).toBe(true);
    expect(file.subarray(3 * size, 4 * size).every((x) => x === 0)).toBe(true);
  });
});

describe('WriteCoalescer: large writes', () => {
  it('writes of 1 MiB go through the page cache like small ones (never writeBulk), overlapping ones in submission order', async () => {
    const d = openFile(4 * 1024 * 1024);
    const bulkAt: number[] = [];
    const writeBulk = d.writeBulk.bind(d);
    d.writeBulk = (offset: number, data: Buffer) => {
      bulkAt.push(offset);
      return writeBulk(offset, data);
    };
    const c = new WriteCoalescer(d);
    const big = randomBytes(1024 * 1024);
    const small = randomBytes(4096);
    const a = randomBytes(256 * 1024);
    const b = randomBytes(256 * 1024);
    await Promise.all([
      c.write(0, big),
      c.write(1024 * 1024, small),
      // overlapping pair: b was submitted last, so b wins
      c.write(2 * 1024 * 1024, a),
      c.write(2 * 1024 * 1024 + 4096, b),
    ]);
    expect(bulkAt).toEqual([]);
    const file = readFileSync(d.path);
    expect(file.subarray(0, big.length).equals(big)).toBe(true);
    expect(file.subarray(1024 * 1024, 1024 * 1024 + 4096).equals(small)).toBe(true);
    expect(file.subarray(2 * 1024 * 1024, 2 * 1024 * 1024 + 4096).equals(a.subarray(0, 4096))).toBe(true);
    expect(file.subarray(2 * 1024 * 1024 + 4096, 2 * 1024 * 1024 + 4096 + b.length).equals(b)).toBe(true);
  });
});
