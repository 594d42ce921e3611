// Both ends of a resync, once the handshake (connection-handshake.ts) has decided its direction and
// exchanged the bitmaps. The SyncTarget plans requests over its dirty bitmap (resync-planner.ts,
// within the rate and buffer limits), writes the blocks that come back and finishes with the
// UUIDs of the source; the SyncSource serves the requests behind the range lock. Also: the
// before-resync handlers that gate either end, pause-sync/resume-sync on both ends, and marking
// a full sync durably.
import { BULK_WRITE_BYTES } from '../storage/write-coalescer.js';
import { POOLED_BYTES, allocPayload, drainPayloadPool, recyclePayload } from '../storage/bulk-buffer.js';
import type { PeerConnection } from './peer-connection.js';
import { ResyncPlanner, resyncWindow } from './resync-planner.js';
import { SyncProgress } from './sync-progress.js';
import type { ResourceMetadata } from './resource-metadata.js';
import { uuidsFromWire, uuidsToWire } from './uuid-engine.js';
import { resyncHandlerVerdict, type Verdict } from './state-rules.js';
import type { ResourceContext } from './resource-context.js';
import { runHandler } from './handlers-fencing.js';
import { readIfCached, type LocalDisk } from './local-disk.js';

const RESYNC_IN_FLIGHT = 256;

export class Resync {
  private planner: ResyncPlanner | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  /** the SyncSource's before-resync-source handler: resync requests are served once it succeeded */
  private sourceGate: Promise<boolean> | null = null;

  constructor(
    private readonly ctx: ResourceContext,
    private readonly disk: LocalDisk,
  ) {}

  startAs(cs: 'SyncSource' | 'SyncTarget'): void {
    const ctx = this.ctx;
    const md = ctx.md!;
    const total = md.bitmap.count() * md.bitmap.granularity;
    ctx.progress = new SyncProgress(Math.min(total, md.usableSize), ctx.deps.now());
    ctx.counters.oos = ctx.oosKiB();
    // a pause-sync given before this resync: the peer must pause its end too
    if (ctx.userPaused) ctx.sendState();
    if (cs === 'SyncSource') {
      ctx.state.change({ cs: ctx.syncPaused ? 'PausedSyncS' : 'SyncSource', disk: 'UpToDate', peerDisk: 'Inconsistent' });
      if (ctx.syncPaused) ctx.progress.pause(ctx.deps.now());
      // DRBD runs before-resync-source before the first block goes out and drops the connection
      // if it fails; resync requests wait for it (serveRequest)
      this.sourceGate = ctx.cfg.handlers['before-resync-source'] ? this.handlerGate('before-resync-source') : null;
      return;
    }
    ctx.state.change({ cs: ctx.syncPaused ? 'PausedSyncT' : 'SyncTarget', disk: 'Inconsistent', peerDisk: 'UpToDate' });
    if (ctx.syncPaused) ctx.progress.pause(ctx.deps.now());
    const window = resyncWindow(ctx.cfg.net.maxBuffers, POOLED_BYTES);
    const planner = (this.planner = new ResyncPlanner(
      { maxRequestBytes: window.maxRequestBytes, maxInFlight: RESYNC_IN_FLIGHT, maxInFlightBytes: window.maxInFlightBytes, rateBytesPerSec: ctx.cfg.disk.resyncRateBytesPerSec },
      (from, max) => md.bitmap.nextDirtyRun(from, max),
      () => md.bitmap.count(),
      ctx.deps.now(),
    ));
    planner.setPaused(ctx.syncPaused);
    if (!ctx.cfg.handlers['before-resync-target']) {
      this.pump();
      return;
    }
    // DRBD waits for before-resync-target (e.g. a snapshot of the about-to-be-overwritten data)
    // and drops the connection when it fails
    void this.handlerGate('before-resync-target').then((go) => {
      if (go && this.planner === planner) this.pump();
    });
  }

  /** Runs a before-resync handler; false (and the connection dropped, as DRBD does) if it failed. */
  private async handlerGate(handler: 'before-resync-source' | 'before-resync-target'): Promise<boolean> {
    const ctx = this.ctx;
    const conn = ctx.conn;
    const code = await runHandler(ctx, handler);
    if (resyncHandlerVerdict(handler, code) === 'go') return true;
    ctx.log.error({ handler, code }, `${handler} handler returned ${code}, dropping connection.`);
    if (ctx.conn === conn) ctx.closeConnection(`${handler} handler returned ${code}`, 'StandAlone');
    return false;
  }

