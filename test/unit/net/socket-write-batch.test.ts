import net from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COPY_BELOW, SocketWriteBatch, coalesceSmall } from '../../../src/net/socket-write-batch.js';

describe('coalesceSmall', () => {
  it('property: the bytes and their order are kept; only small chunks are joined; large ones are the same Buffers', () => {
    const chunk = fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: COPY_BELOW, max: COPY_BELOW * 3 }))
      .map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff)));
    fc.assert(fc.property(fc.array(chunk, { maxLength: 30 }), (parts) => {
      const out = coalesceSmall(parts);
      expect(Buffer.concat(out).equals(Buffer.concat(parts))).toBe(true);
      for (const p of parts) if (p.length >= COPY_BELOW) expect(out).toContain(p);
      // no two small outputs next to each other: every run was joined
      for (let i = 1; i < out.length; i++) expect(out[i - 1]!.length < COPY_BELOW && out[i]!.length < COPY_BELOW && !parts.includes(out[i]!) && !parts.includes(out[i - 1]!)).toBe(false);
    }));
  });
});

describe('SocketWriteBatch', () => {
  it('delivers everything pushed, in order, over a real socket', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const received = new Promise<Buffer>((resolve) => {
      server.on('connection', (s) => {
        const got: Buffer[] = [];
        s.on('data', (d) => got.push(d));
        s.on('end', () => resolve(Buffer.concat(got)));
      });
    });
    const client = net.connect(port, '127.0.0.1');
    await new Promise((r) => client.once('connect', r));
    const batch = new SocketWriteBatch();
    const sent: Buffer[] = [];
    for (let i = 0; i < 50; i++) {
      const b = Buffer.alloc(i % 7 === 0 ? 3 * COPY_BELOW : 16 + i, i);
      sent.push(b);
      batch.push(b);
    }
    expect(batch.pendingBytes).toBe(Buffer.concat(sent).length);
    batch.flushTo(client);
    expect(batch.empty).toBe(true);
    batch.push(Buffer.from('tail'));
    batch.flushTo(client);
    client.end();
    expect((await received).equals(Buffer.concat([...sent, Buffer.from('tail')]))).toBe(true);
    server.close();
  });
});
