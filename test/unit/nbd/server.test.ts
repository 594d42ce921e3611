import { randomBytes } from 'node:crypto';
import { lstat, mkdir, stat, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NbdBackend } from '../../../src/nbd/backend.js';
import { connect, NbdHandshakeError } from '../../../src/nbd/client.js';
import { NbdError, NbdRequestError } from '../../../src/nbd/errors.js';
import { MemoryBackend } from '../../../src/nbd/memory-backend.js';
import { Cmd, CmdFlag, Opt, TxFlag, encodeClientFlags, encodeInfoRequest, encodeOption, encodeRequestHeader } from '../../../src/nbd/protocol.js';
import { NbdServer } from '../../../src/nbd/server.js';
import { SpyBackend, startServer, tempDir, waitFor, type Running } from './helpers.js';

const MiB = 1024 * 1024;
let running: Running | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

async function start(backend?: NbdBackend, extra?: Parameters<typeof startServer>[1]): Promise<Running> {
  running = await startServer(backend, extra);
  return running;
}

function errnoOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (e instanceof NbdRequestError ? e.errno : `unexpected: ${String(e)}`),
  );
}

/** A backend whose calls wait until released, to hold requests in flight. */
class GatedBackend extends MemoryBackend {
  private gates: Array<() => void> = [];
  started = 0;
  override async write(offset: number, data: Buffer): Promise<void> {
    this.started++;
    await new Promise<void>((r) => this.gates.push(r));
    return super.write(offset, data);
  }
  release(): void {
    for (const g of this.gates.splice(0)) g();
  }
}

