// ipfail's rule between two runners on a fake network with a manual clock: each node's pinger is
// simulated by feeding onPingReply every keepalive while its ping node is reachable from it. After
// every 20 ms step the test checks that no resource runs on both nodes.
import { describe, expect, it } from 'vitest';
import { parseHaCf, unwrap } from '../../../src/config/heartbeat/index.js';
import { DEFAULT_EXTENSIONS } from '../../../src/cluster/ha-extensions.js';
import { Cluster } from './runner-sim.js';
import { renderHbStatus } from '../../../src/cluster/status-text.js';

const HA_CF = unwrap(parseHaCf('keepalive 100ms\ndeadtime 500ms\nwarntime 300ms\ninitdead 1\nudpport 7000\nucast eth0 10.0.0.1\nucast eth0 10.0.0.2\nnode node1 node2\nauto_failback on\nlogfile /dev/null\nping 10.0.0.254\nping_group uplinks 192.0.2.1 192.0.2.2\n'));

async function started(): Promise<Cluster> {
  const c = new Cluster(DEFAULT_EXTENSIONS, false, HA_CF).boot('node1').boot('node2');
  await c.until(() => c.holds('node1', 'a') && c.holds('node2', 'c'), 3000);
  await c.run(600); // ping_state exchanged
  for (const n of ['node1', 'node2'] as const) c.sim(n).ops.length = 0;
  return c;
}

describe('tandem-hb runner: ping nodes (ipfail)', () => {
  it('node1 loses its ping node while node2 still sees it: the group moves to node2 once, in order', async () => {
    const c = await started();
    c.reach.get('node1')!.delete('10.0.0.254');
    const took = await c.until(() => c.holds('node2', 'a'), 3000);
    // lost after deadping, given up after settling, then stop + grant + start
    expect(took).toBeGreaterThanOrEqual(HA_CF.deadpingMs);
    expect(took).toBeLessThan(HA_CF.deadpingMs + 1000);
    expect(c.sim('node1').ops).toEqual(['stop rec::b', 'stop rec::a']);
    expect(c.sim('node2').ops).toEqual(['start rec::a', 'start rec::b']);
    expect(c.holds('node2', 'c')).toBe(true);
    // `tandem-hb status` names the ping nodes and both counts
    const text = renderHbStatus(c.sim('node1').runner.snapshot());
    expect(text).toContain('Ping Nodes (ipfail: node1 sees 1 of 2, node2 sees 2):\n  * 10.0.0.254: UNREACHABLE\n  * uplinks: reachable\n');
    const story = c.opsText.filter((l) => l.startsWith('node1'));
    expect(story).toContain('node1 error: Network to 10.0.0.254 is unreachable.');
    expect(story.some((l) => l.includes('Giving up because we have less visible ping nodes. (1 of 2, node2 sees 2)'))).toBe(true);
    expect(c.opsText.some((l) => l.startsWith('node2 info: Telling other node that we have more visible ping nodes.'))).toBe(true);

    // The ping node answers again: counts are equal, nothing moves back (ipfail), even with auto_failback on.
    c.reach.get('node1')!.add('10.0.0.254');
    await c.run(2000);
    expect(c.holds('node2', 'a')).toBe(true);
    expect(c.sim('node1').ops).toEqual(['stop rec::b', 'stop rec::a']);
    expect(c.opsText).toContain('node1 info: Network to 10.0.0.254 is reachable again.');
  });

  it('one member of a ping_group down changes nothing: the group is still visible', async () => {
    const c = await started();
    c.reach.get('node1')!.delete('192.0.2.1');
    await c.run(2000);
    expect(c.holds('node1', 'a')).toBe(true);
    expect(c.sim('node1').ops).toEqual([]);
    expect(c.sim('node2').ops).toEqual([]);
  });

  it('the ping node dies for both nodes: equal counts, nothing moves', async () => {
    const c = await started();
    c.reach.get('node1')!.delete('10.0.0.254');
    await c.run(60); // node1 notices first, within a probe interval
    c.reach.get('node2')!.delete('10.0.0.254');
    await c.run(3000);
    expect(c.holds('node1', 'a')).toBe(true);
    expect(c.holds('node2', 'c')).toBe(true);
    expect(c.sim('node1').ops).toEqual([]);
    expect(c.sim('node2').ops).toEqual([]);
    expect(c.opsText.some((l) => l.includes('Giving up'))).toBe(false);
  });

  it('then node2 loses its ping group while node1 sees everything again: the groups go to node1', async () => {
    const c = await started();
    c.reach.get('node1')!.delete('10.0.0.254');
    await c.until(() => c.holds('node2', 'a'), 3000);
    c.reach.get('node1')!.add('10.0.0.254');
    c.reach.get('node2')!.delete('192.0.2.1');
    c.reach.get('node2')!.delete('192.0.2.2');
    await c.until(() => c.holds('node1', 'a') && c.holds('node1', 'c'), 4000);
    expect(c.running.get('node2')!.size).toBe(0);
  });
});
