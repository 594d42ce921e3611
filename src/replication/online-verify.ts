// Online verify (`tandemadm verify`, DRBD's VerifyS/VerifyT): the VerifyS end reads the device in
// chunks and sends one digest per 4 KiB block (net { verify-alg }), the VerifyT end compares them
// with its own blocks and names those that differ; both mark them out of sync, and the
// out-of-sync handler runs when any were found. The digests are pure in verify-digest.ts.
import { crc32c } from '../storage/checksum.js';
import type { ChecksumRequestMsg } from './messages.js';
import type { PeerConnection } from './peer-connection.js';
import { SyncProgress } from './sync-progress.js';
import { VERIFY_BLOCK, blockDigests, differingBlocks, verifyAlgSupported } from './verify-digest.js';
import { checkVerify, type Verdict } from './state-rules.js';
import type { ResourceContext } from './resource-context.js';
import { runHandler } from './handlers-fencing.js';

const VERIFY_CHUNK = 1 << 20;

export class OnlineVerify {
  private verifyState: { next: number; inFlight: number; oos: number; total: number } | null = null;

  constructor(private readonly ctx: ResourceContext) {}

  /** where the VerifyS end has read up to, while a verify runs there (the status' progress) */
  get nextOffset(): number | null {
    return this.verifyState?.next ?? null;
  }

  stop(): void {
    this.verifyState = null;
  }

  async start(): Promise<Verdict> {
    const ctx = this.ctx;
    const v = checkVerify(ctx.roleView(), this.verifyAlg);
    if (!v.ok) return v;
    const md = ctx.md!;
    this.verifyState = { next: 0, inFlight: 0, oos: 0, total: md.usableSize };
    ctx.progress = new SyncProgress(Math.min(md.usableSize, ctx.size), ctx.deps.now());
    ctx.state.change({ cs: 'VerifyS' });
    ctx.conn?.send({ type: 'state', role: ctx.state.role, disk: ctx.state.disk, userPaused: ctx.userPaused });
    void this.pump();
    return { ok: true };
  }

  /** net { verify-alg; } (checked at `up`: crc32c or a hash Node's crypto knows); crc32c by default */
  private get verifyAlg(): string {
    return (this.ctx.cfg.disk.verifyAlg ?? 'crc32c').toLowerCase();
  }

  // ---------------------------------------------------------------- VerifyS

  private async pump(): Promise<void> {
    const ctx = this.ctx;
    const st = this.verifyState;
    const dev = ctx.dev;
    const conn = ctx.conn;
    if (!st || !dev || !conn) return;
    const end = ctx.size;
    while (st.inFlight < 4 && st.next < end) {
      const offset = st.next;
      const length = Math.min(VERIFY_CHUNK, end - offset);
      st.next += length;
      st.inFlight++;
      const data = await dev.read(offset, length);
      if (ctx.conn !== conn) return;
      // one digest per 4 KiB block, so the peer names exactly the blocks that differ
      conn.send({ type: 'checksum-request', offset, length, crc: 0, purpose: 'verify', alg: this.verifyAlg, digests: blockDigests(this.verifyAlg, data) });
    }
  }

  onChecksumReply(offset: number, length: number, equal: boolean, diff: number[] | undefined): void {
    const ctx = this.ctx;
    const st = this.verifyState;
    const md = ctx.md;
    if (!st || !md) return;
    st.inFlight--;
    if (!equal) {
      const blocks = diff ?? Array.from({ length: Math.ceil(length / VERIFY_BLOCK) }, (_, i) => i);
      for (const i of blocks) {
        const at = offset + i * VERIFY_BLOCK;
        if (i < 0 || at >= offset + length) continue;
        const len = Math.min(VERIFY_BLOCK, offset + length - at);
        st.oos += len;
        md.bitmap.setRange(at, len);
        ctx.log.warn({ offset: at, length: len }, 'Out of sync: start=%d, size=%d (bytes)', at, len);
      }
    }
    ctx.counters.oos = ctx.oosKiB();
    ctx.progress?.update(Math.max(0, ctx.size - offset - length), ctx.deps.now());
    if (st.next >= ctx.size && st.inFlight === 0) {
      ctx.log.info({ oosBytes: st.oos, alg: this.verifyAlg }, `Online verify done; found ${Math.round(st.oos / 1024)} KiB out of sync`);
      this.verifyState = null;
      ctx.progress = null;
      ctx.state.change({ cs: 'Connected' });
      if (st.oos > 0) {
        ctx.log.error({ blocks: Math.ceil(st.oos / VERIFY_BLOCK) }, `Online verify found ${Math.ceil(st.oos / VERIFY_BLOCK)} 4k block out of sync!`);
        void runHandler(ctx, 'out-of-sync');
      }
      return;
    }
    void this.pump();
  }

  // ---------------------------------------------------------------- VerifyT

  async answerChecksum(conn: PeerConnection, m: ChecksumRequestMsg): Promise<void> {
    const ctx = this.ctx;
    const { offset, length, purpose } = m;
    const dev = ctx.dev;
    const md = ctx.md;
    if (!dev || !md || offset < 0 || length <= 0 || offset + length > md.usableSize) return;
    if (ctx.state.cs === 'Connected') ctx.state.change({ cs: 'VerifyT' });
    const data = await dev.read(offset, length);
    let diff: number[] | undefined;
    if (m.alg !== undefined && m.digests !== undefined) {
      // an algorithm this node does not know compares as all-different, never as equal
      diff = verifyAlgSupported(m.alg) ? differingBlocks(m.alg, data, m.digests) : Array.from({ length: Math.ceil(length / VERIFY_BLOCK) }, (_, i) => i);
      for (const i of diff) md.bitmap.setRange(offset + i * VERIFY_BLOCK, Math.min(VERIFY_BLOCK, length - i * VERIFY_BLOCK));
    } else if (crc32c(data) !== m.crc) {
      md.bitmap.setRange(offset, length);
    }
    const equal = diff ? diff.length === 0 : crc32c(data) === m.crc;
    if (!equal) ctx.counters.oos = ctx.oosKiB();
    if (ctx.conn === conn) conn.send(diff ? { type: 'checksum-reply', offset, length, equal, purpose, diff } : { type: 'checksum-reply', offset, length, equal, purpose });
    if (offset + length >= Math.min(md.usableSize, ctx.size) && ctx.state.cs === 'VerifyT') ctx.state.change({ cs: 'Connected' });
  }
}
