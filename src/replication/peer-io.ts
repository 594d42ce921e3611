// Writes sent to the peer and waiting for its answer. When the link drops, whatever the peer did
// not confirm is handed back so the caller marks it out of sync: an acknowledged write is then on
// the local disk and recorded in the bitmap, which the next resync sends.

export type AckLevel = 'none' | 'recv' | 'write';

export interface PendingPeerOp {
  seq: number;
  offset: number;
  length: number;
  /** what completes this op for the client: protocol C waits for 'write', B for 'recv', A for nothing */
  needs: AckLevel;
  recvAcked: boolean;
  resolve: (outcome: PeerOutcome) => void;
  resolveRecv: (outcome: PeerOutcome) => void;
}

/** 'ok': the peer has it; 'lost': the link dropped first; 'failed': the peer's disk failed */
export type PeerOutcome = 'ok' | 'lost' | 'failed';

export class PeerPending {
  private nextSeq = 1;
  private readonly ops = new Map<number, PendingPeerOp>();

  get size(): number {
    return this.ops.size;
  }

  /** Registers an op; the returned promise settles when the peer's answer (or a drop) arrives. */
  add(offset: number, length: number, needs: AckLevel): { seq: number; done: Promise<PeerOutcome>; received: Promise<PeerOutcome> } {
    const seq = this.nextSeq++;
    let resolve!: (o: PeerOutcome) => void;
    let resolveRecv!: (o: PeerOutcome) => void;
    const done = new Promise<PeerOutcome>((r) => (resolve = r));
    const received = new Promise<PeerOutcome>((r) => (resolveRecv = r));
    this.ops.set(seq, { seq, offset, length, needs, recvAcked: false, resolve, resolveRecv });
    return { seq, done, received };
  }

  /** Protocol B: received by the peer. Returns false for an unknown seq (a stray or forged ack). */
  recvAck(seq: number): boolean {
    const op = this.ops.get(seq);
    if (!op) return false;
    op.recvAcked = true;
    op.resolveRecv('ok');
    return true;
  }

  /** The peer wrote it (ok) or failed to (not ok). Returns the op, or undefined for an unknown seq. */
  writeAck(seq: number, ok: boolean): PendingPeerOp | undefined {
    const op = this.ops.get(seq);
    if (!op) return undefined;
    this.ops.delete(seq);
    op.resolveRecv(ok ? 'ok' : 'failed');
    op.resolve(ok ? 'ok' : 'failed');
    return op;
  }

  /** The link dropped: every op the peer did not confirm is returned (to be marked out of sync). */
  dropAll(): PendingPeerOp[] {
    const lost = [...this.ops.values()];
    this.ops.clear();
    for (const op of lost) {
      op.resolveRecv('lost');
      op.resolve('lost');
    }
    return lost;
  }
}
