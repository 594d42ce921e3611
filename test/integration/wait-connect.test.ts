// startup { wfc-timeout; degr-wfc-timeout; wait-after-sb; } on real tandemd processes: which
// timeout `tandemadm wait-connect` uses (a node that crashed as a degraded Primary waits
// degr-wfc-timeout), and that a StandAlone resource ends the wait unless wait-after-sb.
import { afterEach, describe, expect, it } from 'vitest';
import { Pair } from '../helpers/two-nodes.js';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

describe('wait-connect with the startup timeouts', () => {
  it('wfc-timeout: gives up with exit 5 and names the timeout when the peer never comes', async () => {
    pair = await Pair.create({ sizeMiB: 8, startup: 'wfc-timeout 1;' });
    await pair.createMd();
    await pair.node1.start();
    await pair.node1.admOk('up', 'r0');
    const t0 = Date.now();
    const r = await pair.node1.adm('wait-connect', 'r0');
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/r0: timed out waiting for the connection after 1s \(wfc-timeout; cs:WFConnection\)/);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    // an explicit --wfc-timeout on the command line wins, as with drbdsetup
    expect((await pair.node1.adm('wait-connect', 'r0', '--wfc-timeout', '0.2')).stderr).toMatch(/after 0.2s \(wfc-timeout/);
  });

  it('degr-wfc-timeout: a node that crashed while Primary without its peer waits degr-wfc-timeout, not wfc-timeout', async () => {
    // wfc-timeout 0 waits forever: only the degraded choice can end this wait
    pair = await Pair.create({ sizeMiB: 8, startup: 'wfc-timeout 0; degr-wfc-timeout 1;' });
    const { node1, node2 } = pair;
    await pair.startInitialSync();
    await node1.waitState((s) => s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'initial sync', 60_000);
    // the peer dies: node1 runs on as a degraded Primary (PRIMARY_IND, no CONNECTED_IND), then crashes
    await node2.kill();
    await node1.waitState((s) => s.cs === 'WFConnection', 'node1 noticed the loss');
    await node1.kill();
    await node1.start();
    await node1.admOk('up', 'r0');
    const r = await node1.adm('wait-connect', 'r0');
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/after 1s \(degr-wfc-timeout; cs:WFConnection\)/);
  });

  it('wait-after-sb: a StandAlone resource ends the wait at once (exit 0, with the reason) unless wait-after-sb', async () => {
    pair = await Pair.create({ sizeMiB: 8 });
    await pair.createMd();
    await pair.node1.start();
    await pair.node1.admOk('up', 'r0');
    await pair.node1.admOk('disconnect', 'r0');
    const r = await pair.node1.adm('wait-connect', 'r0');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/r0 is StandAlone: it refuses to connect .*not waiting \(startup \{ wait-after-sb; \} would\)/);
    const waiting = await pair.node1.adm('wait-connect', 'r0', '--wait-after-sb', '--timeout', '1');
    expect(waiting.code).toBe(5);
    expect(waiting.stderr).toMatch(/timed out waiting for the connection after 1s \(--timeout; cs:StandAlone\)/);
  });
});
