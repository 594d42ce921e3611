// Writes sent to the peer and waiting for its answer. When the link drops, whatever the peer did
// not confirm is handed back so the caller marks it out of sync: an acknowledged write is then on
// the local disk and recorded in the bitmap, which the next resync sends.

export type AckLevel = 'none' | 'recv' | 'write';

/** 'ok': the peer has it; 'lost': the link dropped first; 'failed': the peer's disk failed */
export type PeerOutcome = 'ok' | 'lost' | 'failed';

/**
 * Told of the peer's answers: 'recv' once (received, or lost/failed before that), then 'done'
 * once (written, failed or lost). Never called synchronously from add/addListener.
 */
export type PeerListener = (level: 'recv' | 'done', outcome: PeerOutcome) => void;

export interface PendingPeerOp {
  seq: number;
  offset: number;
  length: number;
  /** what completes this op for the client: protocol C waits for 'write', B for 'recv', A for nothing */
  needs: AckLevel;
  recvAcked: boolean;
  listener: PeerListener;
}

export class PeerPending {
  private nextSeq = 1;
  private readonly ops = new Map<number, PendingPeerOp>();

  get size(): number {
    return this.ops.size;
  }

  /** Registers an op; the returned promises settle when the peer's answer (or a drop) arrives. */
  add(offset: number, length: number, needs: AckLevel): { seq: number; done: Promise<PeerOutcome>; received: Promise<PeerOutcome> } {
    let resolve!: (o: PeerOutcome) => void;
    let resolveRecv!: (o: PeerOutcome) => void;
    const done = new Promise<PeerOutcome>((r) => (resolve = r));
    const received = new Promise<PeerOutcome>((r) => (resolveRecv = r));
    const seq = this.addListener(offset, length, needs, (level, o) => (level === 'recv' ? resolveRecv(o) : resolve(o)));
    return { seq, done, received };
  }

  /** Registers an op with a callback instead of Promises (the write hot path); returns its seq. */
  addListener(offset: number, length: number, needs: AckLevel, listener: PeerListener): number {
    const seq = this.nextSeq++;
    this.ops.set(seq, { seq, offset, length, needs, recvAcked: false, listener });
    return seq;
  }

  /** Protocol B: received by the peer. Returns false for an unknown seq (a stray or forged ack). */
  recvAck(seq: number): boolean {
    const op = this.ops.get(seq);
    if (!op) return false;
    if (!op.recvAcked) {
      op.recvAcked = true;
      op.listener('recv', 'ok');
    }
    return true;
  }

  /** The peer wrote it (ok) or failed to (not ok). Returns the op, or undefined for an unknown seq. */
  writeAck(seq: number, ok: boolean): PendingPeerOp | undefined {
    const op = this.ops.get(seq);
    if (!op) return undefined;
    this.ops.delete(seq);
    const outcome: PeerOutcome = ok ? 'ok' : 'failed';
    if (!op.recvAcked) {
      op.recvAcked = true;
      op.listener('recv', outcome);
    }
    op.listener('done', outcome);
    return op;
  }

  /** The op waiting longest for the peer (seqs grow and the Map keeps insertion order). */
  oldestSeq(): number | undefined {
    for (const seq of this.ops.keys()) return seq;
    return undefined;
  }

  /** The link dropped: every op the peer did not confirm is returned (to be marked out of sync). */
  dropAll(): PendingPeerOp[] {
    const lost = [...this.ops.values()];
    this.ops.clear();
    for (const op of lost) {
      if (!op.recvAcked) op.listener('recv', 'lost');
      op.listener('done', 'lost');
    }
    return lost;
  }
}
