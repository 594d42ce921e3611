// The writer: self-describing blocks through NBD to the Primary, `depth` requests in flight, one
// per block at a time, every outcome recorded in the ledger. A reply without error is an
// acknowledgement; an error reply or a dropped connection leaves the write's fate unknown.
import { connect, type NbdClient } from '../../src/nbd/client.js';
import { BLOCK_SIZE, encodeBlock } from './block-format.js';
import type { WriteLedger } from './ledger.js';
import type { Prng } from './prng.js';

export interface WriterOptions {
  blocks: number;
  depth: number;
}

export class Writer {
  private stopping = false;
  private failure: Error | null = null;
  private workers: Promise<void>[] = [];
  private acksAtStart: number;
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly client: NbdClient,
    private readonly ledger: WriteLedger,
    private readonly rng: Prng,
    private readonly opts: WriterOptions,
  ) {
    this.acksAtStart = ledger.acknowledged;
  }

  static async start(socketPath: string, ledger: WriteLedger, rng: Prng, opts: WriterOptions): Promise<Writer> {
    const client = await connect(socketPath, 'r0');
    const w = new Writer(client, ledger, rng, opts);
    w.workers = Array.from({ length: opts.depth }, () => w.work());
    return w;
  }

  /** acknowledgements since this writer started */
  get acked(): number {
    return this.ledger.acknowledged - this.acksAtStart;
  }

  /** the first error that stopped the writer (the daemon went away), if any */
  get error(): Error | null {
    return this.failure;
  }

  get active(): boolean {
    return !this.stopping && this.failure === null;
  }

  /** Resolves once `n` more writes were acknowledged, or rejects after `timeoutMs`. */
  async waitAcks(n: number, timeoutMs: number, what: string): Promise<void> {
    const target = this.ledger.acknowledged + n;
    const deadline = Date.now() + timeoutMs;
    while (this.ledger.acknowledged < target) {
      if (this.failure) throw new Error(`writer stopped while waiting for ${what}: ${this.failure.message}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.ledger.acknowledged - (target - n)}/${n} acknowledged)`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Stop issuing, let the writes in flight finish, close the connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.workers);
    if (this.failure) this.client.destroy();
    else await this.client.close().catch(() => this.client.destroy());
  }

  /** Drop the connection: writes in flight end with an error (their fate stays unknown). */
  async abort(): Promise<void> {
    this.stopping = true;
    this.client.destroy();
    await Promise.all(this.workers);
  }

  private async work(): Promise<void> {
    while (!this.stopping && this.failure === null) {
      const block = this.pickBlock();
      if (block === null) {
        await new Promise((r) => setImmediate(r));
        continue;
      }
      const version = this.ledger.issue(block);
      try {
        await this.client.write(block * BLOCK_SIZE, encodeBlock({ runId: this.ledger.runId, block, version }));
        this.ledger.acknowledge(block, version);
        const ws = this.waiters;
        this.waiters = [];
        for (const w of ws) w();
      } catch (err) {
        this.ledger.unknownFate(block, version);
        this.failure ??= err as Error;
      }
    }
  }

  private pickBlock(): number | null {
    for (let i = 0; i < 8; i++) {
      const b = this.rng.int(0, this.opts.blocks - 1);
      if (!this.ledger.isBusy(b)) return b;
    }
    return null;
  }
}
