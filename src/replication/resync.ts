// Both ends of a resync, once the handshake (connection-handshake.ts) has decided its direction and
// exchanged the bitmaps. The SyncTarget plans requests over its dirty bitmap (resync-planner.ts,
// within the rate and buffer limits), writes the blocks that come back and finishes with the
// UUIDs of the source; the SyncSource serves the requests behind the range lock. Also: the
// before-resync handlers that gate either end, pause-sync/resume-sync on both ends, and marking
// a full sync durably.
//
// With net { csums-alg; } (DRBD's checksum-based resync) the SyncTarget sends, instead of a plain
// request, the digest of each 4 KiB block it has; the SyncSource sends only the blocks whose digest
// differs and answers the request with the list of those, so the target marks the rest in sync
// without a byte of data crossing the link. Worth it over a slow link, and after a failover where
// most "dirty" blocks were rewritten with the same data.
//
// How fast the SyncTarget asks: with c-plan-ahead > 0, DRBD 8.4's dynamic controller every 100 ms
// (resync-controller.ts); with c-plan-ahead 0, the fixed resync-rate. Either way c-min-rate holds
// requests back while replicated application writes reach this disk and the resync runs faster
// than c-min-rate.
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
import type { ChecksumReplyMsg, ChecksumRequestMsg } from './messages.js';
import { VERIFY_BLOCK, blockDigests, differingBlocks, verifyAlgSupported } from './verify-digest.js';
import { CONTROLLER_STEP_MS, ResyncController, minRateThrottled } from './resync-controller.js';

/**
 * Resync writes this large go below the page cache (BlockDevice.writeBulk, O_DIRECT), as DRBD's
 * do: copying them into fresh cache pages was most of the SyncTarget's CPU (bench/README.md, item 5).
 */
export const BULK_WRITE_BYTES = 256 * 1024;

const RESYNC_IN_FLIGHT = 256;

/** A checksum request of the SyncTarget, until its reply came and the blocks sent with it are written. */
interface CsumRequest {
  offset: number;
  length: number;
  /** resync-data writes of this request still in progress */
  writes: number;
  replied: boolean;
}

/** What checksums saved in this resync (DRBD logs it when the resync ends). */
interface CsumStats {
  equalBytes: number;
  sentBytes: number;
}

export class Resync {
  private planner: ResyncPlanner | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  /** the SyncSource's before-resync-source handler: resync requests are served once it succeeded */
  private sourceGate: Promise<boolean> | null = null;
  /** the SyncTarget's outstanding checksum requests by offset (csums-alg only) */
  private csumRequests = new Map<number, CsumRequest>();
  private csumStats: CsumStats = { equalBytes: 0, sentBytes: 0 };
  /** the SyncTarget's 100 ms step: the dynamic controller and the c-min-rate throttle */
  private stepTimer: NodeJS.Timeout | null = null;
  private controller: ResyncController | null = null;
  /** resync bytes written (or found equal by checksum) since the last step */
  private arrivedSinceStep = 0;
  private writtenSinceStep = 0;
  /** the disk-write counter at the last step, to tell application writes from resync writes */
  private lastDwBytes = 0;
  /** bytes arrived in each of the last 30 steps (3 s): the recent resync speed */
  private recentSteps: number[] = [];

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
    this.csumRequests.clear();
    this.csumStats = { equalBytes: 0, sentBytes: 0 };
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
    const d = ctx.cfg.disk;
    this.controller = d.cPlanAheadMs > 0
      ? new ResyncController({ planAheadMs: d.cPlanAheadMs, fillTargetBytes: d.cFillTargetBytes, delayTargetMs: d.cDelayTargetMs, maxRateBytesPerSec: d.cMaxRateBytesPerSec, resyncRateBytesPerSec: d.resyncRateBytesPerSec })
      : null;
    const planner = (this.planner = new ResyncPlanner(
      // with the controller, resync-rate only seeds its first step
      { maxRequestBytes: window.maxRequestBytes, maxInFlight: RESYNC_IN_FLIGHT, maxInFlightBytes: window.maxInFlightBytes, rateBytesPerSec: this.controller ? 0 : d.resyncRateBytesPerSec },
      (from, max) => md.bitmap.nextDirtyRun(from, max),
      () => md.bitmap.count(),
      ctx.deps.now(),
    ));
    planner.setPaused(ctx.syncPaused);
    this.startSteps();
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

  private startSteps(): void {
    this.stopSteps();
    this.arrivedSinceStep = 0;
    this.writtenSinceStep = 0;
    this.lastDwBytes = this.ctx.counters.dw * 1024;
    this.recentSteps = [];
    if (this.controller) this.planner?.setBudget(this.controller.step(0, 0));
    this.stepTimer = setInterval(() => this.step(), CONTROLLER_STEP_MS);
  }

