// Two real tandem-hb daemons on loopback (see test/helpers/hb-pair.ts: node1 on 127.0.0.1, node2
// on 127.0.0.2, the same udpport, ucast lines for both), with resource.d scripts that record
// their operations. keepalive 100ms, deadtime 600ms.
import { afterEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { encodePacket } from '../../src/cluster/packet.js';
import { HbPair, waitFor, ADDR } from '../helpers/hb-pair.js';
import { holdsFor } from '../helpers/two-nodes.js';

const DEADTIME = 600;
let pair: HbPair | null = null;

afterEach(async () => {
  await pair?.cleanup();
  pair = null;
});

async function startPair(opts: ConstructorParameters<typeof HbPair>[0] = {}): Promise<HbPair> {
  pair = await new HbPair(opts).setup();
  await pair.startBoth();
  return pair;
}

describe('tandem-hb on loopback', () => {
  it('starts each group on its node; status is crm_mon-like; the operational log tells the story', async () => {
    const p = await startPair();
    const { node1, node2 } = p.nodes;
    expect(node1.ops()).toEqual(['start a', 'start b']);
    expect(node2.ops()).toEqual(['start c']);
    await waitFor(async () => (await node1.cli('status')).stdout.includes('Started node2'), 5000, 'node1 to learn what node2 holds');
    const st = await node1.cli('status');
    expect(st.code).toBe(0);
    expect(st.stdout).toContain('* Online: [ node1 node2 ]');
    expect(st.stdout).toContain('* rec::a\t(heartbeat:rec):\t Started node1');
    expect(st.stdout).toContain('* rec::c\t(heartbeat:rec):\t Started node2');
    expect(node1.opsLog()).toMatch(/ node1 info: Resource rec::a tries to start\.\n.* node1 info: Resource rec::a started\. \(rc=0\)\n/);
    expect(fs.readFileSync(path.join(p.dir, 'ha-log'), 'utf8')).toContain('Resource rec::b started. (rc=0)');
    const json = JSON.parse((await node2.cli('status', '--json')).stdout) as { self: string; generation: number };
    expect(json.self).toBe('node2');
  });

  it('kill -9 of the owner: the peer starts its group within deadtime + 1 s; auto_failback on brings it back in order', async () => {
    const p = await startPair();
    const { node1, node2 } = p.nodes;
    node1.kill9(true);
    const took = await waitFor(() => node2.running('a') && node2.running('b'), DEADTIME + 5000, 'node2 to take over rec::a');
    expect(took).toBeLessThan(DEADTIME + 1000);
    expect(node2.ops()).toEqual(['start c', 'start a', 'start b']);
    await waitFor(() => node2.opsLog().includes('fail-over succeeded.'), 2000, 'the fail-over to be logged');
    const story = node2.opsLog();
    for (const line of ['WARN: Node node1 is lost.', 'ERROR: Start to fail-over.', 'info: Resource rec::a tries to start.', 'info: Resource rec::a started. (rc=0)', 'info: fail-over succeeded.']) {
      expect(story).toContain(line);
    }
    node1.start();
    await waitFor(() => node1.running('a') && node1.running('b') && !node2.running('a'), 10_000, 'the failback to node1');
    expect(node2.ops()).toEqual(['start c', 'start a', 'start b', 'stop b', 'stop a']);
    expect(node1.ops()).toEqual(['start a', 'start b', 'start a', 'start b']);
    expect(node2.running('c')).toBe(true);
  });

  it('auto_failback off: the group stays where it was taken over', async () => {
    const p = await startPair({ autoFailback: 'off' });
    const { node1, node2 } = p.nodes;
    node1.kill9(true);
    await waitFor(() => node2.running('b'), DEADTIME + 5000, 'node2 to take over');
    node1.start();
    await waitFor(async () => (await node1.cli('status')).stdout.includes('Online: [ node1 node2 ]'), 10_000, 'node1 to rejoin');
    // with auto_failback on a failback would begin within a few heartbeats of the rejoin
    await holdsFor(() => node2.running('a') && node2.running('b') && !node1.running('a'), 1500, 'node2 keeping the groups');
    expect(node1.ops()).toEqual(['start a', 'start b']);
  });

  it('standby gives the groups to the peer; takeover takes them back', async () => {
    const p = await startPair();
    const { node1, node2 } = p.nodes;
    const sb = await node1.cli('standby');
    expect(sb.code).toBe(0);
    expect(sb.stdout).toContain('Giving up all resources (standby)');
    await waitFor(() => node2.running('a') && node2.running('b') && !node1.running('a'), 10_000, 'node2 to hold everything');
    const to = await node1.cli('takeover', 'local');
    expect(to.code).toBe(0);
    await waitFor(() => node1.running('a') && node1.running('b') && !node2.running('a'), 10_000, 'node1 to take rec::a back');
    expect(node2.running('c')).toBe(true);
    expect((await node1.cli('standby', 'sideways')).code).toBe(1);
  });

  it('a failed start releases the group and the peer runs it', async () => {
    pair = await new HbPair().setup();
    const { node1, node2 } = pair.nodes;
    node1.failNext('start', 'b');
    node1.start();
    node2.start();
    await waitFor(() => node2.running('a') && node2.running('b'), 15_000, 'node2 to run the group node1 failed to start');
    expect(node1.ops()).toEqual(['start a', 'stop b', 'stop a']); // the whole group is released right to left, as ResourceManager does
    expect(node1.running('a')).toBe(false);
    expect(node1.opsLog()).toContain('ERROR: Resource rec::b failed to start. (rc=1) start of b refused by the test');
  });

  it('a failed stop marks the group FAILED and the peer does not start it', async () => {
    const p = await startPair();
    const { node1, node2 } = p.nodes;
    node1.failNext('stop', 'a');
    await node1.cli('standby', 'local');
    await waitFor(async () => (await node2.cli('status')).stdout.includes('FAILED node1'), 10_000, 'node2 to see rec::a FAILED on node1');
    await holdsFor(() => !node2.running('a') && !node2.running('b'), 1000, 'node2 not starting the FAILED group');
    const st = await node1.cli('status');
    expect(st.stdout).toContain('FAILED node1');
    expect(st.stdout).toContain("tandem-hb cleanup rec::a");
    expect(node1.opsLog()).toContain('ERROR: Resource group rec::a is FAILED on node1');
  });

  it('STONITH is retried until it succeeds before the dead node\'s group is taken over', async () => {
    const p = await startPair({ haCf: 'stonith_host * stonith.sh', stonithFails: 2 });
    const { node1, node2 } = p.nodes;
    node1.kill9(false); // the daemon dies, its resources keep running until it is fenced
    await waitFor(() => node2.running('a') && node2.running('b'), 15_000, 'node2 to take over after fencing');
    expect(fs.readFileSync(path.join(p.dir, 'stonith.log'), 'utf8').trim().split('\n')).toEqual(['reset node1', 'reset node1', 'reset node1']);
    expect(node1.running('a')).toBe(false); // the reset stopped it before node2 started it
    expect(node2.opsLog().match(/STONITH of node1 failed\. \(rc=1\) power switch unreachable/g)).toHaveLength(2);
  });

  it('drops and logs replayed and forged packets sent with a raw UDP socket', async () => {
    const p = await startPair();
    const { node1, node2 } = p.nodes;
    const generation = Number(fs.readFileSync(path.join(node1.runDir, 'tandem-hb.generation'), 'utf8'));
    const key = { index: 1, method: 'sha1' as const, secret: 'integration-secret' };
    const status = [['st', 'active'], ['dt', '258'], ['protocol', '1']] as Array<[string, string]>;
    const now = Math.floor(Date.now() / 1000);
    const replayOld = encodePacket({ type: 'status', src: 'node1', seq: 5, generation: generation - 1, timestamp: now, fields: status }, key);
    // A packet node2 has certainly seen: the last one it recorded from node1.
    const snap = JSON.parse((await node2.cli('status', '--json')).stdout) as { nodes: Array<{ node: string; lastSeq: number | null }> };
    const lastSeq = snap.nodes.find((n) => n.node === 'node1')!.lastSeq!;
    const replaySeq = encodePacket({ type: 'status', src: 'node1', seq: lastSeq, generation, timestamp: now, fields: status }, key);
    const forged = encodePacket({ type: 'rsc_claim', src: 'node1', dest: 'node2', seq: 999_999, generation, timestamp: now, fields: [['groups', 'rec::c'], ['reason', 'takeover']] },
      { index: 1, method: 'sha1', secret: 'guessed-wrong' });
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, ADDR.node1, () => r()));
    for (const pkt of [replayOld, replaySeq, forged, Buffer.from('not a heartbeat')]) {
      await new Promise<void>((r, j) => sock.send(pkt, p.port, ADDR.node2, (e) => (e ? j(e) : r())));
    }
    sock.close();
    await waitFor(() => (node2.log().match(/dropped packet/g) ?? []).length >= 4, 5000, 'node2 to log four drops');
    const drops = node2.log().split('\n').filter((l) => l.includes('dropped packet')).join('\n');
    expect(drops).toContain('attempted replay attack?');
    expect(drops).toContain('already seen');
    expect(drops).toContain('digest does not match key 1');
    expect(drops).toContain("does not start with '>>>'");
    await holdsFor(() => node2.running('c') && !node1.running('c'), 500, 'the group staying on node2 despite the forged packets');
  });

  it('refuses an authkeys file that is group- or world-readable, with heartbeat\'s message', async () => {
    pair = await new HbPair().setup();
    fs.chmodSync(path.join(pair.haDir, 'authkeys'), 0o644);
    const r = await pair.nodes.node1.cli('start');
    expect(r.code).toBe(6);
    expect(r.stderr).toContain(`Bad permissions on keyfile [${path.join(pair.haDir, 'authkeys')}], 600 recommended`);
  });

  it('stop hands the groups to the peer and exits; status then says not running (exit 3)', async () => {
    const p = await startPair();
    const { node1, node2 } = p.nodes;
    const r = await node2.cli('stop');
    expect(r.code).toBe(0);
    expect(node2.running('c')).toBe(false);
    await waitFor(() => node1.running('c'), 5000, 'node1 to run rec::c');
    expect((await node2.cli('status')).code).toBe(3);
    expect(node2.ops()).toEqual(['start c', 'stop c']);
  });
});
