import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NbdBackend } from '../../../src/nbd/backend.js';
import { MemoryBackend } from '../../../src/nbd/memory-backend.js';
import { NbdServer, type NbdServerOptions } from '../../../src/nbd/server.js';

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-nbd-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Polls `cond` until it holds or the deadline passes (tests never sleep for a state). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export type BackendCall =
  | { op: 'read'; offset: number; length: number }
  | { op: 'write'; offset: number; length: number; fua: boolean }
  | { op: 'flush' }
  | { op: 'trim'; offset: number; length: number }
  | { op: 'writeZeroes'; offset: number; length: number; fua: boolean };

/** Wraps a backend and records every call, in order of arrival. */
export class SpyBackend implements NbdBackend {
  readonly calls: BackendCall[] = [];
  constructor(readonly inner: NbdBackend) {}
  get size(): number {
    return this.inner.size;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  read(offset: number, length: number): Promise<Buffer> {
    this.calls.push({ op: 'read', offset, length });
    return this.inner.read(offset, length);
  }
  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    this.calls.push({ op: 'write', offset, length: data.length, fua });
    return this.inner.write(offset, data, fua);
  }
  flush(): Promise<void> {
    this.calls.push({ op: 'flush' });
    return this.inner.flush();
  }
  trim(offset: number, length: number): Promise<void> {
    this.calls.push({ op: 'trim', offset, length });
    return this.inner.trim(offset, length);
  }
  writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    this.calls.push({ op: 'writeZeroes', offset, length, fua });
    return this.inner.writeZeroes(offset, length, fua);
  }
}

export interface Running {
  server: NbdServer;
  socketPath: string;
  dir: string;
  stop: () => Promise<void>;
}

export async function startServer(
  backend: NbdBackend = new MemoryBackend(4 * 1024 * 1024),
  extra: Partial<NbdServerOptions> = {},
): Promise<Running> {
  const { dir, cleanup } = await tempDir();
  const socketPath = join(dir, 'run', 'nbd', 'r0.sock');
  const server = new NbdServer({ socketPath, exportName: 'r0', backend, ...extra });
  await server.listen();
  return {
    server,
    socketPath,
    dir,
    stop: async () => {
      await server.close();
      await cleanup();
    },
  };
}
