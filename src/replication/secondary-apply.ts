// The Secondary's apply path (DRBD's receive_Data): a replicated write from the Primary is locked in
// arrival order, written locally (inline on this thread in the common case) and acknowledged at
// the protocol's level (B: on receipt, C: once written); flushes, out-of-sync notices, and the
// reads a Primary asks for when its own copy of the blocks is not good (P_DATA_REQUEST).
import type { BlockDevice } from '../storage/block-device.js';
import type { DataMsg, ReadRequestMsg } from './messages.js';
import type { PeerConnection } from './peer-connection.js';
import type { Release } from './range-lock.js';
import type { ResourceMetadata } from './resource-metadata.js';
import type { ResourceContext } from './resource-context.js';
import type { LocalDisk } from './local-disk.js';
import { diskRank } from './state-rules.js';
import { PEER_READ_CHUNK } from './read-path.js';
import { recyclePayload } from '../storage/bulk-buffer.js';

export class SecondaryApply {
  constructor(
    private readonly ctx: ResourceContext,
    private readonly disk: LocalDisk,
  ) {}

  applyPeerWrite(conn: PeerConnection, m: DataMsg): void | Promise<void> {
    const ctx = this.ctx;
    const dev = ctx.localDev();
    const md = ctx.md;
    if (ctx.cfg.protocol === 'B') conn.send({ type: 'recv-ack', seq: m.seq });
    if (!dev || !md) {
      conn.sendWriteAck(m.seq, false);
      return;
    }
    if (m.offset < 0 || m.length < 0 || m.offset + m.length > md.usableSize || (m.kind === 'write' && (!m.payload || m.payload.length !== m.length))) {
      ctx.log.warn({ offset: m.offset, length: m.length }, 'invalid data message from peer dropped');
      conn.sendWriteAck(m.seq, false);
      return;
    }
    // acquired synchronously in arrival order: overlapping writes land in the Primary's order
    const hold = ctx.lock.acquire(m.offset, m.length);
    if (typeof hold === 'function' && m.kind === 'write' && !m.fua && m.length <= dev.inlineLimit && diskRank(ctx.state.peerDisk) >= diskRank('Inconsistent')) {
      // the common case, done here and now: no Promise, no hand-off (BlockDevice.inlineLimit)
      const err = dev.writeSync(m.offset, m.payload!);
      hold();
      if (err) this.peerWriteFailed(md, m, err);
      else {
        ctx.counters.nr += m.length / 1024;
        ctx.counters.dw += m.length / 1024;
      }
      conn.sendWriteAck(m.seq, err === null);
      return;
    }
    return this.applyPeerWriteHeld(conn, m, dev, md, hold);
  }

  private peerWriteFailed(md: ResourceMetadata, m: DataMsg, err: Error): void {
    md.bitmap.setRange(m.offset, m.length);
    this.ctx.log.error({ err: err.message, offset: m.offset }, 'write of replicated data failed');
    this.ctx.onLocalIoError(err, 'write of replicated data');
  }

  private async applyPeerWriteHeld(conn: PeerConnection, m: DataMsg, dev: BlockDevice, md: ResourceMetadata, hold: Release | Promise<Release>): Promise<void> {
    const ctx = this.ctx;
    // /proc/drbd's ua: the peer's requests received and not yet acknowledged
    ctx.counters.ua++;
    const release = typeof hold === 'function' ? hold : await hold;
    let ok = true;
    try {
      if (diskRank(ctx.state.peerDisk) < diskRank('Inconsistent')) {
        // the Primary has no disk: this node holds the only copy, so the block is out of sync with
        // the peer's (absent) disk and the AL covers it like a local write (receive_Data, pdsk < Inconsistent)
        md.bitmap.setRange(m.offset, m.length);
        const al = md.markActive(m.offset, m.length);
        if (al) await al;
      }
      await this.disk.writeLocal(dev, m.offset, m.length, m.kind, m.payload, m.fua);
      // Written: nothing holds the payload any more. A 1 MiB one read in place (allocPayload) goes
      // back to the pool, so the next is not fresh memory (a page fault per 4 KiB in the socket
      // read, an mmap and munmap per payload). On a failure it is left to the GC.
      if (m.payload) recyclePayload(m.payload);
      ctx.counters.nr += m.length / 1024;
      ctx.counters.dw += m.length / 1024;
    } catch (err) {
      ok = false;
      this.peerWriteFailed(md, m, err as Error);
    } finally {
      release();
      ctx.counters.ua--;
    }
    if (ctx.conn === conn) conn.sendWriteAck(m.seq, ok);
  }

  async applyPeerFlush(conn: PeerConnection, seq: number): Promise<void> {
    let ok = true;
    try {
      await this.ctx.lock.drain();
      await this.ctx.localDev()?.flush();
    } catch {
      ok = false;
    }
    if (this.ctx.conn === conn) conn.send({ type: 'flush-ack', seq, ok });
  }

  /** P_OUT_OF_SYNC: the Primary wrote these blocks without us. */
  onOutOfSync(offset: number, length: number): void {
    this.ctx.md?.bitmap.setRange(offset, length);
  }

  /** P_DATA_REQUEST from a Primary that cannot use its own copy of these blocks. */
  async serveReadRequest(conn: PeerConnection, m: ReadRequestMsg): Promise<void> {
    const ctx = this.ctx;
    const dev = ctx.localDev();
    const md = ctx.md;
    const reply = (ok: boolean, payload: Buffer): void => {
      if (ctx.conn === conn) conn.send({ type: 'read-reply', seq: m.seq, offset: m.offset, length: m.length, ok, payload });
    };
    if (!dev || !md || ctx.state.disk !== 'UpToDate' || m.length === 0 || m.length > 4 * PEER_READ_CHUNK || m.offset + m.length > md.usableSize) {
      ctx.log.warn({ offset: m.offset, length: m.length, disk: ctx.state.disk }, 'read request from peer refused');
      reply(false, Buffer.alloc(0));
      return;
    }
    // in arrival order behind replicated writes to the same blocks: the read sees them
    const hold = ctx.lock.acquire(m.offset, m.length);
    const release = typeof hold === 'function' ? hold : await hold;
    try {
      const data = await dev.read(m.offset, m.length);
      ctx.counters.dr += m.length / 1024;
      ctx.counters.ns += m.length / 1024;
      reply(true, data);
    } catch (err) {
      md.bitmap.setRange(m.offset, m.length);
      ctx.onLocalIoError(err as Error, 'read for the peer');
      reply(false, Buffer.alloc(0));
    } finally {
      release();
    }
  }
}
