// Reads a Primary sends to its peer because its own copy is unusable (Diskless after a disk
// failure, a block still out of sync on a SyncTarget, a local read error): DRBD's P_DATA_REQUEST /
// P_DATA_REPLY. Each read waits for the reply with its sequence number; a dropped link fails them all.

export class PeerReadError extends Error {}

interface Pending {
  offset: number;
  length: number;
  resolve: (data: Buffer) => void;
  reject: (err: Error) => void;
}

export class PeerReads {
  private nextSeq = 1;
  private readonly ops = new Map<number, Pending>();

  get size(): number {
    return this.ops.size;
  }

  add(offset: number, length: number): { seq: number; done: Promise<Buffer> } {
    const seq = this.nextSeq++;
    const done = new Promise<Buffer>((resolve, reject) => this.ops.set(seq, { offset, length, resolve, reject }));
    return { seq, done };
  }

  /** The peer's answer. Returns false for an unknown seq or a reply that does not match the request. */
  reply(seq: number, offset: number, ok: boolean, payload: Buffer): boolean {
    const op = this.ops.get(seq);
    if (!op) return false;
    this.ops.delete(seq);
    if (!ok) {
      op.reject(new PeerReadError(`the peer could not read ${op.length} bytes at offset ${op.offset}`));
      return true;
    }
    if (offset !== op.offset || payload.length !== op.length) {
      op.reject(new PeerReadError(`the peer answered a read of ${op.length} bytes at ${op.offset} with ${payload.length} bytes at ${offset}`));
      return false;
    }
    op.resolve(payload);
    return true;
  }

  failAll(reason: string): void {
    const all = [...this.ops.values()];
    this.ops.clear();
    for (const op of all) op.reject(new PeerReadError(`read of ${op.length} bytes at offset ${op.offset} through the peer failed: ${reason}`));
  }
}
