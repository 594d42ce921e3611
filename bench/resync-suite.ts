// Resync cases: a full resync timed against a plain copy of the same bytes, a bitmap resync of
// 10 % dirty blocks, the accuracy of `syncer { rate }`, and tandemd's resident memory on a 1 TiB
// sparse disk, idle and while resyncing.
import path from 'node:path';
import { loadConfig, resolveResource } from '../src/config/index.js';
import type { ResourceStatus } from '../src/daemon/status-types.js';
import { runFio } from './lib/fio.js';
import { sleep } from './lib/proc.js';
import { MiB, rssBytes } from './lib/stats.js';
import { TandemPair, type TandemNode } from './lib/tandem-pair.js';

const POLL_MS = 10;

/** Poll (finely: it is a timed phase) until the node reports Connected with a clean bitmap. */
export async function waitSynced(node: TandemNode, timeoutMs: number, onSyncStart?: () => void): Promise<ResourceStatus> {
  const deadline = Date.now() + timeoutMs;
  let sawSync = false;
  for (;;) {
    const s = await node.status();
    if (!sawSync && (s.cs === 'SyncSource' || s.cs === 'SyncTarget')) {
      sawSync = true;
      onSyncStart?.();
    }
    if (s.cs === 'Connected' && s.dirtyBits === 0 && s.disk === 'UpToDate') return s;
    if (Date.now() > deadline) throw new Error(`${node.name}: resync not finished after ${timeoutMs} ms (cs=${s.cs}, dirtyBits=${s.dirtyBits})\n${node.logTail.slice(-2000)}`);
    await sleep(POLL_MS);
  }
}

/** `invalidate-remote` on the Primary: a full resync of a connected pair; returns milliseconds. */
export async function fullResyncByInvalidate(pair: TandemPair, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  await pair.node1.ok({ cmd: 'invalidate-remote', resource: 'r0' });
  await waitSynced(pair.node1, timeoutMs);
  return performance.now() - t0;
}

export interface BitmapResyncResult {
  dirtyBytes: number;
  /** from the reconnect request until node1 is Connected with a clean bitmap */
  totalMs: number;
  /** from the first status showing SyncSource until then (excludes reconnecting) */
  syncMs: number;
}

/**
 * Disconnect node2, write `fraction` of the device's 4 KiB blocks (each once, random order)
 * through node1's NBD export, reconnect and time until the pair is in sync again.
 */
export async function bitmapResync(pair: TandemPair, sizeBytes: number, fraction: number, timeoutMs: number): Promise<BitmapResyncResult> {
  const { node1, node2 } = pair;
  await node2.ok({ cmd: 'disconnect', resource: 'r0' });
  await node1.waitStatus((s) => s.cs !== 'Connected', 'node1 sees the peer gone', 30_000);
  const blocks = Math.floor(sizeBytes / 4096);
  const ioBytes = Math.floor(blocks * fraction) * 4096;
  await runFio({ rw: 'randwrite', bs: '4k', iodepth: 32, sizeBytes, runtimeSec: 0, rampSec: 0, ioSizeBytes: ioBytes }, { kind: 'nbd', uri: node1.nbdUri });
  const before = await node1.status();
  const dirtyBytes = (before.dirtyBits ?? 0) * 4096;
  const t0 = performance.now();
  let tSync = t0;
  await node2.ok({ cmd: 'connect', resource: 'r0' });
  await waitSynced(node1, timeoutMs, () => (tSync = performance.now()));
  const t1 = performance.now();
  await node2.waitStatus((s) => s.disk === 'UpToDate' && s.cs === 'Connected', 'node2 UpToDate after the bitmap resync');
  return { dirtyBytes, totalMs: t1 - t0, syncMs: t1 - tSync };
}

export interface RateLimitResult {
  configuredBytesPerSec: number;
  bytes: number;
  elapsedMs: number;
  achievedBytesPerSec: number;
  /** slope of the bytes left between 10 % and 90 % done, from status samples */
  steadyBytesPerSec: number;
}

