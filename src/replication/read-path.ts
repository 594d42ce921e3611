// The Primary's reads: from the local disk when this node's copy of the blocks is current (the
// page cache on this thread for small cached reads), otherwise from an UpToDate peer in chunks
// (DRBD's P_DATA_REQUEST), and a failed local read retried there. The peer's read replies arrive
// here through the Resource.
import { StorageError } from '../storage/block-device.js';
import type { ReadReplyMsg } from './messages.js';
import type { ResourceContext } from './resource-context.js';
import type { Fencing } from './handlers-fencing.js';
import { readIfCached } from './local-disk.js';

/** reads through the peer are split so no reply exceeds a comfortable frame size */
export const PEER_READ_CHUNK = 1 << 20;

export class ReadPath {
  constructor(
    private readonly ctx: ResourceContext,
    private readonly fencing: Fencing,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    const ctx = this.ctx;
    const gate = this.fencing.ioGate();
    if (gate) await gate;
    ctx.assertServing();
    const dev = ctx.localDev();
    if (!dev || !this.localCopyGood(offset, length)) {
      if (ctx.peerReadable()) return this.readFromPeer(offset, length);
      const why = dev ? 'block is out of sync on this node and no UpToDate peer is connected' : 'no local disk (Diskless) and no UpToDate peer is connected';
      throw new StorageError(why, { code: 'EIO', op: 'read', offset, path: ctx.name });
    }
    try {
      const data = (length <= dev.inlineLimit ? readIfCached(dev, offset, length) : null) ?? (await dev.read(offset, length));
      ctx.counters.dr += length / 1024;
      return data;
    } catch (err) {
      // a failed read marks the blocks out of sync; except under pass_on, it is retried on the peer
      ctx.md?.bitmap.setRange(offset, length);
      ctx.onLocalIoError(err as Error, 'read');
      if (ctx.cfg.disk.onIoError !== 'pass_on' && ctx.peerReadable()) return this.readFromPeer(offset, length);
      throw err;
    }
  }

  /**
   * Whether this node's own copy of the range is current. Before the peer's bitmap is merged into
   * ours (Negotiating, WFBitMapT) the blocks it changed are not marked here yet, so nothing local is
   * trusted while the peer can answer; after the merge the bitmap says which blocks are stale.
   */
  private localCopyGood(offset: number, length: number): boolean {
    const ctx = this.ctx;
    const md = ctx.md;
    if (!md) return false;
    const s = ctx.state;
    if ((s.disk === 'Negotiating' || s.cs === 'WFBitMapT') && ctx.peerReadable()) return false;
    const target = s.cs === 'WFSyncUUID' || s.cs === 'SyncTarget' || s.cs === 'PausedSyncT';
    if (s.disk === 'UpToDate' && !target) return true;
    return !md.bitmap.testRange(offset, length);
  }

  private async readFromPeer(offset: number, length: number): Promise<Buffer> {
    const ctx = this.ctx;
    const parts: Promise<Buffer>[] = [];
    for (let at = offset; at < offset + length; at += PEER_READ_CHUNK) {
      const n = Math.min(PEER_READ_CHUNK, offset + length - at);
      const conn = ctx.conn;
      if (!conn) throw new StorageError('the peer went away during a read', { code: 'EIO', op: 'read', offset: at, path: ctx.name });
      const r = ctx.peerReads.add(at, n);
      conn.send({ type: 'read-request', seq: r.seq, offset: at, length: n });
      parts.push(r.done);
    }
    try {
      const bufs = await Promise.all(parts);
      return bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
    } catch (err) {
      throw new StorageError((err as Error).message, { code: 'EIO', op: 'read', offset, path: ctx.name });
    }
  }

  onReadReply(m: ReadReplyMsg): void {
    const ctx = this.ctx;
    if (m.ok) ctx.counters.nr += m.payload.length / 1024;
    if (!ctx.peerReads.reply(m.seq, m.offset, m.ok, m.payload)) ctx.log.warn({ seq: m.seq }, 'read reply for an unknown or different request dropped');
  }
}
