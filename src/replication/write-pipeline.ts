// The Primary's write pipeline, in the order a write travels: the IO freeze of fencing, the role
// check, the range lock, the activity log, the send to the peer (when its disk can take it) or the
// bitmap (when it cannot), the local write, the wait for the ack level of the protocol (C: the
// peer's write, B: its receipt, A: none), completion. Below the writes: flush, then the peer's acks
// that complete them (routed here by the Resource). It calls down into the local disk, the pending
// table and the connection; nothing it calls calls back into it (an ack resolves a pending entry).
import { StorageError, type BlockDevice } from '../storage/block-device.js';
import type { DataMsg } from './messages.js';
import type { Release } from './range-lock.js';
import type { AckLevel } from './peer-io.js';
import type { ResourceMetadata } from './resource-metadata.js';
import type { ResourceContext } from './resource-context.js';
import type { Fencing } from './handlers-fencing.js';
import type { LocalDisk } from './local-disk.js';

export class WritePipeline {
  constructor(
    private readonly ctx: ResourceContext,
    private readonly fencing: Fencing,
    private readonly disk: LocalDisk,
  ) {}

  // ---------------------------------------------------------------- entry (NbdBackend)

  write(offset: number, data: Buffer, fua: boolean): Promise<void> {
    const gate = this.fencing.ioGate();
    if (gate) return gate.then(() => this.submitWrite(offset, data.length, 'write', data, fua));
    return this.submitWrite(offset, data.length, 'write', data, fua);
  }

  trim(offset: number, length: number): Promise<void> {
    const gate = this.fencing.ioGate();
    if (gate) return gate.then(() => this.submitWrite(offset, length, 'trim', undefined, false));
    return this.submitWrite(offset, length, 'trim', undefined, false);
  }

  writeZeroes(offset: number, length: number, fua: boolean): Promise<void> {
    const gate = this.fencing.ioGate();
    if (gate) return gate.then(() => this.submitWrite(offset, length, 'zeroes', undefined, fua));
    return this.submitWrite(offset, length, 'zeroes', undefined, fua);
  }

  // ---------------------------------------------------------------- range lock and activity log

