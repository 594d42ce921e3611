// ipfail's rule (heartbeat contrib/ipfail): ping nodes die after deadping without a reply, a
// ping_group is up while any member answers, and the node that sees fewer ping nodes than its
// peer gives its groups up; equal counts move nothing.
import { describe, expect, it } from 'vitest';
import { parseHaCf, unwrap } from '../../../src/config/heartbeat/index.js';
import { comparePing, PingNodes, pingTargets, type PingAction, type PingTarget } from '../../../src/cluster/ping-nodes.js';

const DEADPING = 1000;
const SETTLE = 200;
const T0 = 50_000;

const make = (targets: PingTarget[]) => new PingNodes({ targets, deadpingMs: DEADPING, settleMs: SETTLE }, T0);
const ROUTER = { name: '10.0.0.254', hosts: ['10.0.0.254'] };
const DNS = { name: '10.0.0.53', hosts: ['10.0.0.53'] };
const UPLINKS = { name: 'uplinks', hosts: ['192.0.2.1', '192.0.2.2'] };

/** replies from hosts every 100 ms from T0 until untilMs */
function feed(p: PingNodes, hosts: string[], untilMs: number, from = T0): void {
  for (let t = from; t <= untilMs; t += 100) {
    for (const h of hosts) p.onReply(h, t);
    p.tick(t);
  }
}

describe('ping targets from ha.cf', () => {
  it('turns each ping address into one ping node and each ping_group into one', () => {
    const cf = unwrap(parseHaCf('keepalive 1\ndeadtime 10\nbcast eth0\nnode a b\nping 10.0.0.254 10.0.0.53\nping_group uplinks 192.0.2.1 192.0.2.2\n'));
    expect(cf.deadpingMs).toBe(10_000); // deadping defaults to deadtime
    expect(pingTargets(cf.ping, cf.pingGroups)).toEqual([ROUTER, DNS, UPLINKS]);
  });

  it('counts a repeated address once', () => {
    expect(pingTargets(['10.0.0.1', '10.0.0.1'], [])).toEqual([{ name: '10.0.0.1', hosts: ['10.0.0.1'] }]);
  });
});

describe('comparePing', () => {
  it.each([
    [2, null, 'unknown'],
    [1, 2, 'fewer'],
    [2, 2, 'equal'],
    [0, 0, 'equal'],
    [2, 1, 'more'],
  ] as const)('%i visible, peer %s → %s', (mine, peer, standing) => {
    expect(comparePing(mine, peer)).toBe(standing);
  });
});

describe('ping node reachability (fake clock)', () => {
  it.each<{ name: string; targets: PingTarget[]; replying: string[]; visibleAt: Array<[number, number]> }>([
    { name: 'all answering: all visible', targets: [ROUTER, DNS], replying: ['10.0.0.254', '10.0.0.53'], visibleAt: [[0, 2], [5000, 2]] },
    { name: 'a silent ping node is visible until deadping, lost at deadping', targets: [ROUTER, DNS], replying: ['10.0.0.53'],
      visibleAt: [[0, 2], [DEADPING - 1, 2], [DEADPING, 1], [5000, 1]] },
    { name: 'a ping_group is up while any member answers', targets: [UPLINKS], replying: ['192.0.2.2'], visibleAt: [[0, 1], [5000, 1]] },
    { name: 'a ping_group is lost when no member answers', targets: [UPLINKS, ROUTER], replying: ['10.0.0.254'], visibleAt: [[DEADPING - 1, 2], [DEADPING, 1]] },
    { name: 'replies from hosts that are no ping node change nothing', targets: [ROUTER], replying: ['10.9.9.9'], visibleAt: [[DEADPING, 0]] },
  ])('$name', ({ targets, replying, visibleAt }) => {
    const p = make(targets);
    for (const [at, visible] of visibleAt) {
      // replies come only up to T0 (they are "sent" at T0) for the silent ones; answering ones reply throughout
      for (let t = T0; t <= T0 + at; t += 100) for (const h of replying) p.onReply(h, t);
      p.tick(T0 + at);
      expect(p.visible, `at +${at} ms`).toBe(visible);
    }
  });

  it('reports lost once, then recovered on the first reply', () => {
    const p = make([ROUTER]);
    expect(p.tick(T0 + DEADPING - 1)).toEqual([]);
    expect(p.tick(T0 + DEADPING)).toEqual([{ type: 'lost', target: '10.0.0.254', visible: 0 }]);
    expect(p.tick(T0 + DEADPING + 500)).toEqual([]);
    expect(p.onReply('10.0.0.254', T0 + 3000)).toEqual([{ type: 'recovered', target: '10.0.0.254', visible: 1 }]);
    expect(p.onReply('10.0.0.254', T0 + 3100)).toEqual([]);
    // and it takes another whole deadping of silence after the last reply to lose it again
    expect(p.tick(T0 + 3100 + DEADPING - 1)).toEqual([]);
    expect(p.tick(T0 + 3100 + DEADPING)).toEqual([{ type: 'lost', target: '10.0.0.254', visible: 0 }]);
  });

  it('a group member that answers keeps the group, the other member recovering changes nothing', () => {
    const p = make([UPLINKS]);
    feed(p, ['192.0.2.1'], T0 + 3000);
    expect(p.targets()).toEqual([{ name: 'uplinks', up: true }]);
    feed(p, [], T0 + 3000 + DEADPING, T0 + 3100);
    expect(p.targets()).toEqual([{ name: 'uplinks', up: false }]);
    expect(p.onReply('192.0.2.2', T0 + 5000)).toEqual([{ type: 'recovered', target: 'uplinks', visible: 1 }]);
  });
});

