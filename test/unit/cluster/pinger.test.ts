// The pinger's contract with the system: `ping -c 1 -W <s> -n HOST`, at most one probe in flight
// per host (a dead host must not pile up child processes), results reported per host.
import { describe, expect, it } from 'vitest';
import { Pinger, pingArgs, pingTimeoutS, type PingResult } from '../../../src/cluster/pinger.js';

describe('pinger', () => {
  it('builds the documented ping command line', () => {
    expect(pingArgs('10.0.0.254', 1)).toEqual(['-c', '1', '-W', '1', '-n', '10.0.0.254']);
  });

  it.each([[100, 1], [1000, 1], [1500, 2], [2000, 2]])('keepalive %i ms → -W %i', (k, s) => {
    expect(pingTimeoutS(k)).toBe(s);
  });

  it('keeps at most one probe in flight per host and reports each result', async () => {
    const calls: string[] = [];
    const waiting = new Map<string, (r: PingResult) => void>();
    const results: Array<[string, PingResult]> = [];
    const p = new Pinger(['a', 'b', 'a'], 1, (h, r) => results.push([h, r]), (host, s) => {
      calls.push(`${host} -W ${s}`);
      return new Promise((resolve) => waiting.set(host, resolve));
    });
    p.probe();
    p.probe();
    p.probe();
    expect(calls).toEqual(['a -W 1', 'b -W 1']);
    expect(p.pending).toBe(2);
    waiting.get('a')!({ ok: true });
    await Promise.resolve(); await Promise.resolve(); await Promise.resolve();
    expect(results).toEqual([['a', { ok: true }]]);
    p.probe();
    expect(calls).toEqual(['a -W 1', 'b -W 1', 'a -W 1']);
    waiting.get('b')!({ ok: false, detail: 'no reply' });
    await Promise.resolve(); await Promise.resolve(); await Promise.resolve();
    expect(results).toEqual([['a', { ok: true }], ['b', { ok: false, detail: 'no reply' }]]);
  });

  it('turns a throwing or rejecting probe into a failed result, and reports nothing after close', async () => {
    const results: Array<[string, PingResult]> = [];
    const p = new Pinger(['x', 'y'], 1, (h, r) => results.push([h, r]), (host) => {
      if (host === 'x') throw new Error('spawn failed');
      return Promise.reject(new Error('boom'));
    });
    p.probe();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(results).toEqual([['x', { ok: false, detail: 'spawn failed' }], ['y', { ok: false, detail: 'boom' }]]);
    p.close();
    p.probe();
    expect(p.pending).toBe(0);
  });
});
