import { describe, expect, it } from 'vitest';
import { Keepalive } from '../../../src/replication/keepalive.js';
import { ConnectBackoff } from '../../../src/replication/connect-backoff.js';

describe('keepalive (ping-int / ping-timeout) with a fake clock', () => {
  const times = { pingIntMs: 10_000, pingTimeoutMs: 500 };

  it('stays quiet while traffic flows', () => {
    const k = new Keepalive(times, 0);
    k.received(6000);
    expect(k.check(9000)).toEqual({ kind: 'wait', checkInMs: 7000 });
    k.received(15_000);
    expect(k.check(16_000)).toEqual({ kind: 'wait', checkInMs: 9000 });
  });

  it('pings after ping-int of silence and is content with the ack', () => {
    const k = new Keepalive(times, 0);
    expect(k.check(10_000)).toEqual({ kind: 'send-ping', checkInMs: 500 });
    expect(k.awaitingAck).toBe(true);
    k.pingAcked(10_200);
    expect(k.awaitingAck).toBe(false);
    expect(k.check(10_500)).toEqual({ kind: 'wait', checkInMs: 9700 });
  });

  it('declares the peer dead when the ack is not there within ping-timeout', () => {
    const k = new Keepalive(times, 0);
    k.check(10_000);
    expect(k.check(10_300)).toEqual({ kind: 'wait', checkInMs: 200 });
    expect(k.check(10_500)).toEqual({ kind: 'dead', silentForMs: 10_500 });
  });

  it('other traffic does not stand in for the ping-ack once a ping is out', () => {
    const k = new Keepalive(times, 0);
    k.check(10_000);
    k.received(10_400);
    expect(k.check(10_500).kind).toBe('dead');
  });

  it('never moves the last-received time backwards', () => {
    const k = new Keepalive(times, 0);
    k.received(5000);
    k.received(4000);
    expect(k.check(9000)).toEqual({ kind: 'wait', checkInMs: 6000 });
  });
});

describe('connect backoff', () => {
  it('starts small, doubles, and caps at connect-int', () => {
    const b = new ConnectBackoff(100, 1000);
    expect([1, 2, 3, 4, 5, 6].map(() => b.next())).toEqual([100, 200, 400, 800, 1000, 1000]);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('never waits longer than connect-int even when the start is larger', () => {
    expect(new ConnectBackoff(500, 200).next()).toBe(200);
  });
});