  private submitWrite(offset: number, length: number, kind: DataMsg['kind'], payload: Buffer | undefined, fua: boolean): Promise<void> {
    const ctx = this.ctx;
    try {
      ctx.assertServing();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const hold = ctx.lock.acquire(offset, length);
    const dev = ctx.localDev();
    const md = ctx.md;
    if (typeof hold === 'function' && kind === 'write' && !fua && dev && md && length <= dev.inlineLimit) {
      let al: Promise<void> | null;
      try {
        al = md.markActive(offset, length);
      } catch (err) {
        al = Promise.reject(err as Error);
      }
      if (al === null) return this.writeInline(offset, payload!, dev, md, hold);
      return this.submitWriteHeld(offset, length, kind, payload, fua, hold, al);
    }
    return this.submitWriteHeld(offset, length, kind, payload, fua, hold, undefined);
  }

  // ---------------------------------------------------------------- the common write, inline

  /**
   * The common write: a small buffered write to a hot AL extent, not overlapping anything in
   * flight. Sent to the peer, written locally on this thread (BlockDevice.inlineLimit), completed
   * by the peer's ack through a callback: one Promise per request instead of a chain of them.
   * Same outcomes as submitWriteHeld.
   */
  private writeInline(offset: number, payload: Buffer, dev: BlockDevice, md: ResourceMetadata, release: Release): Promise<void> {
    const ctx = this.ctx;
    const length = payload.length;
    ctx.counters.ap++;
    return new Promise<void>((resolve, reject) => {
      let localErr: Error | null = null;
      let settled = false;
      const finish = (err: Error | null): void => {
        if (settled) return;
        settled = true;
        ctx.counters.ap--;
        release();
        if (err) reject(err);
        else resolve();
      };
      const conn = ctx.peerWritable() ? ctx.conn : null;
      let needs: AckLevel = 'none';
      if (conn) {
        needs = ctx.ackLevel();
        const seq = ctx.pending.addListener(offset, length, needs, (level, outcome) => {
          // DRBD completes a write whose local part failed as successful when the peer wrote it
          if (localErr) {
            if (level === 'done') finish(outcome === 'ok' ? null : localErr);
          } else if ((level === 'done' && needs === 'write') || (level === 'recv' && needs === 'recv')) finish(null);
        });
        conn.send({ type: 'data', seq, offset, length, kind: 'write', fua: false, payload });
        ctx.counters.ns += length / 1024;
        ctx.counters.pe = ctx.pending.size;
      } else {
        md.bitmap.setRange(offset, length);
        ctx.counters.oos = ctx.oosKiB();
      }
      const writeLocal = (): void => {
        const err = dev.writeSync(offset, payload);
        if (err) {
          localErr = err;
          md.bitmap.setRange(offset, length);
          ctx.onLocalIoError(err, 'write');
          if (!conn) finish(err);
          return;
        }
        ctx.counters.dw += length / 1024;
        if (needs === 'none') finish(null);
      };
      // The frame to the peer leaves when the link uncorks at the end of this tick; writing locally
      // after that (the next tick callback, still before any ack can be read) overlaps the local
      // pwrite with the peer's hop instead of delaying the frame by it: depth-1 latency.
      if (conn) process.nextTick(writeLocal);
      else writeLocal();
    });
  }

  // ---------------------------------------------------------------- every other write

  private async submitWriteHeld(offset: number, length: number, kind: DataMsg['kind'], payload: Buffer | undefined, fua: boolean, hold: Release | Promise<Release>, alStarted: Promise<void> | undefined): Promise<void> {
    const ctx = this.ctx;
    const release = typeof hold === 'function' ? hold : await hold;
    ctx.counters.ap++;
    try {
      const dev = ctx.localDev();
      const md = ctx.md;
      const conn = ctx.peerWritable() ? ctx.conn : null;
      if (!dev || !md) {
        // Diskless: the peer's disk is the only copy
        if (!conn || ctx.state.peerDisk !== 'UpToDate') {
          throw new StorageError('no local disk (Diskless) and no UpToDate peer is connected', { code: 'EIO', op: 'write', offset, path: ctx.name });
        }
        const p = ctx.pending.add(offset, length, 'write');
        conn.send({ type: 'data', seq: p.seq, offset, length, kind, fua, payload });
        ctx.counters.ns += length / 1024;
        if ((await p.done) !== 'ok') throw new StorageError('the peer could not write the block', { code: 'EIO', op: 'write', offset, path: ctx.name });
        return;
      }
      // the activity log: the extent is recorded as hot before the block may change
      let localErr: Error | null = null;
      try {
        const al = alStarted ?? md.markActive(offset, length);
        if (al) {
          ctx.counters.al++;
          await al;
        }
      } catch (err) {
        localErr = err as Error;
        ctx.onLocalIoError(localErr, 'activity log write');
      }
      // to the peer, or into the bitmap when its disk cannot take it
      let peer: Promise<unknown> | null = null;
      let peerDone: Promise<string> | null = null;
      if (conn && ctx.conn === conn) {
        const needs = ctx.ackLevel();
        const p = ctx.pending.add(offset, length, needs);
        conn.send({ type: 'data', seq: p.seq, offset, length, kind, fua, payload });
        ctx.counters.ns += length / 1024;
        ctx.counters.pe = ctx.pending.size;
        peerDone = p.done;
        if (needs === 'write') peer = p.done;
        else if (needs === 'recv') peer = p.received;
      } else {
        md.bitmap.setRange(offset, length);
        ctx.counters.oos = ctx.oosKiB();
      }
      // the local write
      if (!localErr) {
        try {
          await this.disk.writeLocal(dev, offset, length, kind, payload, fua);
          ctx.counters.dw += length / 1024;
        } catch (err) {
          localErr = err as Error;
          md.bitmap.setRange(offset, length);
          ctx.onLocalIoError(localErr, 'write');
        }
      }
      // completion at the protocol's ack level
      if (localErr) {
        // DRBD completes a write whose local part failed as successful when the peer wrote it
        if (!peerDone || (await peerDone) !== 'ok') throw localErr;
        return;
      }
      if (peer) await peer;
    } finally {
      ctx.counters.ap--;
      release();
    }
  }

  // ---------------------------------------------------------------- flush

  async flush(): Promise<void> {
    const ctx = this.ctx;
    const gate = this.fencing.ioGate();
    if (gate) await gate;
    ctx.assertServing();
    const dev = ctx.localDev();
    const conn = ctx.peerWritable() ? ctx.conn : null;
    if (!dev && !conn) throw new StorageError('no local disk (Diskless) and no peer to flush', { code: 'EIO', op: 'flush', offset: 0, path: ctx.name });
    let peer: Promise<string> | null = null;
    if (conn) {
      const p = ctx.pending.add(0, 0, 'write');
      conn.send({ type: 'flush', seq: p.seq });
      peer = p.done;
    }
    let localErr: Error | null = null;
    if (dev) {
      try {
        await dev.flush();
      } catch (err) {
        localErr = err as Error;
        ctx.onLocalIoError(localErr, 'flush');
      }
    }
    const peerOutcome = peer ? await peer : null;
    if (localErr && peerOutcome !== 'ok') throw localErr;
    if (!dev && peerOutcome !== 'ok') throw new StorageError('the peer could not flush', { code: 'EIO', op: 'flush', offset: 0, path: ctx.name });
  }

  // ---------------------------------------------------------------- the peer's acks complete them

  onRecvAck(seq: number): void {
    if (!this.ctx.pending.recvAck(seq)) this.ctx.log.warn({ seq }, 'recv-ack for unknown request dropped');
  }

  onWriteAck(seq: number, ok: boolean): void {
    const ctx = this.ctx;
    const op = ctx.pending.writeAck(seq, ok);
    if (!op) ctx.log.warn({ seq }, 'write-ack for unknown request dropped');
    else if (!ok) ctx.md?.bitmap.setRange(op.offset, op.length);
    ctx.counters.pe = ctx.pending.size;
  }

  onWriteAcks(seqs: readonly number[]): void {
    const ctx = this.ctx;
    for (const seq of seqs) {
      if (!ctx.pending.writeAck(seq, true)) ctx.log.warn({ seq }, 'write-ack for unknown request dropped');
    }
    ctx.counters.pe = ctx.pending.size;
  }

  onFlushAck(seq: number, ok: boolean): void {
    const op = this.ctx.pending.writeAck(seq, ok);
    if (!op) this.ctx.log.warn({ seq }, 'flush-ack for unknown request dropped');
  }
}
