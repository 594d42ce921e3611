// Independent NBD clients against the Primary's export, each with its own verification: qemu-io
// (write and read back patterns with -P), nbdcopy (a random file in and out, compared with cmp)
// and fio (nbd ioengine, random writes verified with crc32c). Then both backing files must hold
// the same bytes. No root needed: these talk to the unix socket, not to a kernel device. A test
// whose tool is not installed is skipped, naming it (scripts/install-deps.sh installs them all).
import { describe, it, expect, afterEach } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { connect as connectNbd } from '../../src/nbd/client.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Pair, disksEqual, waitFor } from '../helpers/two-nodes.js';
import { missing } from '../helpers/tools.js';

const execFileP = promisify(execFile);
const MiB = 1024 * 1024;

async function run(cmd: string, ...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB });
    return stdout + stderr;
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} failed (${e.code}):\n${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

function uri(socket: string): string {
  return `nbd+unix:///r0?socket=${socket}`;
}

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

async function primaryPair(): Promise<Pair> {
  pair = await Pair.create({ sizeMiB: 64 });
  await pair.initialSync();
  return pair;
}

describe('real NBD clients against the Primary', () => {
  // skipped only where scripts/install-deps.sh has not run (qemu-utils missing); CI installs it
  it.skipIf(missing('qemu-io'))('qemu-io writes patterns and reads them back with -P; the peer disk holds them too', async () => {
    const p = await primaryPair();
    const out = await run('qemu-io', '-f', 'raw',
      '-c', 'write -P 0xa5 0 1M',
      '-c', 'write -P 0x5a 4M 512k',
      '-c', 'write -z 8M 64k',
      '-c', 'aio_write -P 0x3c 12M 256k',
      '-c', 'aio_flush',
      '-c', 'read -P 0xa5 0 1M',
      '-c', 'read -P 0x5a 4M 512k',
      '-c', 'read -P 0x00 8M 64k',
      '-c', 'read -P 0x3c 12M 256k',
      '-c', 'flush',
      uri(p.node1.nbdSocket));
    expect(out).not.toMatch(/Pattern verification failed|error|Error/);
    expect(out.match(/^read /gm)?.length).toBe(4);
    // a fresh qemu-io process (new connection) sees the same data
    const again = await run('qemu-io', '-f', 'raw', '-r', '-c', 'read -P 0x5a 4M 512k', uri(p.node1.nbdSocket));
    expect(again).not.toMatch(/Pattern verification failed/);
    expect(p.node2.readDisk(0, MiB).equals(Buffer.alloc(MiB, 0xa5))).toBe(true);
    expect(p.node2.readDisk(4 * MiB, 512 * 1024).equals(Buffer.alloc(512 * 1024, 0x5a))).toBe(true);
    expect(p.node2.readDisk(12 * MiB, 256 * 1024).equals(Buffer.alloc(256 * 1024, 0x3c))).toBe(true);
  });

  // skipped, with a printed reason, only without libnbd-bin (scripts/install-deps.sh installs it)
  it.skipIf(missing('nbdcopy'))('nbdcopy copies a random file in and out unchanged (cmp equal)', async () => {
    const p = await primaryPair();
    const src = path.join(p.dir, 'random.bin');
    const back = path.join(p.dir, 'back.bin');
    const size = 24 * MiB + 4096 * 3;
    fs.writeFileSync(src, crypto.randomBytes(size));
    await run('nbdcopy', src, uri(p.node1.nbdSocket));
    await run('nbdcopy', uri(p.node1.nbdSocket), back);
    await run('cmp', '-n', String(size), src, back);
    expect(disksEqual(p.node1, p.node2, 0, size)).toBe(true);
    expect(p.node2.readDisk(0, size).equals(fs.readFileSync(src))).toBe(true);
  });

  // skipped, with a printed reason, only without fio (scripts/install-deps.sh installs it)
  it.skipIf(missing('fio'))('fio (nbd ioengine) random writes verify with crc32c', async () => {
    const p = await primaryPair();
    const out = await run('fio', '--name=tandem-randwrite', '--ioengine=nbd', `--uri=${uri(p.node1.nbdSocket)}`,
      '--rw=randwrite', '--bs=4k', '--size=16M', '--iodepth=16', '--numjobs=1',
      '--verify=crc32c', '--verify_state_save=0', '--do_verify=1', '--verify_fatal=1', '--verify_backlog=256', '--output-format=json');
    const json = JSON.parse(out.slice(out.indexOf('{'))) as { jobs: Array<{ error: number; write: { io_bytes: number }; read: { io_bytes: number } }> };
    const job = json.jobs[0]!;
    expect(job.error).toBe(0);
    expect(job.write.io_bytes).toBeGreaterThanOrEqual(16 * MiB);
    expect(job.read.io_bytes).toBeGreaterThan(0); // the verify pass read everything back
    expect(disksEqual(p.node1, p.node2, 0, 16 * MiB)).toBe(true);
  });

  it('secondary is refused while an NBD client is connected, naming the socket; allowed once it leaves', async () => {
    const p = await primaryPair();
    const client = await connectNbd(p.node1.nbdSocket, 'r0');
    try {
      const r = await p.node1.adm('secondary', 'r0');
      expect(r.code).not.toBe(0);
      expect(r.stderr + r.stdout).toContain(`0: State change failed: (-12) Device is held open by someone (1 NBD client connected to ${p.node1.nbdSocket})`);
      expect((await p.node1.status()).role).toBe('Primary');
    } finally {
      await client.close();
    }
    // the server notices the disconnect asynchronously
    await waitFor(async () => (await p.node1.adm('secondary', 'r0')).code === 0, 10_000, 'secondary after the client left');
    expect((await p.node1.status()).role).toBe('Secondary');
  });
});
