import { describe, it, expect } from 'vitest';
import { PeerPending } from '../../../src/replication/peer-io.js';
import { SyncProgress } from '../../../src/replication/sync-progress.js';

describe('PeerPending', () => {
  it('resolves on write-ack and reports unknown acks', async () => {
    const p = new PeerPending();
    const a = p.add(0, 4096, 'write');
    expect(p.recvAck(a.seq)).toBe(true);
    await expect(a.received).resolves.toBe('ok');
    expect(p.writeAck(a.seq, true)).toMatchObject({ seq: a.seq, offset: 0, length: 4096, needs: 'write', recvAcked: true });
    await expect(a.done).resolves.toBe('ok');
    expect(p.writeAck(a.seq, true)).toBeUndefined();
    expect(p.recvAck(999)).toBe(false);
  });
  it('hands back every unconfirmed op when the link drops', async () => {
    const p = new PeerPending();
    const a = p.add(0, 4096, 'write');
    const b = p.add(8192, 4096, 'recv');
    p.writeAck(a.seq, true);
    const lost = p.dropAll();
    expect(lost.map((o) => o.offset)).toEqual([8192]);
    await expect(b.done).resolves.toBe('lost');
    expect(p.size).toBe(0);
  });
});

describe('PeerPending.oldestSeq (what ko-count watches)', () => {
  it('is the op waiting longest, and moves on as the peer answers', () => {
    const p = new PeerPending();
    expect(p.oldestSeq()).toBeUndefined();
    const a = p.add(0, 4096, 'write');
    const b = p.add(4096, 4096, 'write');
    expect(p.oldestSeq()).toBe(a.seq);
    p.writeAck(b.seq, true); // answered out of order: a still waits
    expect(p.oldestSeq()).toBe(a.seq);
    p.writeAck(a.seq, true);
    expect(p.oldestSeq()).toBeUndefined();
  });
});

describe('PeerPending listeners (the write hot path)', () => {
  it("reports 'recv' once and then 'done' once, for acks, failures and drops", () => {
    const p = new PeerPending();
    const log: string[] = [];
    const a = p.addListener(0, 4096, 'write', (l, o) => log.push(`a ${l} ${o}`));
    const b = p.addListener(4096, 4096, 'recv', (l, o) => log.push(`b ${l} ${o}`));
    const c = p.addListener(8192, 4096, 'write', (l, o) => log.push(`c ${l} ${o}`));
    p.addListener(12288, 4096, 'none', (l, o) => log.push(`d ${l} ${o}`));
    expect(log).toEqual([]); // never synchronously from addListener
    expect(p.recvAck(a)).toBe(true);
    expect(p.recvAck(a)).toBe(true); // a duplicate receipt is not reported twice
    p.writeAck(a, true);
    p.writeAck(c, false);
    p.recvAck(b);
    p.dropAll();
    expect(log).toEqual([
      'a recv ok', 'a done ok',
      'c recv failed', 'c done failed',
      'b recv ok',
      'b done lost',
      'd recv lost', 'd done lost',
    ]);
    expect(p.size).toBe(0);
  });
});

describe('SyncProgress with a fake clock', () => {
  it('computes percent, speed and ETA', () => {
    const p = new SyncProgress(100 * 1024 * 1024, 0);
    for (let t = 1000; t <= 5000; t += 1000) p.update(100 * 1024 * 1024 - (t / 1000) * 10 * 1024 * 1024, t);
    const s = p.snapshot(50 * 1024 * 1024, 5000);
    expect(s.percent).toBeCloseTo(50, 5);
    expect(s.speedKiBs).toBe(10 * 1024);
    expect(s.avgSpeedKiBs).toBe(10 * 1024);
    expect(s.etaSec).toBe(5);
    expect(s.totalKiB).toBe(100 * 1024);
    expect(s.leftKiB).toBe(50 * 1024);
  });
  it('excludes paused time from the average', () => {
    const p = new SyncProgress(10 * 1024, 0);
    p.pause(1000);
    p.resume(11_000);
    const s = p.snapshot(0, 12_000);
    expect(s.avgSpeedKiBs).toBe(5);
  });
});
