// What the options table promises, on real processes: protocol A completes a write the peer has
// not received yet, protocol B one it received but has not written, protocol C neither (a
// SIGSTOPped Secondary receives nothing into the process and acks nothing); external meta-disk
// through the daemon; two resources in one tandemd; `adjust` applying a new resync rate.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { Pair, disksEqual, freePort, waitFor, type Node } from '../helpers/two-nodes.js';
import { BLOCK, openNbd, pattern } from '../helpers/blocks.js';
import { connect as connectNbd } from '../../src/nbd/client.js';

let pair: Pair | null = null;
let stopped: Node | null = null;
afterEach(async () => {
  if (stopped?.proc?.pid) process.kill(stopped.proc.pid, 'SIGCONT');
  stopped = null;
  await pair?.destroy();
  pair = null;
});

const MiB = 1024 * 1024;

/** Does a write complete while the Secondary is stopped? Resolves true/false within the window. */
async function completesWhilePeerStopped(protocol: 'A' | 'B' | 'C'): Promise<boolean> {
  // generous timeouts: nobody may drop the stopped peer during the window
  pair = await Pair.create({ sizeMiB: 16, protocol, net: 'ping-int 10; ping-timeout 100; ko-count 0;' });
  const { node1, node2 } = pair;
  await pair.initialSync();
  const client = await openNbd(node1);
  try {
    await client.write(0, pattern('warm', 0));
    process.kill(node2.proc!.pid!, 'SIGSTOP');
    stopped = node2;
    let done = false;
    const w = client.write(BLOCK, pattern(protocol, 1)).then(() => (done = true));
    await waitFor(() => done, 1500, 'the write').catch(() => undefined);
    const result = done;
    process.kill(node2.proc!.pid!, 'SIGCONT');
    stopped = null;
    await w;
    await client.flush();
    expect(node2.readDisk(BLOCK, BLOCK).equals(pattern(protocol, 1))).toBe(true);
    return result;
  } finally {
    await client.close();
  }
}

describe('protocols A, B and C', () => {
  it('A: a write completes while the Secondary is stopped (queued to the peer); after SIGCONT both disks have it', async () => {
    expect(await completesWhilePeerStopped('A')).toBe(true);
  });
  it('B: a write waits for the stopped Secondary to receive it', async () => {
    expect(await completesWhilePeerStopped('B')).toBe(false);
  });
  it('C: a write waits for the stopped Secondary to write it', async () => {
    expect(await completesWhilePeerStopped('C')).toBe(false);
  });
});

describe('external meta-disk through the daemon', () => {
  it("meta-disk FILE [0]: the whole backing file is data; the metadata lives in the index's 128 MiB slot", async () => {
    pair = await Pair.create({ sizeMiB: 16 });
    let text = fs.readFileSync(pair.config, 'utf8');
    for (const n of ['node1', 'node2']) {
      const md = path.join(pair.dir, `md-${n}.img`);
      fs.writeFileSync(md, '');
      fs.truncateSync(md, 128 * MiB);
      const at = text.indexOf(`on ${n} {`);
      const end = text.indexOf('}', at);
      text = text.slice(0, at) + text.slice(at, end).replace('meta-disk internal;', `meta-disk ${md} [0];`) + text.slice(end);
    }
    fs.writeFileSync(pair.config, text);
    await pair.initialSync();
    const st = await pair.node1.status() as { sizeBytes?: number };
    expect(st.sizeBytes).toBe(16 * MiB);
    const client = await openNbd(pair.node1);
    try {
      await client.write(16 * MiB - BLOCK, pattern('last', 0)); // the very last block is data now
      await client.flush();
    } finally {
      await client.close();
    }
    expect(pair.node2.readDisk(16 * MiB - BLOCK, BLOCK).equals(pattern('last', 0))).toBe(true);
    expect(disksEqual(pair.node1, pair.node2, 0, 16 * MiB)).toBe(true);
  });
});

describe('two resources in one tandemd', () => {
  it('r0 and r1 replicate independently, each on its own NBD export', async () => {
    pair = await Pair.create({ sizeMiB: 16 });
    const [p1, p2] = [await freePort(), await freePort()];
    const disk = (n: string) => {
      const f = path.join(pair!.dir, `r1-${n}.img`);
      fs.writeFileSync(f, '');
      fs.truncateSync(f, 16 * MiB);
      return f;
    };
    const r1 = `resource r1 {
  protocol C;
  net { ping-int 1; connect-int 1; }
  on node1 { device ${path.join(pair.dir, 'dev-node1', 'tandem1')}; disk ${disk('node1')}; address 127.0.0.1:${p1}; meta-disk internal; }
  on node2 { device ${path.join(pair.dir, 'dev-node2', 'tandem1')}; disk ${disk('node2')}; address 127.0.0.1:${p2}; meta-disk internal; }
}
`;
    fs.appendFileSync(pair.config, r1);
    const { node1, node2 } = pair;
    for (const n of pair.nodes) await n.admOk('create-md', 'r1');
    await pair.initialSync();
    for (const n of pair.nodes) await n.admOk('up', 'r1');
    await node1.admOk('wait-connect', 'r1', '--timeout', '30');
    await node1.admOk('primary', '--force', 'r1');
    await node1.admOk('wait-sync', 'r1', '--timeout', '60');
    const c0 = await openNbd(node1);
    const c1 = await connectNbd(path.join(node1.runDir, 'nbd', 'r1.sock'), 'r1');
    try {
      await c0.write(0, pattern('r0', 0));
      await c1.write(0, pattern('r1', 0));
      await c0.flush();
      await c1.flush();
    } finally {
      await c0.close();
      await c1.close();
    }
    expect(node2.readDisk(0, BLOCK).equals(pattern('r0', 0))).toBe(true);
    const r1disk = fs.readFileSync(path.join(pair.dir, 'r1-node2.img')).subarray(0, BLOCK);
    expect(r1disk.equals(pattern('r1', 0))).toBe(true);
    // the status file lists both minors
    await waitFor(() => /\n 0: cs:Connected/.test(fs.readFileSync(node2.statusFile, 'utf8')) && /\n 1: cs:Connected/.test(fs.readFileSync(node2.statusFile, 'utf8')), 5000, 'both minors in the status file');
    expect((await node2.adm('secondary', 'r1')).code).toBe(0);
  });
});

describe('adjust', () => {
  it('applies a new resync rate to a running resync', async () => {
    pair = await Pair.create({ sizeMiB: 32, rate: '1M' });
    const { node1, node2 } = pair;
    await pair.startInitialSync();
    await waitFor(() => / want: 1,024 K\/sec/.test(fs.readFileSync(node2.statusFile, 'utf8')), 10_000, 'SyncTarget at 1 MiB/s');
    fs.writeFileSync(pair.config, fs.readFileSync(pair.config, 'utf8').replace('syncer { rate 1M; }', 'syncer { rate 200M; }'));
    await node2.admOk('adjust', 'r0');
    await waitFor(() => / want: 204,800 K\/sec/.test(fs.readFileSync(node2.statusFile, 'utf8')) || (fs.readFileSync(node2.statusFile, 'utf8').includes('ds:UpToDate/UpToDate')), 10_000, 'the new rate');
    await node2.waitState((s) => s.disk === 'UpToDate', 'resync finished', 60_000);
    expect(disksEqual(node1, node2, 0, 31 * MiB)).toBe(true);
  });
});