export async function rateLimitAccuracy(dir: string, rate: string, dataBytes: number, progress: (l: string) => void): Promise<RateLimitResult> {
  const pair = await TandemPair.create({ dir, protocol: 'C', rate, backingBytes: dataBytes + MiB });
  try {
    const configured = resolveResource(loadConfig(pair.config), 'r0', 'node1').disk.resyncRateBytesPerSec;
    await pair.upAndConnect();
    const usable = await pair.node1.sizeBytes();
    const samples: { t: number; leftKiB: number }[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await pair.node2.status().catch(() => null);
        if (s?.sync) samples.push({ t: performance.now(), leftKiB: s.sync.leftKiB });
        await sleep(200);
      }
    })();
    progress(`[rate_limit] resync of ${(usable / MiB).toFixed(0)} MiB at rate ${rate}`);
    const ms = await pair.forcePrimaryAndSync(Math.max(120_000, (dataBytes / configured) * 3000));
    sampling = false;
    await sampler;
    const totalKiB = usable / 1024;
    const mid = samples.filter((s) => s.leftKiB < totalKiB * 0.9 && s.leftKiB > totalKiB * 0.1);
    let steady = NaN;
    if (mid.length >= 2) {
      const a = mid[0]!;
      const b = mid[mid.length - 1]!;
      steady = ((a.leftKiB - b.leftKiB) * 1024) / ((b.t - a.t) / 1000);
    }
    return { configuredBytesPerSec: configured, bytes: usable, elapsedMs: ms, achievedBytesPerSec: usable / (ms / 1000), steadyBytesPerSec: steady };
  } finally {
    await pair.destroy();
  }
}

export interface MemoryResult {
  idleNode1: number;
  idleNode2: number;
  resyncNode1: number;
  resyncNode2: number;
  /** bytes resynced while sampling, to show the resync was really running */
  resyncedBytes: number;
  /** why the resync could not be started, if it could not (the idle figures still stand) */
  resyncError?: string;
}

/** Both nodes on 1 TiB sparse backing files: RSS after attach+connect, then during a full resync. */
export async function memoryAt1TiB(dir: string, sampleSec: number, progress: (l: string) => void): Promise<MemoryResult> {
  const pair = await TandemPair.create({ dir: path.join(dir), protocol: 'C', rate: '4000M', backingBytes: 2 ** 40 });
  try {
    await pair.upAndConnect();
    const maxRss = async (ms: number): Promise<[number, number]> => {
      let a = 0;
      let b = 0;
      const end = performance.now() + ms;
      while (performance.now() < end) {
        a = Math.max(a, rssBytes(pair.node1.pid) ?? 0);
        b = Math.max(b, rssBytes(pair.node2.pid) ?? 0);
        await sleep(100);
      }
      return [a, b];
    };
    progress('[rss_1tib] idle after attach + connect');
    await sleep(500);
    const [i1, i2] = await maxRss(2000);
    progress(`[rss_1tib] during resync (${sampleSec} s)`);
    const promoted = await pair.node1.control({ cmd: 'primary', resource: 'r0', force: true });
    if (!promoted.ok) {
      progress(`    primary --force failed: ${promoted.message}`);
      return { idleNode1: i1, idleNode2: i2, resyncNode1: NaN, resyncNode2: NaN, resyncedBytes: 0, resyncError: promoted.message ?? 'primary --force failed' };
    }
    await pair.node1.waitStatus((st) => st.cs === 'SyncSource', 'the resync to start', 30_000);
    const [r1, r2] = await maxRss(sampleSec * 1000);
    const s = await pair.node1.status();
    const resynced = (s.sizeBytes ?? 0) - (s.sync ? s.sync.leftKiB * 1024 : 0);
    return { idleNode1: i1, idleNode2: i2, resyncNode1: r1, resyncNode2: r2, resyncedBytes: resynced };
  } finally {
    await pair.destroy();
  }
}

export interface IdenticalResyncResult {
  /** csums-alg, or null for a plain resync */
  alg: string | null;
  bytes: number;
  /** resync data the SyncSource sent (its `ns` counter) */
  sentBytes: number;
  ms: number;
}

/**
 * A full resync of data the target already has (invalidate-remote right after the initial sync):
 * what csums-alg saves after a failover where the "dirty" blocks hold the same data on both nodes.
 */
export async function identicalResync(dir: string, template: string, sizeBytes: number, alg: string | null, progress: (l: string) => void): Promise<IdenticalResyncResult> {
  const pair = await TandemPair.create({ dir, protocol: 'C', rate: '4000M', backingBytes: sizeBytes + MiB, node1Template: template, net: alg ? `csums-alg ${alg};` : '' });
  const what = alg ? `csums-alg ${alg}` : 'no csums-alg';
  try {
    progress(`[resync_identical] ${what}: initial sync`);
    await pair.upAndConnect();
    await pair.forcePrimaryAndSync();
    const before = await pair.node1.status();
    progress(`[resync_identical] ${what}: invalidate-remote (the target already has every block)`);
    const ms = await fullResyncByInvalidate(pair, 600_000);
    const after = await pair.node1.status();
    return { alg, bytes: await pair.node1.sizeBytes(), sentBytes: (after.counters.ns - before.counters.ns) * 1024, ms };
  } finally {
    await pair.destroy();
  }
}