  // ---------------------------------------------------------------- SyncTarget

  private pump(): void {
    const planner = this.planner;
    const conn = this.ctx.conn;
    if (!planner || !conn) return;
    if (this.resyncTimer) {
      clearTimeout(this.resyncTimer);
      this.resyncTimer = null;
    }
    const step = planner.step(this.ctx.deps.now());
    const runs = step.kind === 'request' || step.kind === 'wait' ? step.runs : [];
    for (const r of runs) conn.send({ type: 'resync-request', offset: r.offset, length: r.length });
    if (step.kind === 'wait') {
      this.resyncTimer = setTimeout(() => this.pump(), step.ms);
    } else if (step.kind === 'request') {
      setImmediate(() => this.pump());
    } else if (step.kind === 'done') {
      void this.finishAsTarget();
    }
  }

  async applyData(offset: number, payload: Buffer): Promise<void> {
    const ctx = this.ctx;
    const md = ctx.md;
    const dev = ctx.dev;
    if (!md || !dev) return;
    const hold = ctx.lock.acquire(offset, payload.length);
    const release = typeof hold === 'function' ? hold : await hold;
    try {
      // large runs below the page cache; the scattered small runs of a bitmap resync are batched
      if (payload.length >= BULK_WRITE_BYTES) await dev.writeBulk(offset, payload);
      else await this.disk.writer(dev).write(offset, payload);
      recyclePayload(payload);
      md.bitmap.clearRange(offset, payload.length);
      ctx.counters.nr += payload.length / 1024;
      ctx.counters.dw += payload.length / 1024;
    } catch (err) {
      ctx.log.error({ err: (err as Error).message, offset }, 'resync write failed');
      ctx.onLocalIoError(err as Error, 'resync write');
    } finally {
      release();
    }
    ctx.counters.oos = ctx.oosKiB();
    ctx.progress?.update(md.bitmap.count() * md.bitmap.granularity, ctx.deps.now());
    this.planner?.complete(offset);
    this.pump();
  }

  private async finishAsTarget(): Promise<void> {
    const ctx = this.ctx;
    const md = ctx.md;
    const conn = ctx.conn;
    const p = ctx.peerParams;
    if (!md || !conn || !p) return;
    this.planner = null;
    await md.flushBitmap();
    md.uuids = ctx.deps.uuids.syncTargetFinish(md.uuids, uuidsFromWire(p.uuids), ctx.state.role);
    md.flags.delete('full-sync');
    ctx.progress = null;
    ctx.state.change({ cs: 'Connected', disk: 'UpToDate', peerDisk: 'UpToDate' });
    ctx.persistSuperblock();
    conn.send({ type: 'resync-done', ok: true });
    conn.send({ type: 'uuids', uuids: uuidsToWire(md.uuids), dirtyBits: md.bitmap.count(), skipInitialSync: false });
    drainPayloadPool();
    ctx.log.info('Resync done');
    void runHandler(ctx, 'after-resync-target');
  }

  // ---------------------------------------------------------------- SyncSource

  async serveRequest(conn: PeerConnection, offset: number, length: number): Promise<void> {
    const ctx = this.ctx;
    if (this.sourceGate && !(await this.sourceGate)) return;
    const md = ctx.md;
    const dev = ctx.dev;
    if (!md || !dev || offset < 0 || length <= 0 || offset + length > md.usableSize) {
      ctx.log.warn({ offset, length }, 'invalid resync request dropped');
      return;
    }
    // The lock keeps an application write to the same blocks from overtaking this read on the wire.
    const hold = ctx.lock.acquire(offset, length);
    const release = typeof hold === 'function' ? hold : await hold;
    let data: Buffer | null = null;
    try {
      // a bitmap resync asks for many scattered 4 KiB runs: a cached one is read on this thread
      data = length <= dev.inlineLimit ? readIfCached(dev, offset, length) : null;
      if (!data) {
        data = allocPayload(length);
        await dev.readInto(offset, data);
      }
      if (ctx.conn !== conn) return recyclePayload(data);
      const sent = data;
      conn.send({ type: 'resync-data', offset, length, payload: sent }, () => recyclePayload(sent));
      md.bitmap.clearRange(offset, length);
      ctx.counters.ns += length / 1024;
      ctx.counters.dr += length / 1024;
    } catch (err) {
      if (data) recyclePayload(data);
      ctx.log.error({ err: (err as Error).message, offset }, 'resync read failed');
      ctx.onLocalIoError(err as Error, 'resync read');
    } finally {
      release();
    }
    ctx.counters.oos = ctx.oosKiB();
    ctx.progress?.update(md.bitmap.count() * md.bitmap.granularity, ctx.deps.now());
  }

