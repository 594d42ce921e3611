import { describe, expect, it } from 'vitest';
import net from 'node:net';
import { readAcceptedInto } from '../../../src/net/read-into.js';

// readAcceptedInto relies on Node's private Socket._handle: run this on every supported Node
// (bash scripts/with-node.sh 22 npx vitest run --project unit).
describe('readAcceptedInto', () => {
  it('re-wraps an accepted socket: reads land in our buffers, EOF and close arrive, the server can close', async () => {
    // room past the data: an empty read buffer would fail the EOF read with ENOBUFS
    const target = Buffer.alloc((3 << 20) + 4096);
    let filled = 0;
    let reads = 0;
    const done = new Promise<{ remote: string | undefined }>((resolve, reject) => {
      const server = net.createServer({ pauseOnConnect: true }, (accepted) => {
        const s = readAcceptedInto(accepted, {
          buffer: () => target.subarray(filled),
          callback: (n) => { filled += n; reads++; return true; },
        });
        s.on('error', reject);
        s.on('end', () => {
          const remote = s.remoteAddress;
          s.end();
          // the retired Socket no longer counts as a connection of the server
          server.close(() => resolve({ remote }));
        });
      });
      server.listen(0, '127.0.0.1', () => {
        const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => {
          const data = Buffer.alloc(3 << 20);
          for (let i = 0; i < data.length; i++) data[i] = (i * 13) & 0xff;
          c.end(data);
        });
        c.on('error', reject);
        c.resume();
      });
    });
    const { remote } = await done;
    expect(remote).toBe('127.0.0.1');
    expect(filled).toBe(3 << 20);
    expect(reads).toBeGreaterThan(0);
    for (let i = 0; i < target.length; i += 4099) expect(target[i]).toBe((i * 13) & 0xff);
  });

  it('pause and resume stop and restart the reads', async () => {
    let got = 0;
    let pausedAt = -1;
    await new Promise<void>((resolve, reject) => {
      const buf = Buffer.alloc(64 * 1024);
      const server = net.createServer({ pauseOnConnect: true }, (accepted) => {
        const s = readAcceptedInto(accepted, { buffer: () => buf, callback: (n) => { got += n; return true; } });
        s.pause();
        setTimeout(() => {
          pausedAt = got;
          s.resume();
        }, 50);
        s.on('end', () => { s.end(); server.close(() => resolve()); });
        s.on('error', reject);
      });
      server.listen(0, '127.0.0.1', () => {
        const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => c.end(Buffer.alloc(1 << 20)));
        c.on('error', reject);
        c.resume();
      });
    });
    expect(pausedAt).toBe(0);
    expect(got).toBe(1 << 20);
  });

  it('refuses a socket that is already reading', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    c.on('connect', () => c.write('early bytes'));
    const s = await accepted;
    await new Promise((r) => s.once('readable', r));
    expect(() => readAcceptedInto(s, { buffer: () => Buffer.alloc(16), callback: () => true })).toThrow(/pauseOnConnect/);
    c.destroy();
    s.destroy();
    server.close();
  });
});
