import { describe, expect, it } from 'vitest';
import type { AuthKey } from '../../../src/config/heartbeat/authkeys.js';
import { Membership, type MembershipAction, type MembershipConfig } from '../../../src/cluster/membership.js';
import { decodePacket, PacketSender, type DecodeResult } from '../../../src/cluster/packet.js';

const KEY: AuthKey = { index: 1, method: 'sha1', secret: 'k' };
const CFG: MembershipConfig = {
  self: 'alpha', nodes: ['alpha', 'beta'], keepaliveMs: 1000, warntimeMs: 5000, deadtimeMs: 10000, initdeadMs: 30000,
  media: ['bcast eth0', 'ucast eth1 10.0.0.2'],
};
const A = 'bcast eth0';
const B = 'ucast eth1 10.0.0.2';

/** a peer whose heartbeats we decode exactly as the daemon will */
function peer(name = 'beta', generation = 100, key = KEY) {
  const s = new PacketSender(name, generation, key);
  return {
    hb: (now: number): DecodeResult => decodePacket(s.status('active', 10000, now), [KEY]),
    msg: (now: number): DecodeResult => decodePacket(s.build('rsc_state', [['ver', '1']], now, 'alpha'), [KEY]),
  };
}
const types = (acts: MembershipAction[]) => acts.filter((a) => a.type !== 'log').map((a) => a.type);
const logs = (acts: MembershipAction[]) => acts.flatMap((a) => (a.type === 'log' ? [a.msg] : []));