  onPeerDone(ok: boolean): void {
    const ctx = this.ctx;
    const md = ctx.md;
    if (!md || !ok) return;
    md.uuids = ctx.deps.uuids.syncSourceFinish(md.uuids);
    // a full sync (invalidate-remote, primary --force) is over on this end too
    md.flags.delete('full-sync');
    ctx.progress = null;
    ctx.state.change({ cs: 'Connected', peerDisk: 'UpToDate' });
    ctx.persistSuperblock();
    void md.flushBitmap();
    drainPayloadPool();
    ctx.log.info('Resync done (peer reports completion)');
  }

  // ---------------------------------------------------------------- stop, pause, rate, full sync

  stop(): void {
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = null;
    this.planner?.reset();
    this.planner = null;
    this.ctx.progress = null;
    drainPayloadPool();
  }

  setRate(bytesPerSec: number): void {
    this.planner?.setRate(bytesPerSec);
  }

  /** pause-sync / resume-sync: this node's flag; the peer learns it with our state and pauses too. */
  setPaused(paused: boolean): Verdict | { ok: false; message: string; exitCode: number } {
    const ctx = this.ctx;
    if (paused && ctx.userPaused) return { ok: false, message: 'Failure: (134) Sync-pause flag is already set', exitCode: 10 };
    if (!paused && !ctx.userPaused) {
      const why = ctx.peerPaused && ctx.state.syncPausedState ? '\nNote: Resync pause caused by the peer node.' : '';
      return { ok: false, message: `Failure: (135) Sync-pause flag is already cleared${why}`, exitCode: 10 };
    }
    ctx.userPaused = paused;
    ctx.sendState();
    this.applyPause();
    return { ok: true };
  }

  /** The peer's pause flag, from its state message. */
  setPeerPaused(paused: boolean): void {
    if (paused === this.ctx.peerPaused) return;
    this.ctx.peerPaused = paused;
    this.applyPause();
  }

  /** Brings the running resync in line with syncPaused: progress clock, request pump, state name. */
  private applyPause(): void {
    const ctx = this.ctx;
    const s = ctx.state;
    const paused = ctx.syncPaused;
    if (!s.syncRunning) return;
    const wasPaused = s.syncPausedState;
    if (wasPaused === paused) return;
    const now = ctx.deps.now();
    if (paused) ctx.progress?.pause(now);
    else ctx.progress?.resume(now);
    this.planner?.setPaused(paused);
    if (s.cs === 'SyncSource' || s.cs === 'PausedSyncS') s.change({ cs: paused ? 'PausedSyncS' : 'SyncSource' });
    if (s.cs === 'SyncTarget' || s.cs === 'PausedSyncT') s.change({ cs: paused ? 'PausedSyncT' : 'SyncTarget' });
    if (!paused) this.pump();
  }

  /**
   * Every block out of sync, durably, in DRBD's order (drbd_bmio_set_n_write): the full-sync flag
   * first, then the all-set bitmap, then the flag cleared, since from then on the bitmap on disk
   * says it. A node restarted in the middle of the resync resumes from its bitmap instead of
   * starting over; one that crashed before the bitmap was written starts the full sync again.
   */
  async markFullSync(md: ResourceMetadata): Promise<void> {
    md.bitmap.setAll();
    md.flags.add('full-sync');
    await md.saveSuperblock();
    await md.flushBitmap();
    md.flags.delete('full-sync');
    await md.saveSuperblock();
  }
}
