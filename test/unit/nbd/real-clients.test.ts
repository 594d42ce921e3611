import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileBackend } from '../../../src/nbd/file-backend.js';
import { MemoryBackend } from '../../../src/nbd/memory-backend.js';
import { startServer, tempDir, type Running } from './helpers.js';

// Real NBD clients (libnbd's nbdinfo/nbdcopy, qemu-io, fio's nbd engine) against the server in
// this process. They need no root. Each is skipped, with the reason, when its tool is missing;
// they are installed on the dev machines and in CI (scripts/install-deps.sh).

function have(tool: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => {
    try {
      accessSync(join(d, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
/** Runs a tool asynchronously: a sync spawn would block the event loop the server runs on. */
function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const MiB = 1024 * 1024;
let running: Running | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});
const uri = (r: Running): string => `nbd+unix:///r0?socket=${r.socketPath}`;

describe('real NBD clients', () => {
  it.skipIf(!have('nbdinfo'))('nbdinfo shows the export size and features', async () => {
    running = await startServer(new MemoryBackend(8 * MiB));
    const res = await run('nbdinfo', ['--json', uri(running)]);
    expect(res.code, res.stderr).toBe(0);
    const info = JSON.parse(res.stdout) as { exports: Array<Record<string, unknown>> };
    expect(info.exports[0]).toMatchObject({
      'export-name': 'r0',
      'export-size': 8 * MiB,
      can_flush: true,
      can_fua: true,
      can_trim: true,
      can_zero: true,
      can_multi_conn: true,
      is_read_only: false,
    });
  });

  it.skipIf(!have('nbdcopy'))('nbdcopy copies a random 8 MiB file in and back out unchanged', async () => {
    const backend = new MemoryBackend(8 * MiB);
    running = await startServer(backend);
    const src = join(running.dir, 'src.bin');
    const dst = join(running.dir, 'dst.bin');
    const data = randomBytes(8 * MiB);
    await writeFile(src, data);
    const into = await run('nbdcopy', [src, uri(running)]);
    expect(into.code, into.stderr).toBe(0);
    expect(backend.data.equals(data)).toBe(true);
    const out = await run('nbdcopy', [uri(running), dst]);
    expect(out.code, out.stderr).toBe(0);
    expect((await readFile(dst)).equals(data)).toBe(true);
  });

  it.skipIf(!have('qemu-io'))('qemu-io writes a pattern and reads it back with its own verification', async () => {
    const backend = new MemoryBackend(8 * MiB);
    running = await startServer(backend);
    const res = await run('qemu-io', ['-f', 'raw', uri(running), '-c', 'write -P 0xab 0 64k', '-c', 'read -P 0xab 0 64k', '-c', 'read -P 0 64k 64k', '-c', 'flush']);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).not.toMatch(/Pattern verification failed/);
    expect(res.stdout).toMatch(/read 65536\/65536 bytes at offset 0/);
    expect(backend.data.subarray(0, 64 * 1024).every((b) => b === 0xab)).toBe(true);
  });

  it.skipIf(!have('fio'))('fio nbd engine: 4k random writes at depth 32 pass crc32c verification (file backend)', async () => {
    const t = await tempDir();
    const backend = await FileBackend.open(join(t.dir, 'disk.img'), { size: 16 * MiB });
    running = await startServer(backend);
    try {
      const res = await run('fio', [
        '--name=verify',
        '--ioengine=nbd',
        `--uri=${uri(running)}`,
        '--rw=randwrite',
        '--bs=4k',
        '--iodepth=32',
        '--size=16m',
        '--verify=crc32c',
        '--verify_state_save=0', // no <name>-verify.state file left in the working directory
        '--do_verify=1',
        '--output-format=json',
      ]);
      expect(res.code, res.stderr).toBe(0);
      const job = (JSON.parse(res.stdout.slice(res.stdout.indexOf('{'))) as { jobs: Array<{ error: number; write: { io_bytes: number }; read: { io_bytes: number } }> }).jobs[0]!;
      expect(job.error).toBe(0);
      expect(job.write.io_bytes).toBe(16 * MiB);
      expect(job.read.io_bytes).toBe(16 * MiB); // the verify pass read everything back
    } finally {
      await running.stop();
      running = undefined;
      await backend.close();
      await t.cleanup();
    }
  });

  it.skipIf(!have('fio'))('fio verification is real: a backend that corrupts reads makes it fail', async () => {
    class Corrupting extends MemoryBackend {
      override async read(offset: number, length: number): Promise<Buffer> {
        const b = await super.read(offset, length);
        if (length > 0) b[length >> 1]! ^= 0xff;
        return b;
      }
    }
    running = await startServer(new Corrupting(4 * MiB));
    const res = await run('fio', ['--name=neg', '--ioengine=nbd', `--uri=${uri(running)}`, '--rw=randwrite', '--bs=4k', '--iodepth=8', '--size=4m', '--verify=crc32c', '--verify_state_save=0', '--output-format=json']);
    expect(res.code).not.toBe(0);
    expect(res.stdout + res.stderr).toMatch(/verify.*(bad|fail)/i);
  });
});
