// This node's backing disk: attach (metadata, crashed-Primary recovery, the disk state it starts
// in), detach, the periodic bitmap flush, `on-io-error` when the disk fails (pass_on, detach,
// call-local-io-error), test fault injection, and the local writes every path ends in (the write
// coalescer, TRIM, WRITE_ZEROES, FUA, reads served from the page cache on this thread). The write
// pipeline, the apply path and resync call down into it; it calls none of them back (a failing disk
// aborts a resync through the abortSync hook the Resource gives it).
import { BlockDevice, type FaultSpec, type StorageError } from '../storage/block-device.js';
import { WriteCoalescer } from '../storage/write-coalescer.js';
import type { DataMsg, DiskState } from './messages.js';
import type { PeerConnection } from './peer-connection.js';
import { openResourceMetadata, type ResourceMetadata } from './resource-metadata.js';
import { maskRoleBit } from './generation-uuids.js';
import { uuidsToWire } from './uuid-engine.js';
import { diskRank, refuse } from './state-rules.js';
import { ResourceError, type ResourceContext } from './resource-context.js';
import { runHandler } from './handlers-fencing.js';

const BITMAP_FLUSH_MS = 1000;

export interface LocalDiskHooks {
  /** a disk that goes away aborts a running resync or verify */
  abortSync: (reason: string) => void;
  /** a disk attached on a live connection is negotiated again (connection-handshake.ts) */
  renegotiate: (conn: PeerConnection, disk: DiskState) => void;
}

export class LocalDisk {
  private bitmapTimer: NodeJS.Timeout | null = null;
  /** set while a failed disk is being taken away (Failed → Diskless) */
  private detaching: Promise<void> | null = null;
  private coalescer: { dev: BlockDevice; c: WriteCoalescer } | null = null;
  /** came back from being a degraded Primary (PRIMARY_IND without CONNECTED_IND): wait-connect uses degr-wfc-timeout */
  degradedAtAttach = false;

  constructor(private readonly ctx: ResourceContext, private readonly hooks: LocalDiskHooks) {}

  async attach(): Promise<void> {
    const ctx = this.ctx;
    const s = ctx.state;
    if (this.detaching) await this.detaching;
    if (ctx.dev) return;
    const unsupported = ctx.cfg.unsupported;
    if (unsupported.length > 0) {
      const u = unsupported[0]!;
      throw new ResourceError(`${ctx.name}: option '${u.option}' (${u.file}:${u.line}) is not supported by Tandem; remove it to bring the resource up`, 10);
    }
    s.change({ disk: 'Attaching' });
    let dev: BlockDevice;
    try {
      dev = BlockDevice.open(ctx.cfg.self.disk);
    } catch (err) {
      s.change({ disk: 'Diskless' });
      throw new ResourceError(`${ctx.name}: cannot open backing disk: ${(err as Error).message}`, 10);
    }
    let md: ResourceMetadata;
    try {
      md = await openResourceMetadata(dev, ctx.cfg);
    } catch (err) {
      dev.close();
      s.change({ disk: 'Diskless' });
      throw new ResourceError(`${ctx.name}: ${(err as Error).message}`, 10);
    }
    const wantSize = ctx.cfg.disk.sizeBytes;
    if (wantSize > md.usableSize) {
      dev.close();
      s.change({ disk: 'Diskless' });
      throw new ResourceError(`${ctx.name}: (111) Low.dev. smaller than requested DRBD-dev. size: disk { size } asks for ${wantSize} bytes, the backing device holds ${md.usableSize} usable bytes`, 10);
    }
    ctx.dev = dev;
    ctx.md = md;
    ctx.appliedSize = wantSize;
    ctx.exposedUuid = null;
    this.degradedAtAttach = md.flags.has('primary-ind') && !md.flags.has('connected-ind');
    // A node that went down while Primary comes back with CRASHED_PRIMARY and its activity log
    // extents marked out of sync, so the blocks it may have written alone are resynced.
    if (md.flags.has('primary-ind') || md.flags.has('crashed-primary')) {
      md.flags.add('crashed-primary');
      for (const r of md.alRecovered) md.bitmap.setRange(r.offset, r.length);
      ctx.log.warn({ extents: md.alRecovered.length }, 'crashed primary: activity log applied to the bitmap');
    }
    if (md.flags.has('full-sync')) md.bitmap.setAll();
    let disk: DiskState = md.flags.has('consistent') ? (md.flags.has('was-up-to-date') ? 'Consistent' : 'Outdated') : 'Inconsistent';
    let peerDisk: DiskState = 'DUnknown';
    if (md.flags.has('peer-outdated')) peerDisk = 'Outdated';
    if (disk === 'Consistent' && (peerDisk === 'Outdated' || ctx.cfg.disk.fencing === 'dont-care')) disk = 'UpToDate';
    // demote on disk: roles are not persistent, a restarted node is Secondary
    md.flags.delete('primary-ind');
    await md.saveSuperblock();
    await md.flushBitmap();
    const conn = ctx.conn;
    if (conn && s.connected) {
      // attaching on a live connection (e.g. a repaired disk under a diskless Primary): the data
      // must be negotiated again, exactly like a fresh connect, before this disk is trusted
      this.hooks.renegotiate(conn, disk);
    } else {
      s.change({ disk });
      if (!s.connected) s.setPeerDiskQuietly(peerDisk);
    }
    ctx.counters.oos = ctx.oosKiB();
    this.bitmapTimer = setInterval(() => {
      ctx.md?.flushBitmap().catch((err: Error) => this.onLocalIoError(err, 'bitmap write'));
      ctx.deps.onChange();
    }, BITMAP_FLUSH_MS);
    this.bitmapTimer.unref();
    ctx.log.info({ size: md.usableSize, dirtyBits: md.bitmap.count(), uuids: uuidsToWire(md.uuids) }, 'attached');
  }