describe('NbdServer', () => {
  it('handshakes with NBD_OPT_GO and round-trips data', async () => {
    const { socketPath, server } = await start(new MemoryBackend(4 * MiB));
    const c = await connect(socketPath, 'r0');
    expect(c.size).toBe(4 * MiB);
    expect(c.transmissionFlags).toBe(
      TxFlag.HAS_FLAGS | TxFlag.SEND_FLUSH | TxFlag.SEND_FUA | TxFlag.SEND_TRIM | TxFlag.SEND_WRITE_ZEROES | TxFlag.CAN_MULTI_CONN,
    );
    expect(c.blockSizes).toEqual({ minimum: 1, preferred: 4096, maximum: 32 * MiB });
    expect(server.connectionCount).toBe(1);
    const data = randomBytes(100_000);
    await c.write(12345, data);
    expect((await c.read(12345, data.length)).equals(data)).toBe(true);
    await c.close();
    await waitFor(() => server.connectionCount === 0, 'server to drop the disconnected client');
  });

  it('handshakes with NBD_OPT_EXPORT_NAME too', async () => {
    const { socketPath } = await start();
    const c = await connect(socketPath, 'r0', { handshake: 'export-name' });
    expect(c.size).toBe(4 * MiB);
    await c.write(0, Buffer.from('hello'));
    expect((await c.read(0, 5)).toString()).toBe('hello');
    await c.close();
  });

  it('refuses an unknown export name: ERR_UNKNOWN with a message (GO), closed connection (EXPORT_NAME)', async () => {
    const { socketPath, server } = await start();
    await expect(connect(socketPath, 'r1')).rejects.toThrow(/NBD_REP_ERR_UNKNOWN: unknown export 'r1'/);
    await expect(connect(socketPath, 'r1', { handshake: 'export-name' })).rejects.toBeInstanceOf(NbdHandshakeError);
    await waitFor(() => server.connectionCount === 0, 'refused clients to go');
    const c = await connect(socketPath, 'r0');
    await c.close();
  });

  it('256 pipelined random writes and reads match a model', async () => {
    // MemoryBackend applies each call when it is made and the server dispatches in arrival
    // order, so the model is the sequential application of the requests.
    const size = 1 * MiB;
    const { socketPath } = await start(new MemoryBackend(size));
    const c = await connect(socketPath, 'r0');
    const model = Buffer.alloc(size);
    const ops: Array<Promise<void>> = [];
    let seed = 42;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let maxInFlight = 0;
    for (let i = 0; i < 256; i++) {
      const len = 1 + rnd(16384);
      const off = rnd(size - len);
      if (rnd(2) === 0) {
        const data = randomBytes(len);
        data.copy(model, off);
        ops.push(c.write(off, data, { fua: rnd(4) === 0 }));
      } else {
        const expected = Buffer.from(model.subarray(off, off + len));
        ops.push(c.read(off, len).then((got) => expect(got.equals(expected)).toBe(true)));
      }
      maxInFlight = Math.max(maxInFlight, c.inFlight);
    }
    expect(maxInFlight).toBeGreaterThan(100);
    await Promise.all(ops);
    expect((await c.read(0, size)).equals(model)).toBe(true);
    await c.close();
  });

  it('replies out of order as requests complete, each matched to its request', async () => {
    class Reversing extends MemoryBackend {
      private held: Array<() => void> = [];
      override async read(offset: number, length: number): Promise<Buffer> {
        await new Promise<void>((r) => {
          this.held.push(r);
          if (this.held.length === 8) setImmediate(() => { for (const h of this.held.splice(0).reverse()) h(); });
        });
        return super.read(offset, length);
      }
    }
    const { socketPath } = await start(new Reversing(MiB));
    const c = await connect(socketPath, 'r0');
    for (let i = 0; i < 8; i++) await c.write(i * 512, Buffer.alloc(512, i + 1));
    const done: number[] = [];
    const reads = Array.from({ length: 8 }, (_, i) =>
      c.read(i * 512, 512).then((b) => {
        done.push(i);
        expect(b.equals(Buffer.alloc(512, i + 1))).toBe(true);
      }),
    );
    await Promise.all(reads);
    expect(done).toEqual([7, 6, 5, 4, 3, 2, 1, 0]);
    await c.close();
  });

  it('stops reading at 1024 requests in flight and resumes as they complete', async () => {
    const backend = new GatedBackend(MiB);
    const { socketPath } = await start(backend);
    const c = await connect(socketPath, 'r0');
    const writes = Array.from({ length: 1500 }, (_, i) => c.write((i % 256) * 512, Buffer.alloc(512, i & 0xff)));
    // The limit is checked per request but reading stops per chunk: the chunk being parsed
    // when the limit is hit is finished, so a few more than 1024 may start.
    await waitFor(() => backend.started >= 1024, '1024 writes to reach the backend');
    const seen = backend.started;
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r)); // event-loop turns with I/O polls
    expect(backend.started).toBe(seen);
    expect(seen).toBeLessThan(1500);
    backend.release();
    await waitFor(() => backend.started === 1500, 'the remaining writes after resume');
    backend.release();
    await Promise.all(writes);
    await c.close();
  });

  it('serves several connections at once', async () => {
    const { socketPath, server } = await start(new MemoryBackend(4 * MiB));
    const clients = await Promise.all([0, 1, 2, 3].map(() => connect(socketPath, 'r0')));
    expect(server.connectionCount).toBe(4);
    const chunks = clients.map(() => randomBytes(MiB));
    await Promise.all(clients.map((c, i) => Promise.all([0, 1, 2, 3].map((k) => c.write(i * MiB + k * 256 * 1024, chunks[i]!.subarray(k * 256 * 1024, (k + 1) * 256 * 1024))))));
    for (const [i, c] of clients.entries()) {
      const other = (i + 1) % 4;
      expect((await c.read(other * MiB, MiB)).equals(chunks[other]!)).toBe(true);
    }
    await Promise.all(clients.map((c) => c.close()));
  });

  it('passes FUA and FLUSH through to the backend', async () => {
    const spy = new SpyBackend(new MemoryBackend(MiB));
    const { socketPath } = await start(spy);
    const c = await connect(socketPath, 'r0');
    await c.write(0, Buffer.alloc(4096, 1), { fua: true });
    await c.write(4096, Buffer.alloc(4096, 2));
    await c.flush();
    await c.writeZeroes(0, 8192, { fua: true, noHole: true });
    await c.trim(8192, 4096, { fua: true });
    expect(spy.calls).toEqual([
      { op: 'write', offset: 0, length: 4096, fua: true },
      { op: 'write', offset: 4096, length: 4096, fua: false },
      { op: 'flush' },
      { op: 'writeZeroes', offset: 0, length: 8192, fua: true },
      { op: 'trim', offset: 8192, length: 4096 },
      { op: 'flush' }, // TRIM with FUA is made durable by a flush after it
    ]);
    await c.close();
  });

  it('TRIM and WRITE_ZEROES leave zeroes (memory backend)', async () => {
    const { socketPath } = await start(new MemoryBackend(MiB));
    const c = await connect(socketPath, 'r0');
    await c.write(0, Buffer.alloc(3 * 4096, 0xff));
    await c.writeZeroes(4096, 4096);
    await c.trim(8192, 4096);
    const back = await c.read(0, 3 * 4096);
    expect(back.subarray(0, 4096).every((b) => b === 0xff)).toBe(true);
    expect(back.subarray(4096).every((b) => b === 0)).toBe(true);
    await c.close();
  });

  it('answers refused requests with the NBD error and keeps the connection usable', async () => {
    const { socketPath } = await start(new MemoryBackend(MiB), { maxPayload: 64 * 1024 });
    const c = await connect(socketPath, 'r0');
    expect(await errnoOf(c.read(MiB - 10, 11))).toBe('EINVAL');
    expect(await errnoOf(c.read(2 ** 52, 1))).toBe('EINVAL');
    expect(await errnoOf(c.write(MiB - 1, Buffer.alloc(2)))).toBe('ENOSPC');
    expect(await errnoOf(c.writeZeroes(MiB, 1))).toBe('ENOSPC');
    expect(await errnoOf(c.trim(MiB, 1))).toBe('EINVAL');
    expect(await errnoOf(c.request(99, 0, 0, 0))).toBe('EINVAL');
    expect(await errnoOf(c.request(Cmd.CACHE, 0, 0, 512))).toBe('EINVAL');
    expect(await errnoOf(c.request(Cmd.READ, CmdFlag.DF, 0, 512))).toBe('EINVAL');
    expect(await errnoOf(c.read(0, 64 * 1024 + 1))).toBe('EINVAL');
    // An oversized WRITE's payload is read and dropped, so the stream stays in sync.
    expect(await errnoOf(c.write(0, Buffer.alloc(64 * 1024 + 1, 9)))).toBe('EINVAL');
    await c.write(0, Buffer.from('still fine'));
    expect((await c.read(0, 10)).toString()).toBe('still fine');
    expect((await c.read(0, 0)).length).toBe(0);
    await c.close();
  });

  it('read-only export: READ_ONLY flag, EPERM for writes, reads work', async () => {
    const { socketPath } = await start(new MemoryBackend(MiB, true));
    const c = await connect(socketPath, 'r0');
    expect(c.transmissionFlags & TxFlag.READ_ONLY).toBe(TxFlag.READ_ONLY);
    expect(c.transmissionFlags & TxFlag.SEND_WRITE_ZEROES).toBe(0);
    expect(await errnoOf(c.write(0, Buffer.alloc(1)))).toBe('EPERM');
    expect(await errnoOf(c.trim(0, 512))).toBe('EPERM');
    expect(await errnoOf(c.writeZeroes(0, 512))).toBe('EPERM');
    expect((await c.read(0, 512)).length).toBe(512);
    await c.flush();
    await c.close();
  });

  it('maps backend failures to NBD errors and never sends a short READ payload', async () => {
    const failing: NbdBackend = {
      size: MiB,
      readOnly: false,
      read: async (_o, length) => (length === 7 ? Buffer.alloc(3) : Promise.reject(new Error('disk on fire'))),
      write: async () => {
        throw Object.assign(new Error('quota'), { code: 'EDQUOT' });
      },
      flush: () => {
        throw new Error('synchronous throw');
      },
      trim: async () => {
        throw new NbdError('ESHUTDOWN');
      },
      writeZeroes: async () => {
        throw new NbdError('ENOSPC');
      },
    };
    const { socketPath } = await start(failing);
    const c = await connect(socketPath, 'r0');
    expect(await errnoOf(c.read(0, 512))).toBe('EIO');
    expect(await errnoOf(c.read(0, 7))).toBe('EIO');
    expect(await errnoOf(c.write(0, Buffer.alloc(1)))).toBe('ENOSPC');
    expect(await errnoOf(c.flush())).toBe('EIO');
    expect(await errnoOf(c.trim(0, 1))).toBe('ESHUTDOWN');
    expect(await errnoOf(c.writeZeroes(0, 1))).toBe('ENOSPC');
    expect(await errnoOf(c.read(0, 512))).toBe('EIO'); // still talking
    await c.close();
  });

  it('drops a client that sends a bad request magic, and keeps serving others', async () => {
    const { socketPath, server } = await start();
    const raw = netConnect(socketPath);
    const closed = new Promise<void>((r) => raw.once('close', () => r()));
    raw.on('error', () => {});
    raw.resume(); // consume replies so 'end' and 'close' can be emitted
    raw.write(Buffer.concat([encodeClientFlags(3), encodeOption(Opt.GO, encodeInfoRequest('r0', []))]));
    const bad = encodeRequestHeader({ command: Cmd.READ, flags: 0, handleHi: 0, handleLo: 1, offset: 0, length: 512 });
    bad.writeUInt32BE(0x12345678, 0);
    raw.write(bad);
    await closed;
    await waitFor(() => server.connectionCount === 0, 'bad client to be dropped');
    const c = await connect(socketPath, 'r0');
    await c.write(0, Buffer.from('ok'));
    await c.close();
  });

  it('close(): in-flight requests finish, new ones get ESHUTDOWN, then connections end', async () => {
    const backend = new GatedBackend(MiB);
    const r = await startServer(backend);
    const c = await connect(r.socketPath, 'r0');
    const inflight = c.write(0, Buffer.alloc(512, 5));
    await waitFor(() => backend.started === 1, 'write to reach the backend');
    const closing = r.server.close();
    const late = errnoOf(c.write(512, Buffer.alloc(512)));
    expect(await late).toBe('ESHUTDOWN');
    backend.release();
    await inflight;
    await closing;
    expect(backend.data.subarray(0, 512).every((b) => b === 5)).toBe(true);
    expect(r.server.connectionCount).toBe(0);
    await c.closed;
    await expect(lstat(r.socketPath)).rejects.toMatchObject({ code: 'ENOENT' });
    await r.stop();
  });

  it('close() drops clients still in the handshake and refuses new ones', async () => {
    const r = await startServer();
    const raw = netConnect(r.socketPath);
    raw.on('error', () => {});
    let greeting = Buffer.alloc(0);
    raw.on('data', (d: Buffer) => (greeting = Buffer.concat([greeting, d])));
    const closed = new Promise<void>((res) => raw.once('close', () => res()));
    await waitFor(() => greeting.length === 18, 'the server greeting');
    await r.server.close();
    await closed;
    expect(r.server.connectionCount).toBe(0);
    await expect(connect(r.socketPath, 'r0')).rejects.toThrow();
    await r.stop();
  });

  it('creates the socket directory, mode 0600, and replaces a stale socket', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const socketPath = join(dir, 'deep', 'er', 'r0.sock');
      // A stale socket: left by a process killed while listening.
      await mkdir(join(dir, 'deep', 'er'), { recursive: true });
      await new Promise<void>((resolve) => {
        const child = spawn(process.execPath, [
          '-e',
          `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`,
        ]);
        child.once('exit', () => resolve());
      });
      expect((await lstat(socketPath)).isSocket()).toBe(true);
      const server = new NbdServer({ socketPath, exportName: 'r0', backend: new MemoryBackend(MiB) });
      await server.listen();
      expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
      const c = await connect(socketPath, 'r0');
      await c.close();
      await server.close();
    } finally {
      await cleanup();
    }
  });

  it('refuses to take over the socket of a server that is still running', async () => {
    const { socketPath } = await start();
    const second = new NbdServer({ socketPath, exportName: 'r0', backend: new MemoryBackend(MiB) });
    await expect(second.listen()).rejects.toThrow(/in use by another running server/);
    const c = await connect(socketPath, 'r0'); // the first server is untouched
    await c.close();
  });

  it('refuses to replace a path that is not a socket', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const socketPath = join(dir, 'r0.sock');
      await writeFile(socketPath, 'precious');
      const server = new NbdServer({ socketPath, exportName: 'r0', backend: new MemoryBackend(MiB) });
      await expect(server.listen()).rejects.toThrow(/exists and is not a socket/);
    } finally {
      await cleanup();
    }
  });
});
