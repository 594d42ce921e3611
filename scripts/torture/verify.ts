// Reads the working set back through NBD and holds every block against the ledger.
import { connect } from '../../src/nbd/client.js';
import { BLOCK_SIZE, decodeBlock } from './block-format.js';
import type { BlockVerdict, WriteLedger } from './ledger.js';

export interface VerifyOutcome {
  /** blocks that had an acknowledged version and were compared against it */
  checked: number;
  lost: number;
  /** the acknowledged writes found missing, as `block@vVERSION` */
  lostWrites: string[];
  torn: number;
  anomalies: number;
  unackedVisible: number;
  examples: string[];
}

export function tally(verdicts: readonly BlockVerdict[], ledger: WriteLedger, blocksRead: readonly number[]): VerifyOutcome {
  const o: VerifyOutcome = { checked: 0, lost: 0, lostWrites: [], torn: 0, anomalies: 0, unackedVisible: 0, examples: [] };
  verdicts.forEach((v, i) => {
    if (ledger.ackedVersion(blocksRead[i]!) > 0) o.checked++;
    switch (v.kind) {
      case 'ok':
        if (v.unackedVisible) o.unackedVisible++;
        break;
      case 'lost':
        o.lost++;
        o.lostWrites.push(`${v.block}@v${v.acked}`);
        if (o.examples.length < 10) o.examples.push(`block ${v.block}: acknowledged v${v.acked}, read ${v.found}`);
        break;
      case 'torn':
        o.torn++;
        break;
      case 'anomaly':
        o.anomalies++;
        if (o.examples.length < 10) o.examples.push(`block ${v.block}: never acknowledged, read ${v.found} (not written by this run)`);
        break;
    }
  });
  return o;
}

export async function verifyThroughNbd(socketPath: string, ledger: WriteLedger, blocks: number, depth = 32): Promise<VerifyOutcome> {
  const client = await connect(socketPath, 'r0');
  try {
    const order = Array.from({ length: blocks }, (_, i) => i);
    const verdicts: BlockVerdict[] = new Array(blocks);
    let next = 0;
    await Promise.all(Array.from({ length: depth }, async () => {
      while (next < order.length) {
        const b = order[next++]!;
        verdicts[b] = ledger.check(b, decodeBlock(await client.read(b * BLOCK_SIZE, BLOCK_SIZE)));
      }
    }));
    return tally(verdicts, ledger, order);
  } finally {
    await client.close().catch(() => client.destroy());
  }
}