  async detach(): Promise<void> {
    const ctx = this.ctx;
    if (!ctx.dev) {
      if (this.detaching) await this.detaching;
      return;
    }
    // a Primary may only go diskless when an UpToDate peer serves its I/O from then on
    if (ctx.state.role === 'Primary' && !(ctx.replicating() && ctx.state.peerDisk === 'UpToDate')) {
      const r = refuse('SS_NO_UP_TO_DATE_DISK');
      throw new ResourceError(`${ctx.cfg.self.minor}: ${r.message}`, r.exitCode);
    }
    await ctx.lock.drain();
    this.hooks.abortSync('local disk detached');
    await this.closeDisk();
    ctx.state.change({ disk: 'Diskless' });
    ctx.sendState();
  }

  async closeDisk(): Promise<void> {
    const ctx = this.ctx;
    if (this.bitmapTimer) clearInterval(this.bitmapTimer);
    this.bitmapTimer = null;
    const md = ctx.md;
    const dev = ctx.dev;
    // a Primary without its disk exposes this generation of the data; only a peer holding exactly
    // it may serve it from now on (DRBD's exposed data UUID)
    if (md && ctx.state.role === 'Primary') ctx.exposedUuid = maskRoleBit(md.uuids.current);
    ctx.md = null;
    ctx.dev = null;
    if (md) {
      try {
        await md.markClean();
      } catch (err) {
        ctx.log.error({ err: (err as Error).message }, 'could not persist metadata on detach');
      }
      md.close();
    }
    dev?.close();
  }

  /**
   * An I/O error of the backing disk, handled by `on-io-error` (reference §10.2): `pass_on` reports
   * it up and marks the disk Inconsistent (metadata errors still detach); `detach` and
   * `call-local-io-error` take the disk away (Failed → Diskless), the latter after starting the
   * local-io-error handler. Idempotent while a detach is under way.
   */
  onLocalIoError(err: Error, where: string): void {
    const ctx = this.ctx;
    const s = ctx.state;
    if (!ctx.dev || s.disk === 'Failed' || s.disk === 'Diskless') return;
    if ((err as StorageError).code === 'ECLOSED') return; // our own close, not the disk
    const policy = ctx.cfg.disk.onIoError;
    const metadata = /metadata|bitmap|activity log/.test(where);
    if (policy === 'pass_on' && !metadata) {
      ctx.log.error({ err: err.message, where }, `Local IO failed in ${where}.`);
      if (diskRank(s.disk) > diskRank('Inconsistent')) {
        s.change({ disk: 'Inconsistent' });
        ctx.sendState();
      }
      return;
    }
    ctx.log.error({ err: err.message, where, policy }, `Local IO failed in ${where}. Detaching...`);
    if (policy === 'call-local-io-error') void runHandler(ctx, 'local-io-error');
    void this.detachFailedDisk();
  }

  private detachFailedDisk(): Promise<void> {
    if (this.detaching) return this.detaching;
    const ctx = this.ctx;
    this.detaching = (async () => {
      ctx.state.change({ disk: 'Failed' });
      // from here on every request bypasses the local disk; the peer hears it before any of them
      ctx.sendState();
      this.hooks.abortSync('local disk failed');
      await ctx.lock.drain();
      await this.closeDisk();
      ctx.state.change({ disk: 'Diskless' });
      ctx.sendState();
      ctx.log.warn('local disk detached after an I/O error; I/O goes to the peer');
    })().finally(() => {
      this.detaching = null;
    });
    return this.detaching;
  }

  /** Only works when tandemd runs with TANDEM_TEST_FAULTS=1 (the addon refuses otherwise). */
  injectFaults(faults: FaultSpec[]): void {
    if (!this.ctx.dev) throw new ResourceError(`${this.ctx.name}: no backing disk attached`, 11);
    this.ctx.dev.injectFaults(faults);
    this.ctx.log.warn({ faults }, 'test fault injection armed');
  }

  clearFaults(): void {
    this.ctx.dev?.clearFaults();
  }

  // ---------------------------------------------------------------- the local writes every path ends in

  /** the write coalescer of the attached device (one per device; replaced after a re-attach) */
  writer(dev: BlockDevice): WriteCoalescer {
    if (this.coalescer?.dev !== dev) this.coalescer = { dev, c: new WriteCoalescer(dev) };
    return this.coalescer.c;
  }

  async writeLocal(dev: BlockDevice, offset: number, length: number, kind: DataMsg['kind'], payload: Buffer | undefined, fua: boolean): Promise<void> {
    // /proc/drbd's lo: requests open to the local disk
    const c = this.ctx.counters;
    c.lo++;
    try {
      if (kind === 'write') await this.writer(dev).write(offset, payload!);
      else if (kind === 'trim') await dev.discard(offset, length);
      else await writeZeroes(dev, offset, length);
      if (fua) await dev.flush();
    } finally {
      c.lo--;
    }
  }
}

/** WRITE_ZEROES/TRIM payloads are generated here; one zero buffer is reused for every call. */
const ZERO = Buffer.alloc(1 << 20);
async function writeZeroes(dev: BlockDevice, offset: number, length: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const n = Math.min(ZERO.length, length - done);
    await dev.write(offset + done, ZERO.subarray(0, n));
    done += n;
  }
}

/** A small read served from the page cache on this thread (BlockDevice.inlineLimit), or null. */
export function readIfCached(dev: BlockDevice, offset: number, length: number): Buffer | null {
  const buf = Buffer.allocUnsafe(length);
  const r = dev.readIntoSync(offset, buf);
  if (r === 'not-cached') return null;
  if (r) throw r;
  return buf;
}