describe('ipfail decision', () => {
  // Each step: at (ms after T0), mine = visible count forced by which targets answer, peer's count, expected action.
  type Step = { at: number; lose?: boolean; recover?: boolean; peer?: number | null; action: PingAction };
  // The runner decides on every tick: a step's action is what the decisions made from the
  // previous step up to `at` returned (changes of the step apply at its start).
  const run = (steps: Step[]) => {
    const p = make([ROUTER, DNS]);
    const actions: PingAction[] = [];
    let routerAnswers = true;
    let t = T0;
    for (const s of steps) {
      if (s.lose) routerAnswers = false;
      if (s.recover) routerAnswers = true;
      if (s.peer !== undefined) p.onPeer(s.peer);
      const seen: PingAction[] = [];
      for (; t <= T0 + s.at; t += 20) {
        if (routerAnswers) p.onReply('10.0.0.254', t);
        p.onReply('10.0.0.53', t);
        p.tick(t);
        const a = p.decide(t).action;
        if (a !== 'none') seen.push(a);
      }
      actions.push(seen.length === 0 ? 'none' : seen.length === 1 ? seen[0]! : (seen.join('+') as PingAction));
    }
    return { actions, expected: steps.map((s) => s.action) };
  };

  it.each<[string, Step[]]>([
    ['peer unknown: nothing, whatever we see', [{ at: 0, action: 'none' }, { at: 100, lose: true, action: 'none' }, { at: 3000, action: 'none' }]],
    ['equal counts: nothing moves', [{ at: 0, peer: 2, action: 'none' }, { at: 500, action: 'none' }, { at: 5000, action: 'none' }]],
    ['fewer than the peer after deadping: release once, after settling', [
      { at: 0, peer: 2, action: 'none' },
      { at: 100, lose: true, action: 'none' },
      { at: 100 + DEADPING, action: 'none' }, // lost now; fewer just began
      { at: 100 + DEADPING + SETTLE, action: 'release-groups' },
      { at: 100 + DEADPING + SETTLE + 500, action: 'none' }, // edge-triggered: once
    ]],
    ['the ping node died for both: the peer follows within the settle time, nothing moves', [
      { at: 0, peer: 2, action: 'none' },
      { at: 100, lose: true, action: 'none' },
      { at: 100 + DEADPING, action: 'none' },
      { at: 100 + DEADPING + SETTLE / 2, peer: 1, action: 'none' },
      { at: 100 + DEADPING + 5 * SETTLE, action: 'none' },
    ]],
    ['more than the peer: take-groups once', [
      { at: 0, peer: 2, action: 'none' },
      { at: 200, peer: 1, action: 'take-groups' },
      { at: 400, action: 'none' },
      { at: 600, peer: 2, action: 'none' },
      { at: 800, peer: 1, action: 'take-groups' },
    ]],
    ['recovered to equal after a release: nothing moves back', [
      { at: 0, peer: 2, action: 'none' },
      { at: 100, lose: true, action: 'none' },
      { at: 100 + DEADPING + SETTLE, action: 'release-groups' },
      { at: 2000, recover: true, action: 'none' },
      { at: 2100, action: 'none' },
    ]],
    ['the peer dies and comes back while we still see fewer: release again', [
      { at: 0, peer: 2, action: 'none' },
      { at: 100, lose: true, action: 'none' },
      { at: 100 + DEADPING + SETTLE, action: 'release-groups' },
      { at: 2000, peer: null, action: 'none' },
      { at: 2000 + SETTLE - 20, peer: 2, action: 'none' }, // fewer again, settling
      { at: 2000 + SETTLE + 20, action: 'release-groups' },
      { at: 3000, action: 'none' },
    ]],
    ['the peer lost it first: we say we see more; once we lose it too, equal, nothing more', [
      { at: 0, peer: 2, action: 'none' },
      { at: 100, lose: true, action: 'none' },
      { at: 100 + DEADPING, peer: 1, action: 'take-groups' },
      { at: 3000, action: 'none' },
    ]],
  ])('%s', (_name, steps) => {
    const { actions, expected } = run(steps);
    expect(actions).toEqual(expected);
  });

  it('ignores a nonsense peer count', () => {
    const p = make([ROUTER]);
    p.onPeer(-1);
    expect(p.peer).toBeNull();
    p.onPeer(1.5);
    expect(p.decide(T0).standing).toBe('unknown');
  });
});