  private stopSteps(): void {
    if (this.stepTimer) clearInterval(this.stepTimer);
    this.stepTimer = null;
  }

  /** Every 100 ms: the controller's allowance for the next step, and c-min-rate. */
  private step(): void {
    const ctx = this.ctx;
    const planner = this.planner;
    if (!planner) return this.stopSteps();
    const arrived = this.arrivedSinceStep;
    const dw = ctx.counters.dw * 1024;
    const appIo = Math.max(0, dw - this.lastDwBytes - this.writtenSinceStep);
    this.lastDwBytes = dw;
    this.arrivedSinceStep = 0;
    this.writtenSinceStep = 0;
    this.recentSteps.push(arrived);
    if (this.recentSteps.length > 30) this.recentSteps.shift();
    const recentRate = this.recentSteps.reduce((a, b) => a + b, 0) / ((this.recentSteps.length * CONTROLLER_STEP_MS) / 1000);
    const throttled = minRateThrottled(ctx.cfg.disk.cMinRateBytesPerSec, appIo, recentRate);
    const budget = this.controller ? this.controller.step(arrived, planner.inFlightTotal) : null;
    planner.setBudget(throttled ? 0 : budget);
    if (!throttled) this.pump();
  }

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
    const alg = this.csumsAlg;
    for (const r of runs) {
      if (alg) void this.requestByChecksum(alg, r.offset, r.length);
      else conn.send({ type: 'resync-request', offset: r.offset, length: r.length });
    }
    if (step.kind === 'wait') {
      this.resyncTimer = setTimeout(() => this.pump(), step.ms);
    } else if (step.kind === 'request') {
      setImmediate(() => this.pump());
    } else if (step.kind === 'done') {
      void this.finishAsTarget();
    }
  }

  /** net { csums-alg; }, lower-cased; both nodes have the same one (checked at connect). */
  private get csumsAlg(): string | null {
    return this.ctx.cfg.disk.csumsAlg?.toLowerCase() ?? null;
  }

  /** Asks for a run by the digests of what this node has: the source sends only what differs. */
  private async requestByChecksum(alg: string, offset: number, length: number): Promise<void> {
    const ctx = this.ctx;
    const dev = ctx.dev;
    const conn = ctx.conn;
    if (!dev || !conn) return;
    const req: CsumRequest = { offset, length, writes: 0, replied: false };
    this.csumRequests.set(offset, req);
    const data = allocPayload(length);
    try {
      await dev.readInto(offset, data);
      if (ctx.conn !== conn || this.csumRequests.get(offset) !== req) return;
      conn.send({ type: 'checksum-request', offset, length, crc: 0, purpose: 'csum-resync', alg, digests: blockDigests(alg, data) });
    } catch (err) {
      // an unreadable block of ours is simply asked for in full
      ctx.log.warn({ err: (err as Error).message, offset }, 'resync checksum read failed; requesting the data');
      if (ctx.conn === conn) {
        this.csumRequests.delete(offset);
        conn.send({ type: 'resync-request', offset, length });
      }
    } finally {
      recyclePayload(data);
    }
  }

  /** The source's answer to a checksum request: the blocks it did not send are the same here. */
  onChecksumReply(m: ChecksumReplyMsg): void {
    const ctx = this.ctx;
    const md = ctx.md;
    const req = this.csumRequests.get(m.offset);
    if (!md || !req || req.length !== m.length || req.replied) {
      ctx.log.warn({ offset: m.offset, length: m.length }, 'unexpected resync checksum reply dropped');
      return;
    }
    req.replied = true;
    const sent = new Set(m.diff ?? (m.equal ? [] : blockIndices(req.length)));
    for (let i = 0, o = req.offset; o < req.offset + req.length; i++, o += VERIFY_BLOCK) {
      const len = Math.min(VERIFY_BLOCK, req.offset + req.length - o);
      if (sent.has(i)) continue;
      md.bitmap.clearRange(o, len);
      this.csumStats.equalBytes += len;
      this.arrivedSinceStep += len;
    }
    if (req.writes === 0) this.finishCsumRequest(req);
  }

  private finishCsumRequest(req: CsumRequest): void {
    const ctx = this.ctx;
    const md = ctx.md;
    if (this.csumRequests.get(req.offset) !== req) return;
    this.csumRequests.delete(req.offset);
    ctx.counters.oos = ctx.oosKiB();
    if (md) ctx.progress?.update(md.bitmap.count() * md.bitmap.granularity, ctx.deps.now());
    this.planner?.complete(req.offset);
    this.pump();
  }

  /** The checksum request a resync-data message answers, if it answers one. */
  private csumRequestFor(offset: number, length: number): CsumRequest | null {
    if (this.csumRequests.size === 0) return null;
    const exact = this.csumRequests.get(offset);
    if (exact) return exact;
    for (const r of this.csumRequests.values()) if (offset >= r.offset && offset + length <= r.offset + r.length) return r;
    return null;
  }

  async applyData(offset: number, payload: Buffer): Promise<void> {
    const ctx = this.ctx;
    const md = ctx.md;
    const dev = ctx.dev;
    if (!md || !dev) return;
    // checksum mode: one request may be answered by several runs of data, then its reply
    const csumReq = this.csumRequestFor(offset, payload.length);
    if (csumReq) {
      csumReq.writes++;
      this.csumStats.sentBytes += payload.length;
    }
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
      this.arrivedSinceStep += payload.length;
      this.writtenSinceStep += payload.length;
    } catch (err) {
      ctx.log.error({ err: (err as Error).message, offset }, 'resync write failed');
      ctx.onLocalIoError(err as Error, 'resync write');
    } finally {
      release();
    }
    if (csumReq) {
      csumReq.writes--;
      if (csumReq.replied && csumReq.writes === 0) this.finishCsumRequest(csumReq);
      return;
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
    this.stopSteps();
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
    if (this.csumsAlg) {
      // drbd_resync_finished's line
      const { equalBytes, sentBytes } = this.csumStats;
      const total = equalBytes + sentBytes;
      const pct = total > 0 ? Math.floor((100 * equalBytes) / total) : 0;
      ctx.log.info({ equalBytes, sentBytes, alg: this.csumsAlg },
        `${pct} % had equal checksums, eliminated: ${Math.round(equalBytes / 1024)}K; transferred ${Math.round(sentBytes / 1024)}K total ${Math.round(total / 1024)}K`);
    }
    void runHandler(ctx, 'after-resync-target');
  }

  // ---------------------------------------------------------------- SyncSource

  serveRequest(conn: PeerConnection, offset: number, length: number): Promise<void> {
    return this.serveRange(conn, offset, length, 'resync request', (data) => {
      conn.send({ type: 'resync-data', offset, length, payload: data }, () => recyclePayload(data));
      this.ctx.counters.ns += length / 1024;
      this.ctx.counters.dr += length / 1024;
    });
  }

  /**
   * A checksum request (csums-alg): the blocks whose digest differs from ours go out as resync
   * data, then the reply names them; the others are already the same on the target.
   */
  serveChecksum(conn: PeerConnection, m: ChecksumRequestMsg): Promise<void> {
    const { offset, length } = m;
    return this.serveRange(conn, offset, length, 'resync checksum request', (data) => {
      const ctx = this.ctx;
      // another algorithm than ours, or none, never compares equal: every block is sent
      const mine = this.csumsAlg;
      const diff = mine && m.alg === mine && m.digests && verifyAlgSupported(mine) ? differingBlocks(mine, data, m.digests) : blockIndices(length);
      for (const [first, count] of runsOf(diff)) {
        const at = first * VERIFY_BLOCK;
        const len = Math.min(count * VERIFY_BLOCK, length - at);
        conn.send({ type: 'resync-data', offset: offset + at, length: len, payload: data.subarray(at, at + len) });
        ctx.counters.ns += len / 1024;
        ctx.counters.dr += len / 1024;
      }
      // written after the data it names: the buffer goes back to the pool then
      conn.send({ type: 'checksum-reply', offset, length, equal: diff.length === 0, purpose: 'csum-resync', diff }, () => recyclePayload(data));
    });
  }

  /**
   * The SyncSource's part common to both requests: the before-resync-source gate, the bounds, the
   * range lock (an application write to the same blocks must not overtake this read on the wire),
   * the read and its errors. `answer` owns the data from then on (it recycles it once written).
   */
  private async serveRange(conn: PeerConnection, offset: number, length: number, what: string, answer: (data: Buffer) => void): Promise<void> {
    const ctx = this.ctx;
    if (this.sourceGate && !(await this.sourceGate)) return;
    const md = ctx.md;
    const dev = ctx.dev;
    if (!md || !dev || offset < 0 || length <= 0 || offset + length > md.usableSize) {
      ctx.log.warn({ offset, length }, `invalid ${what} dropped`);
      return;
    }
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
      const owned = data;
      data = null;
      answer(owned);
      md.bitmap.clearRange(offset, length);
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
    this.stopSteps();
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = null;
    this.planner?.reset();
    this.planner = null;
    this.csumRequests.clear();
    this.ctx.progress = null;
    drainPayloadPool();
  }

  /** adjust: a new resync-rate (with the controller on it seeded the first step only, as in DRBD) */
  setRate(bytesPerSec: number): void {
    if (!this.controller) this.planner?.setRate(bytesPerSec);
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

function blockIndices(length: number): number[] {
  return Array.from({ length: Math.ceil(length / VERIFY_BLOCK) }, (_, i) => i);
}

/** Ascending block indices as [first, count] runs of neighbours. */
export function runsOf(indices: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const i of indices) {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === i) last[1]++;
    else runs.push([i, 1]);
  }
  return runs;
}
