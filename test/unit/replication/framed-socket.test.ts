import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { FramedSocket, type LostCause } from '../../../src/replication/framed-socket.js';
import { silentLogger } from '../../../src/replication/link-logger.js';
import type { PeerMessage } from '../../../src/replication/messages.js';

const cleanup: (() => void)[] = [];
afterEach(() => cleanup.splice(0).forEach((f) => f()));

/** A FramedSocket that connected and the accepted socket on the other end (not read yet: pauseOnConnect). */
async function connectedPair(): Promise<[FramedSocket, net.Socket]> {
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = FramedSocket.connect({ host: '127.0.0.1', port }, silentLogger, {});
  await new Promise<void>((r) => client.socket.once('connect', () => r()));
  const srv = await accepted;
  cleanup.push(() => { client.socket.destroy(); srv.destroy(); server.close(); });
  return [client, srv];
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A sending and a receiving FramedSocket on one TCP connection, with what the receiver got. */
async function framedPair(): Promise<{ c: net.Socket; tx: FramedSocket; rx: FramedSocket; got: PeerMessage[] }> {
  const [tx, s] = await connectedPair();
  const c = tx.socket;
  const rx = FramedSocket.accept(s, silentLogger, {});
  cleanup.push(() => rx.socket.destroy());
  const got: PeerMessage[] = [];
  rx.setReceiver((m) => got.push(m));
  return { c, tx, rx, got };
}

describe('FramedSocket', () => {
  it('turns all sends of one tick into a single writev', async () => {
    const { c, tx, rx, got } = await framedPair();
    const sock = c as unknown as { _writev: (...a: unknown[]) => unknown; _write: (...a: unknown[]) => unknown };
    let writev = 0;
    let write = 0;
    const origV = sock._writev.bind(c);
    const orig = sock._write.bind(c);
    sock._writev = (...a) => { writev++; return origV(...a); };
    sock._write = (...a) => { write++; return orig(...a); };
    const payload = Buffer.alloc(4096, 5);
    for (let i = 0; i < 50; i++) tx.send({ type: 'data', seq: i, offset: 0, length: 4096, kind: 'write', fua: false, payload });
    await until(() => got.length === 50);
    expect(writev).toBe(1);
    expect(write).toBe(0);
    expect(tx.messagesSent).toBe(50);
    expect(rx.messagesReceived).toBe(50);
    expect(rx.bytesReceived).toBe(tx.bytesSent);
  });

  it('joins the successful write-acks of one tick into write-acks frames, in order with everything else', async () => {
    const { tx, got } = await framedPair();
    tx.sendWriteAck(1, true);
    tx.sendWriteAck(2, true);
    tx.sendWriteAck(3, false); // a failure goes alone, after the acks before it
    tx.sendWriteAck(4, true);
    tx.send({ type: 'flush-ack', seq: 5, ok: true }); // never overtakes an ack queued before it
    tx.sendWriteAck(6, true);
    tx.sendWriteAck(7, true);
    await until(() => got.length === 5);
    expect(got).toEqual([
      { type: 'write-acks', seqs: [1, 2] },
      { type: 'write-ack', seq: 3, ok: false },
      { type: 'write-ack', seq: 4, ok: true },
      { type: 'flush-ack', seq: 5, ok: true },
      { type: 'write-acks', seqs: [6, 7] },
    ]);
    // a later tick starts a new frame
    tx.sendWriteAck(8, true);
    await until(() => got.length === 6);
    expect(got[5]).toEqual({ type: 'write-ack', seq: 8, ok: true });
  });

  it('reports the end once, with the peer\'s EOF as peer-closed', async () => {
    const [a, s] = await connectedPair();
    const causes: LostCause[] = [];
    a.setEndListener((cause) => causes.push(cause));
    s.end();
    await until(() => causes.length > 0);
    a.close({ kind: 'closed-locally', reason: 'again' });
    expect(causes).toEqual([{ kind: 'peer-closed', reason: 'connection closed by peer' }]);
    expect(a.closed).toBe(true);
  });

  it('sends a goodbye with the reason when it drops a peer for a malformed frame', async () => {
    const [peer, s] = await connectedPair();
    const c = peer.socket;
    const victim = FramedSocket.accept(s, silentLogger, {});
    cleanup.push(() => victim.socket.destroy());
    const heard: PeerMessage[] = [];
    peer.setReceiver((m) => heard.push(m));
    const causes: LostCause[] = [];
    victim.setEndListener((cause) => causes.push(cause));
    c.write(Buffer.from('not a frame at all'));
    await until(() => causes.length === 1 && heard.length === 1);
    expect(causes[0]).toEqual({ kind: 'protocol-error', reason: 'malformed frame: bad magic 0x6e6f7420' });
    expect(heard[0]).toEqual({ type: 'disconnect', reason: 'malformed frame: bad magic 0x6e6f7420' });
  });
});