describe('membership', () => {
  it('declares a never-heard node dead only after initdead', () => {
    const m = new Membership(CFG, 0);
    expect(m.tick(29_999)).toEqual([]);
    expect(m.tick(30_000)).toEqual([]);
    const acts = m.tick(30_001);
    expect(acts).toContainEqual({ type: 'node-dead', node: 'beta' });
    expect(logs(acts)[0]).toMatch(/node beta: is dead \(not heard from within initdead 30000 ms/);
    expect(m.tick(40_000)).toEqual([]); // once
  });

  it('brings a node up on its first heartbeat, and initdead no longer applies', () => {
    const m = new Membership(CFG, 0);
    const p = peer();
    const acts = m.onPacket('10.0.0.2:694', A, p.hb(1000), 1000);
    expect(acts).toContainEqual({ type: 'node-up', node: 'beta', generation: 100, restarted: false });
    expect(logs(acts)).toContain(`Link beta:${A} up.`);
    m.onPacket('10.0.0.2:694', A, p.hb(25_000), 25_000);
    expect(m.tick(30_001)).toEqual([]);
  });

  it('declares a silent node dead after deadtime, not before', () => {
    const m = new Membership(CFG, 0);
    const p = peer();
    for (let t = 0; t <= 5000; t += 1000) m.onPacket('x', A, p.hb(t), t);
    expect(types(m.tick(15_000))).toEqual([]); // exactly deadtime: still alive
    const acts = m.tick(15_001);
    expect(types(acts)).toEqual(['node-dead']);
    expect(logs(acts)).toEqual([`Link beta:${A} dead.`, 'node beta: is dead']);
    expect(m.status().find((n) => n.node === 'beta')!.state).toBe('dead');
  });

  it('logs a late heartbeat past warntime', () => {
    const m = new Membership(CFG, 0);
    const p = peer();
    m.onPacket('x', A, p.hb(0), 0);
    expect(types(m.onPacket('x', A, p.hb(5000), 5000))).toEqual([]); // exactly warntime
    const acts = m.onPacket('x', A, p.hb(11_500), 11_500);
    expect(acts).toContainEqual({ type: 'late-heartbeat', node: 'beta', lateMs: 5500, intervalMs: 6500 });
    expect(logs(acts)).toContain('Late heartbeat: Node beta: interval 6500 ms');
  });

  it('keeps a node alive while any medium carries its heartbeats', () => {
    const m = new Membership(CFG, 0);
    const p = peer();
    const all: MembershipAction[] = [];
    for (let t = 0; t <= 40_000; t += 1000) {
      const pkt = p.hb(t);
      if (t <= 5000) all.push(...m.onPacket('x', A, pkt, t)); // eth0 dies after 5 s
      all.push(...m.onPacket('y', B, pkt, t + 1)); // the same packet on the second medium
      all.push(...m.tick(t + 500));
    }
    expect(types(all).filter((t) => t !== 'node-up')).toEqual([]); // no drop, no death, no duplicate
    expect(types(all)).toEqual(['node-up']);
    expect(logs(all)).toContain(`Link beta:${A} dead.`);
    const st = m.status().find((n) => n.node === 'beta')!;
    expect(st.state).toBe('up');
    expect(st.links.map((l) => [l.medium, l.state])).toEqual([[A, 'dead'], [B, 'up']]);
    // and it dies once the second medium goes quiet too
    expect(types(m.tick(40_001 + 10_001))).toEqual(['node-dead']);
  });

  it('drops a replayed packet and an old generation, accepts a restart', () => {
    const m = new Membership(CFG, 0);
    const old = peer('beta', 100);
    const first = old.hb(0);
    m.onPacket('x', A, first, 0);
    m.onPacket('x', A, old.hb(1000), 1000);
    const replay = m.onPacket('evil', A, first, 1500);
    expect(replay).toContainEqual({ type: 'drop', reason: 'replay', node: 'beta', medium: A, detail: 'packet seq 1 from beta already seen (highest 2)' });

    const fresh = peer('beta', 101); // beta restarted: new generation, seq from 1
    const restart = m.onPacket('x', A, fresh.hb(2000), 2000);
    expect(restart).toContainEqual({ type: 'node-up', node: 'beta', generation: 101, restarted: true });
    expect(logs(restart)).toContain('Heartbeat restart on node beta');

    const stale = m.onPacket('evil', B, old.hb(2500), 2500); // a packet of the previous run
    expect(stale).toContainEqual(expect.objectContaining({ type: 'drop', reason: 'old-generation', node: 'beta' }));
    expect(logs(stale)[0]).toMatch(/attempted replay attack\? \[gen = 100, curgen = 101\]/);
    expect(types(m.onPacket('x', A, fresh.hb(3000), 3000))).toEqual([]);
  });

  it('drops forged, malformed and unknown-node packets, and ignores its own', () => {
    const m = new Membership(CFG, 0);
    const forged = decodePacket(new PacketSender('beta', 1, { ...KEY, secret: 'guess' }).status('active', 1, 0), [KEY]);
    expect(m.onPacket('evil', A, forged, 0)).toContainEqual({ type: 'drop', reason: 'bad-auth', node: null, medium: A, detail: 'digest does not match key 1 (sha1)' });
    expect(types(m.onPacket('x', A, decodePacket(Buffer.from('hello'), [KEY]), 0))).toEqual(['drop']);
    expect(m.onPacket('x', A, peer('gamma').hb(0), 0)).toContainEqual(expect.objectContaining({ type: 'drop', reason: 'unknown-node', node: 'gamma' }));
    expect(m.onPacket('me', A, peer('alpha').hb(0), 0)).toEqual([]);
    expect(m.status().find((n) => n.node === 'beta')!.state).toBe('init');
  });

  it('accepts a late packet that fills a gap, delivers control messages once', () => {
    const m = new Membership(CFG, 0);
    const s = new PacketSender('beta', 5, KEY);
    const p1 = decodePacket(s.status('active', 10000, 0), [KEY]);
    const p2 = decodePacket(s.build('rsc_grant', [['groups', 'g']], 100, 'alpha'), [KEY]);
    const p3 = decodePacket(s.status('active', 10000, 1000), [KEY]);
    m.onPacket('x', A, p1, 0);
    m.onPacket('x', A, p3, 1000);
    const late = m.onPacket('y', B, p2, 1100);
    expect(types(late)).toEqual(['deliver']);
    expect(types(m.onPacket('x', A, p2, 1200))).toEqual([]); // same message, reordered on the other medium
    expect(m.onPacket('x', A, p2, 1300)).toContainEqual(expect.objectContaining({ type: 'drop', reason: 'replay' })); // twice on one medium
  });

  it('reports a node returning after a partition in the same generation', () => {
    const m = new Membership(CFG, 0);
    const p = peer();
    m.onPacket('x', A, p.hb(0), 0);
    expect(types(m.tick(10_001))).toEqual(['node-dead']);
    p.hb(5000); // lost while partitioned
    const back = m.onPacket('x', A, p.hb(20_000), 20_000);
    expect(back).toContainEqual({ type: 'node-up', node: 'beta', generation: 100, restarted: false });
    expect(logs(back)).toContain('Cluster node beta returning after partition.');
  });

  it('ignores packets addressed to another node', () => {
    const m = new Membership({ ...CFG, nodes: ['alpha', 'beta', 'gamma'] }, 0);
    const s = new PacketSender('beta', 1, KEY);
    expect(m.onPacket('x', A, decodePacket(s.build('rsc_grant', [['groups', 'g']], 0, 'gamma'), [KEY]), 0)).toEqual([]);
  });
});
