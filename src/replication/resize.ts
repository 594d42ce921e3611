// `tandemadm resize` on a live pair: both nodes read their backing size again, agree on the new
// size, move their metadata, and the Primary resyncs the grown area to the peer.
//
//   node running the command                       peer
//   checkResize (pure), read own size, plan it
//   resize-probe  ───────────────────────────────► read own size, plan it
//                 ◄─────────────────────────────── resize-info { usable, configured | refusal }
//   decideNewSize (pure)
//   move own metadata (writes held off)
//   resize-commit { size, previous } ────────────► move own metadata (writes held off)
//                 ◄─────────────────────────────── resize-done { its exported size }
//   both: the export takes the new size; the Primary starts a bitmap resync of the grown area
//
// Each node holds off writes (the whole range lock) only while its own metadata moves, and lets
// go before it waits for the peer: a Secondary waiting on a Primary whose replicated writes wait
// on the Secondary's lock would never finish. Between the two moves the exported size is still
// the old one, because it is the smaller of both nodes' sizes.
import { StorageError } from '../storage/block-device.js';
import { placementFor } from './resource-metadata.js';
import type { MetaLayout } from '../storage/metadata-layout.js';
import type { ResizeCommitMsg, ResizeDoneMsg, ResizeInfoMsg } from './messages.js';
import type { PeerConnection } from './peer-connection.js';
import type { ResourceContext } from './resource-context.js';
import { RESIZE_EXIT, checkResize, decideNewSize, type ResizeRefusal } from './resize-decision.js';

/** A reply that does not come within this is a lost peer (the metadata of 1 TiB is a 32 MiB write). */
const REPLY_TIMEOUT_MS = 120_000;
const WHOLE_DEVICE = 2 ** 53 - 1;
export const RESIZE_FEATURE = 'resize';

export interface ResizeHooks {
  /** the Primary resyncs what the bitmap marks (connection-handshake.ts startBitmapSync) */
  startBitmapSync: (reason: string) => void;
  /** the exported size changed: the block device shows it (daemon) */
  sizeChanged: () => Promise<void>;
}

export interface ResizeOptions {
  /** --size=SIZE in bytes */
  size: number | null;
  assumeClean: boolean;
}

