// The writer: self-describing blocks to the Primary, through NBD or through its kernel block
// device with O_DIRECT, `depth` requests in flight, one per block at a time, every outcome
// recorded in the ledger. A completed write is an acknowledgement; an error or a dropped
// connection leaves the write's fate unknown.
import { connect } from '../../src/nbd/client.js';
import { BlockDevice } from '../../src/storage/block-device.js';
import { BLOCK_SIZE, encodeBlock } from './block-format.js';
import type { WriteLedger } from './ledger.js';
import type { Prng } from './prng.js';

export interface WriterOptions {
  blocks: number;
  depth: number;
}

/** Where the writes go: an NBD connection or an open block device. */
export interface WriteTarget {
  write(offset: number, data: Buffer): Promise<void>;
  /** after the writes in flight have finished */
  close(): Promise<void>;
  /** drop it: writes in flight end with an error (if `cancellable`), later ones are refused */
  destroy(): void;
  /** destroy() ends the writes in flight (an NBD connection); a block device must answer them itself */
  readonly cancellable: boolean;
}

/** The Primary's export over NBD. */
export async function nbdTarget(socketPath: string): Promise<WriteTarget> {
  const c = await connect(socketPath, 'r0');
  return { write: (o, d) => c.write(o, d), close: () => c.close().catch(() => c.destroy()), destroy: () => c.destroy(), cancellable: true };
}

/**
 * The Primary's kernel device (the config's `device` symlink), opened O_DIRECT: a write completes
 * when the loop device has completed it, i.e. when tandemd answered it. Each write is copied into
 * an aligned buffer of its own first, so O_DIRECT takes it as it is.
 */
export function deviceTarget(devicePath: string): WriteTarget {
  const dev = BlockDevice.open(devicePath, { direct: true });
  let closed = false;
  const close = (): void => {
    if (!closed) dev.close();
    closed = true;
  };
  return {
    write: (o, d) => {
      const buf = dev.allocAligned(d.length);
      d.copy(buf);
      return dev.write(o, buf);
    },
    // the device cannot cancel a request: one in flight ends with the device's answer or its error
    close: async () => close(),
    destroy: close,
    cancellable: false,
  };
}

export class Writer {
  private stopping = false;
  private failure: Error | null = null;
  private workers: Promise<void>[] = [];
  private acksAtStart: number;
  private waiters: Array<() => void> = [];

  private constructor(
    private readonly client: WriteTarget,
    private readonly ledger: WriteLedger,
    private readonly rng: Prng,
    private readonly opts: WriterOptions,
  ) {
    this.acksAtStart = ledger.acknowledged;
  }

  static async start(target: WriteTarget | Promise<WriteTarget>, ledger: WriteLedger, rng: Prng, opts: WriterOptions): Promise<Writer> {
    const client = await target;
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

  /**
   * Drop the connection: writes in flight end with an error (their fate stays unknown). On a block
   * device they end when the device answers them (after a crash of its server: at once, with EIO).
   */
  async abort(): Promise<void> {
    this.stopping = true;
    if (this.client.cancellable) this.client.destroy();
    await Promise.all(this.workers);
    this.client.destroy();
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
