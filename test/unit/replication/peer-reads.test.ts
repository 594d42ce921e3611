// Reads through the peer: matched by sequence number, checked against the request, failed on link loss.
import { describe, it, expect } from 'vitest';
import { PeerReadError, PeerReads } from '../../../src/replication/peer-reads.js';

describe('PeerReads', () => {
  it('resolves each read with its own reply, in any order', async () => {
    const r = new PeerReads();
    const a = r.add(0, 4);
    const b = r.add(4096, 2);
    expect(r.size).toBe(2);
    expect(r.reply(b.seq, 4096, true, Buffer.from('bb'))).toBe(true);
    expect(r.reply(a.seq, 0, true, Buffer.from('aaaa'))).toBe(true);
    expect((await a.done).toString()).toBe('aaaa');
    expect((await b.done).toString()).toBe('bb');
    expect(r.size).toBe(0);
  });

  it('rejects a negative reply, a reply of the wrong size or offset; ignores unknown seqs', async () => {
    const r = new PeerReads();
    const neg = r.add(0, 4);
    const short = r.add(0, 4);
    const moved = r.add(0, 4);
    expect(r.reply(999, 0, true, Buffer.alloc(4))).toBe(false);
    expect(r.reply(neg.seq, 0, false, Buffer.alloc(0))).toBe(true);
    expect(r.reply(short.seq, 0, true, Buffer.alloc(3))).toBe(false);
    expect(r.reply(moved.seq, 8, true, Buffer.alloc(4))).toBe(false);
    await expect(neg.done).rejects.toThrow(PeerReadError);
    await expect(short.done).rejects.toThrow(/with 3 bytes/);
    await expect(moved.done).rejects.toThrow(/at 8/);
    // a second reply for a settled read is unknown
    expect(r.reply(neg.seq, 0, true, Buffer.alloc(4))).toBe(false);
  });

  it('fails every outstanding read when the link drops', async () => {
    const r = new PeerReads();
    const a = r.add(0, 4);
    const b = r.add(8, 4);
    r.failAll('connection lost');
    await expect(a.done).rejects.toThrow(/connection lost/);
    await expect(b.done).rejects.toThrow(/connection lost/);
    expect(r.size).toBe(0);
  });
});