type Probe = { ok: true; layout: MetaLayout; usable: number; configured: number } | { ok: false; reason: string };
type Waiter = { type: 'resize-info' | 'resize-done'; resolve: (m: ResizeInfoMsg | ResizeDoneMsg) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

const fail = (message: string): ResizeRefusal => ({ ok: false, message: `Failure: ${message}`, exitCode: RESIZE_EXIT });

export class Resize {
  private busy = false;
  private waiter: Waiter | null = null;

  constructor(private readonly ctx: ResourceContext, private readonly hooks: ResizeHooks) {}

  /** The command, on the node where it was typed. */
  async run(o: ResizeOptions): Promise<{ ok: true; message: string } | ResizeRefusal> {
    const ctx = this.ctx;
    const s = ctx.state;
    const v = checkResize({
      role: s.role, peerRole: s.peerRole, disk: s.disk, peerDisk: s.peerDisk, cs: s.cs,
      peerCanResize: ctx.peerParams?.features?.includes(RESIZE_FEATURE) ?? false,
      resizing: this.busy,
    });
    ctx.log.info({ size: o.size, assumeClean: o.assumeClean, refused: v.ok ? undefined : v.message }, 'resize requested');
    if (!v.ok) return v;
    this.busy = true;
    try {
      const local = this.probe();
      if (!local.ok) return fail(`${ctx.name}: ${local.reason}`);
      const conn = ctx.conn!;
      const info = (await this.ask(conn, { type: 'resize-probe' }, 'resize-info')) as ResizeInfoMsg;
      if (!info.ok) return fail(`the peer ${ctx.cfg.peer.name}: ${info.reason ?? 'refused'}`);
      const previous = ctx.size;
      const d = decideNewSize({
        current: previous,
        local: { usable: local.usable, configured: local.configured },
        peer: { usable: info.usable, configured: info.configured },
        peerName: ctx.cfg.peer.name,
        requested: o.size,
      });
      if (!d.ok) return d;
      // from the old exported size up to what both record: the peer marks the same range
      const mark = o.assumeClean || d.record <= previous ? null : { offset: previous, length: d.record - previous };
      await this.apply(local.layout, d.record, mark);
      ctx.appliedSize = ctx.cfg.disk.sizeBytes;
      if (o.size !== null) ctx.userSize = o.size;
      const done = (await this.ask(conn, {
        type: 'resize-commit', size: d.record, previous, assumeClean: o.assumeClean, localSize: ctx.localSize,
        ...(o.size !== null ? { userSize: o.size } : {}),
      }, 'resize-done')) as ResizeDoneMsg;
      if (!done.ok) return fail(`the peer ${ctx.cfg.peer.name} could not take the new size (${done.reason ?? 'no reason given'}); the device keeps ${ctx.size} bytes`);
      ctx.peerUsableSize = done.localSize;
      await this.settled(previous, mark !== null, o.assumeClean);
      return { ok: true, message: `${ctx.name}: size ${previous} -> ${ctx.size} bytes` };
    } catch (err) {
      return fail(`${ctx.name}: resize failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  /** Read the backing size again and see where the metadata would go. */
  private probe(): Probe {
    const ctx = this.ctx;
    const dev = ctx.dev;
    const md = ctx.md;
    if (!dev || !md) return { ok: false, reason: 'no backing disk attached' };
    let dataSize: number;
    try {
      dataSize = dev.refreshSize();
      md.refreshMetaDeviceSize();
    } catch (err) {
      return { ok: false, reason: `cannot read the backing device's size: ${(err as Error).message}` };
    }
    const plan = md.planResize(placementFor(ctx.cfg), dataSize);
    if (plan.kind === 'refuse') return { ok: false, reason: plan.reason };
    return { ok: true, layout: plan.layout, usable: plan.layout.usableSize, configured: ctx.userSize ?? ctx.cfg.disk.sizeBytes };
  }

  private async apply(layout: MetaLayout, record: number, mark: { offset: number; length: number } | null): Promise<void> {
    const ctx = this.ctx;
    const md = ctx.md;
    if (!md) throw new Error('no backing disk attached');
    const release = await ctx.lock.acquire(0, WHOLE_DEVICE);
    try {
      await md.resize(layout, record, mark);
    } catch (err) {
      // the disk failed a metadata write: on-io-error decides, as for any metadata write (a
      // refusal before the first write leaves the disk alone)
      if (err instanceof StorageError) ctx.onLocalIoError(err, 'metadata write (resize)');
      throw err;
    } finally {
      release();
    }
    ctx.counters.oos = ctx.oosKiB();
    ctx.log.info({ usable: record, superblock: layout.superblockOffset, marked: mark }, 'metadata resized');
  }

  /** After both nodes took the size: the export shows it, and the Primary resyncs the new area. */
  private async settled(previous: number, marked: boolean, assumeClean: boolean): Promise<void> {
    const ctx = this.ctx;
    ctx.log.info({ previous, size: ctx.size }, `size changed from ${previous} to ${ctx.size} bytes`);
    ctx.deps.onChange();
    if (ctx.size !== previous) await this.hooks.sizeChanged().catch((err: Error) => ctx.log.error({ err: err.message }, 'the block device could not show the new size'));
    if (ctx.size > previous && assumeClean) ctx.log.info('Resync of new storage suppressed with --assume-clean');
    if (marked && ctx.state.role === 'Primary' && ctx.state.cs === 'Connected' && (ctx.md?.bitmap.count() ?? 0) > 0) {
      this.hooks.startBitmapSync('resize');
    }
  }

  private ask(conn: PeerConnection, msg: { type: 'resize-probe' } | ResizeCommitMsg, reply: Waiter['type']): Promise<ResizeInfoMsg | ResizeDoneMsg> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(new Error(`no ${reply} from the peer within ${REPLY_TIMEOUT_MS / 1000} s`));
      }, REPLY_TIMEOUT_MS);
      this.waiter = { type: reply, resolve, reject, timer };
      try {
        conn.send(msg);
      } catch (err) {
        clearTimeout(timer);
        this.waiter = null;
        reject(err as Error);
      }
    });
  }

  /** The connection is gone: a resize waiting for the peer fails now rather than at its timeout. */
  connectionLost(): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = null;
    clearTimeout(w.timer);
    w.reject(new Error('the connection to the peer was lost'));
  }

  onReply(m: ResizeInfoMsg | ResizeDoneMsg): void {
    const w = this.waiter;
    if (!w || w.type !== m.type) {
      this.ctx.log.warn({ type: m.type }, 'unexpected resize reply dropped');
      return;
    }
    this.waiter = null;
    clearTimeout(w.timer);
    w.resolve(m);
  }

  // ---------------------------------------------------------------- the peer's side

  onProbe(conn: PeerConnection): void {
    const ctx = this.ctx;
    const s = ctx.state;
    const refusal = this.busy ? 'a resize is already under way there'
      : s.syncRunning || s.verifying ? 'a resync or verify is running there' : null;
    const p: Probe = refusal ? { ok: false, reason: refusal } : this.probe();
    if (p.ok) conn.send({ type: 'resize-info', ok: true, usable: p.usable, configured: p.configured });
    else conn.send({ type: 'resize-info', ok: false, usable: 0, configured: 0, reason: p.reason });
  }

  async onCommit(conn: PeerConnection, m: ResizeCommitMsg): Promise<void> {
    const ctx = this.ctx;
    const previous = ctx.size;
    this.busy = true;
    let marked = false;
    try {
      const p = this.probe();
      if (!p.ok) throw new Error(p.reason);
      if (m.size > p.usable) throw new Error(`this node holds only ${p.usable} usable bytes, the peer asked for ${m.size}`);
      const grew = m.size > m.previous;
      marked = grew && !m.assumeClean;
      await this.apply(p.layout, m.size, marked ? { offset: m.previous, length: m.size - m.previous } : null);
      ctx.appliedSize = ctx.cfg.disk.sizeBytes;
      if (m.userSize !== undefined) ctx.userSize = m.userSize;
      ctx.peerUsableSize = m.localSize;
      if (ctx.conn === conn) conn.send({ type: 'resize-done', ok: true, localSize: ctx.localSize });
    } catch (err) {
      ctx.log.error({ err: (err as Error).message }, 'resize asked by the peer failed');
      if (ctx.conn === conn) conn.send({ type: 'resize-done', ok: false, localSize: ctx.localSize, reason: (err as Error).message });
      return;
    } finally {
      this.busy = false;
    }
    await this.settled(previous, marked, m.assumeClean);
  }
}
