// The runner between two nodes on a fake network with a manual clock: heartbeats, control
// messages and agent operations flow as in the daemon, but every packet, link and failure is
// scripted. After every step the test checks that no resource runs on both nodes (unless the
// scenario is a partition that the nodes cannot see across).
import { describe, expect, it } from 'vitest';
import { DEFAULT_EXTENSIONS, type HbExtensions } from '../../../src/cluster/ha-extensions.js';
import { renderHbStatus, type HbStatusSnapshot } from '../../../src/cluster/status-text.js';
import { Cluster, HA_CF } from './runner-sim.js';

async function started(ext?: HbExtensions, stonith = false): Promise<Cluster> {
  const c = new Cluster(ext, stonith).boot('node1').boot('node2');
  await c.until(() => c.holds('node1', 'a') && c.holds('node2', 'c'), 3000);
  return c;
}

describe('tandem-hb runner (two nodes, fake network)', () => {
  it('each node starts the groups it prefers, left to right, and reports them crm_mon style', async () => {
    const c = await started();
    expect(c.sim('node1').ops).toEqual(['start rec::a', 'start rec::b']);
    expect(c.sim('node2').ops).toEqual(['start rec::c']);
    await c.run(600); // the peer's rsc_state announcing what it holds
    const text = renderHbStatus(c.sim('node1').runner.snapshot() as HbStatusSnapshot);
    expect(text).toContain('* Online: [ node1 node2 ]');
    expect(text).toContain('* rec::a\t(heartbeat:rec):\t Started node1');
    expect(text).toContain('* rec::c\t(heartbeat:rec):\t Started node2');
  });

  it('kill -9 of the owner: the peer takes over after deadtime, logging the pm_logconv story; auto_failback moves it back', async () => {
    const c = await started();
    c.crash('node1', true);
    const took = await c.until(() => c.holds('node2', 'a'), 2000);
    expect(took).toBeGreaterThanOrEqual(HA_CF.deadtimeMs);
    expect(took).toBeLessThan(HA_CF.deadtimeMs + 300);
    const story = c.opsText.filter((l) => l.startsWith('node2'));
    const idx = (s: string) => story.findIndex((l) => l.endsWith(s));
    expect(idx('warn: Node node1 is lost.')).toBeGreaterThanOrEqual(0);
    expect(idx('error: Start to fail-over.')).toBeGreaterThan(idx('warn: Node node1 is lost.'));
    expect(idx('info: Resource rec::a tries to start.')).toBeGreaterThan(idx('error: Start to fail-over.'));
    expect(idx('info: Resource rec::a started. (rc=0)')).toBeGreaterThan(idx('info: Resource rec::a tries to start.'));
    expect(idx('info: fail-over succeeded.')).toBeGreaterThan(idx('info: Resource rec::b started. (rc=0)'));

    c.sim('node2').ops.length = 0;
    c.boot('node1');
    await c.until(() => c.holds('node1', 'a'), 3000);
    expect(c.sim('node2').ops).toEqual(['stop rec::b', 'stop rec::a']);
    expect(c.sim('node1').ops).toEqual(['start rec::a', 'start rec::b']);
    expect(c.holds('node2', 'c')).toBe(true);
  });

  it('auto_failback off: the group stays on the node that took it over when the owner returns', async () => {
    const c = new Cluster(DEFAULT_EXTENSIONS, false, { ...HA_CF, autoFailback: 'off' }).boot('node1').boot('node2');
    await c.until(() => c.holds('node1', 'a') && c.holds('node2', 'c'), 3000);
    c.crash('node1', true);
    await c.until(() => c.holds('node2', 'a'), 2000);
    c.boot('node1');
    await c.run(2000);
    expect(c.holds('node2', 'a')).toBe(true);
    expect(c.sim('node1').ops).toEqual([]);
  });

  it('standby hands the local groups to the peer; takeover pulls them back', async () => {
    const c = await started();
    const res = await c.sim('node1').runner.request({ cmd: 'standby', scope: 'local' });
    expect(res.ok).toBe(true);
    expect(res.log).toContain('Giving up local resources (standby): rec::a');
    await c.until(() => c.holds('node2', 'a'), 3000);
    expect(c.holds('node1', 'a')).toBe(false);
    const back = await c.sim('node1').runner.request({ cmd: 'takeover', scope: 'failback' });
    expect(back.ok).toBe(true);
    await c.until(() => c.holds('node1', 'a'), 3000);
  });

  it('standby is refused with the reason when the peer is down', async () => {
    const c = await started();
    c.crash('node2', true);
    await c.until(() => c.holds('node1', 'c'), 2000);
    const res = await c.sim('node1').runner.request({ cmd: 'standby', scope: 'all' });
    expect(res).toMatchObject({ ok: false, exitCode: 1 });
    expect(res.message).toContain('standby refused: node2 is not up');
  });

  it('a failed start stops what had started and lets the peer try', async () => {
    const c = new Cluster();
    c.failStart.add('node1 rec::b');
    c.boot('node1').boot('node2');
    await c.until(() => c.holds('node2', 'a'), 4000);
    expect(c.sim('node1').ops).toEqual(['start rec::a', 'start rec::b', 'stop rec::b', 'stop rec::a']);
    expect(c.opsText).toContain('node1 error: Resource rec::b failed to start. (rc=1) unknown error');
  });

  it('a failed stop marks the group FAILED and the peer never starts it', async () => {
    const c = await started({ ...DEFAULT_EXTENSIONS, stopRetries: 1, stopRetryMs: 100 });
    c.failStop.add('node1 rec::a');
    await c.sim('node1').runner.request({ cmd: 'standby', scope: 'local' });
    await c.run(3000);
    const st = c.sim('node1').runner.controller.status().groups.find((g) => g.group === 'rec::a')!;
    expect(st.local).toBe('failed');
    expect(c.running.get('node2')!.has('rec::a')).toBe(false);
    expect(c.sim('node1').ops.filter((o) => o === 'stop rec::a')).toHaveLength(2); // first try + 1 retry
    const text = renderHbStatus(c.sim('node2').runner.snapshot());
    expect(text).toContain('* rec::a\t(heartbeat:rec):\t FAILED node1');
    expect(c.opsText.some((l) => l.startsWith('node1 fatal: Resource group rec::a is FAILED on node1'))).toBe(true);
  });

  it('STONITH is retried until it succeeds, and only then is the group taken over', async () => {
    const c = await started({ ...DEFAULT_EXTENSIONS, stonithRetryMs: 200 }, true);
    c.stonithResults = [false, false, true];
    c.crash('node1'); // its resources keep running until it is fenced
    await c.until(() => c.holds('node2', 'a'), 3000);
    expect(c.stonithCalls).toEqual(['node2->node1', 'node2->node1', 'node2->node1']);
    expect(c.opsText.filter((l) => l.includes('STONITH of node1 failed. (rc=1) power switch unreachable'))).toHaveLength(2);
    expect(c.opsText.filter((l) => l.includes('STONITH of node1 failed.  Retrying...'))).toHaveLength(2);
  });

  it('drops and logs a replayed packet and a forged one, without any effect', async () => {
    const c = await started();
    const old = c.sim('node1').sent[3]!;
    c.sim('node2').runner.onDatagram(old, 'ucast eth0 10.0.0.1', '10.0.0.1:7000');
    const forged = Buffer.from(old.toString('latin1').replace(/auth=1 [0-9a-f]+/, `auth=1 ${'0'.repeat(40)}`), 'latin1');
    c.sim('node2').runner.onDatagram(forged, 'ucast eth0 10.0.0.1', '10.0.0.1:7000');
    const drops = c.sim('node2').logs.filter((l) => l.msg.startsWith('dropped packet'));
    expect(drops.map((d) => d.msg)).toEqual([
      expect.stringContaining('already seen'),
      expect.stringContaining('digest does not match key 1'),
    ]);
    await c.run(500);
    expect(c.holds('node1', 'a') && c.holds('node2', 'c')).toBe(true);
  });

  it('a node whose cluster links are all down releases its groups at once; the healed partition moves them back once', async () => {
    const c = await started();
    c.carrier.set('node1', false);
    await c.until(() => !c.holds('node1', 'a'), 200);
    expect(c.opsText.some((l) => l.startsWith('node1 error: All cluster links are down (eth0).'))).toBe(true);
    await c.until(() => c.holds('node2', 'a'), 2000);
    expect(c.sim('node1').ops).toEqual(['start rec::a', 'start rec::b', 'stop rec::b', 'stop rec::a']);
    await c.run(1000); // node1 stays isolated: it neither fences nor starts anything
    expect(c.running.get('node1')!.size).toBe(0);
    c.carrier.set('node1', true);
    await c.until(() => c.holds('node1', 'a'), 3000);
    expect(c.sim('node1').ops.slice(4)).toEqual(['start rec::a', 'start rec::b']);
    await c.run(1000);
    expect(c.holds('node1', 'a') && c.holds('node2', 'c')).toBe(true);
  });

  it('with STONITH configured, the isolated node never fences: only the connected side does, then takes over', async () => {
    const c = await started({ ...DEFAULT_EXTENSIONS, stonithRetryMs: 200 }, true);
    c.carrier.set('node1', false);
    await c.until(() => c.holds('node2', 'a'), 3000);
    await c.run(1000);
    expect(c.stonithCalls).toEqual(['node2->node1']);
    expect(c.sim('node2').logs.some((l) => l.msg === 'node node1 now reset.')).toBe(true);
  });

  it('an isolated node whose peer really died takes over once its links have been up for a deadtime', async () => {
    const c = await started();
    c.carrier.set('node1', false);
    c.crash('node2', true);
    await c.run(1500);
    expect(c.running.get('node1')!.size).toBe(0); // cut off: holds nothing, starts nothing
    c.carrier.set('node1', true);
    const waited = await c.until(() => c.holds('node1', 'a') && c.holds('node1', 'c'), 3000);
    expect(waited).toBeGreaterThanOrEqual(HA_CF.deadtimeMs);
    expect(c.opsText).toContain('node1 info: Cluster links are up (no peer heard within deadtime).');
  });

  it('a partition both sides could not see (carrier up): on heal the preferred node keeps the group, the other stops it', async () => {
    const c = await started();
    c.allowBoth = true;
    c.wire.set('node1', false);
    c.wire.set('node2', false);
    await c.until(() => c.holds('node2', 'a') && c.holds('node1', 'c'), 2000);
    c.wire.set('node1', true);
    c.wire.set('node2', true);
    await c.until(() => !c.holds('node2', 'a') && !c.holds('node1', 'c'), 3000);
    c.allowBoth = false;
    await c.run(1000);
    expect(c.holds('node1', 'a') && c.holds('node2', 'c')).toBe(true);
    // node1 never stopped its own group: no outage for it
    expect(c.sim('node1').ops.filter((o) => o.endsWith('rec::a'))).toEqual(['start rec::a']);
  });

  it('shutdown gives every group to the peer before it resolves', async () => {
    const c = await started();
    const done = c.sim('node2').runner.shutdown(60_000);
    await c.until(() => c.holds('node1', 'c'), 3000);
    await expect(done).resolves.toBe(true);
    expect(c.sim('node2').ops).toEqual(['start rec::c', 'stop rec::c']);
  });

  it('monitoring restarts a dead resource in place, then moves the group after the limit', async () => {
    const c = await started({ ...DEFAULT_EXTENSIONS, monitor: { intervalMs: 200, maxRestarts: 1 } });
    c.running.get('node2')!.delete('rec::c'); // the service died behind our back
    await c.until(() => c.sim('node2').ops.length === 3, 1000);
    expect(c.sim('node2').ops).toEqual(['start rec::c', 'stop rec::c', 'start rec::c']);
    expect(c.opsText).toContain('node2 error: Resource rec::c does not work. (rc=7) not running');
    c.running.get('node2')!.delete('rec::c');
    await c.until(() => c.holds('node1', 'c'), 3000);
    expect(c.sim('node2').ops.slice(3)).toEqual(['stop rec::c']);
  });
});
