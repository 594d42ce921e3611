// A Secondary that stops answering (SIGSTOP: its sockets stay open, nothing is read or acked).
// net { timeout; ko-count; }: the Primary's write that the peer never completes expels the peer
// after ko-count × timeout, the write completes on the local disk (marked out of sync) and
// writes go on degraded; net { ping-int; ping-timeout; } with ko-count 0: the unanswered ping
// drops the peer. After SIGCONT the pair reconnects and resyncs to identical disks.
import { afterEach, describe, expect, it } from 'vitest';
import { Pair, disksEqual, waitFor, type Node } from '../helpers/two-nodes.js';
import { BLOCK, openNbd, pattern } from '../helpers/blocks.js';

let pair: Pair | null = null;
let stopped: Node | null = null;
afterEach(async () => {
  if (stopped?.proc?.pid) process.kill(stopped.proc.pid, 'SIGCONT');
  stopped = null;
  await pair?.destroy();
  pair = null;
});

function sigstop(n: Node): void {
  process.kill(n.proc!.pid!, 'SIGSTOP');
  stopped = n;
}
function sigcont(n: Node): void {
  process.kill(n.proc!.pid!, 'SIGCONT');
  stopped = null;
}

async function expelledPeerScenario(net: string, expectLog: RegExp): Promise<void> {
  pair = await Pair.create({ sizeMiB: 16, net });
  const { node1, node2 } = pair;
  await pair.initialSync();
  const client = await openNbd(node1);
  try {
    await client.write(0, pattern('before', 0));
    sigstop(node2);
    // protocol C: this write waits for a peer that will never answer until it is dropped
    await client.write(BLOCK, pattern('stalled', 1));
    await node1.waitState((s) => s.cs === 'WFConnection' && s.role === 'Primary', 'node1 dropped the peer');
    expect(node1.logs).toMatch(expectLog);
    // writes go on degraded, and what the peer lacks is out of sync
    await client.write(2 * BLOCK, pattern('degraded', 2));
    const st = await node1.status();
    expect(st.peerDisk).toBe('DUnknown');
    expect(st.dirtyBits).toBeGreaterThanOrEqual(2);
    expect((await client.read(BLOCK, BLOCK)).equals(pattern('stalled', 1))).toBe(true);
  } finally {
    await client.close().catch(() => undefined);
  }
  sigcont(node2);
  await node1.waitState((s) => s.cs === 'Connected' && s.peerDisk === 'UpToDate', 'reconnected and resynced', 60_000);
  expect(disksEqual(node1, node2, 0, 16 * 1024 * 1024 - 64 * 1024)).toBe(true);
  expect(node2.readDisk(2 * BLOCK, BLOCK).equals(pattern('degraded', 2))).toBe(true);
}

describe('a Secondary that stops acknowledging (SIGSTOP)', () => {
  it('ko-count × timeout expels it; the write completes locally and writes go on degraded', async () => {
    // timeout 1 s, ko-count 2: expelled after 2-3 s, long before ping-int 10 s + ping-timeout 3 s
    await expelledPeerScenario('ping-int 10; ping-timeout 30; timeout 10; ko-count 2;',
      /Remote failed to finish a request within ko-count \* timeout/);
  });

  it('ping-timeout drops it when ko-count is 0 (disabled)', async () => {
    // ko-count 0 with a 1 s timeout: only the ping can notice
    await expelledPeerScenario('ping-int 1; ping-timeout 5; timeout 10; ko-count 0;', /PingAck did not arrive in time/);
  });
});
