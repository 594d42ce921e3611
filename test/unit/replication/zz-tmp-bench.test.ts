import { it } from 'vitest';
import { PeerLink } from '../../../src/replication/peer-link.js';
import { silentLogger } from '../../../src/replication/link-logger.js';
import { encodeFrame, FrameDecoder } from '../../../src/replication/frame-codec.js';

it('bench', async () => {
  // codec only
  const payload = Buffer.alloc(4096, 1);
  let t = performance.now();
  const N = 200_000;
  const frames: Buffer[] = [];
  for (let i = 0; i < N; i++) { const c = encodeFrame({ type: 'data', seq: i, offset: i * 4096, length: 4096, kind: 'write', fua: false, payload }); if (i < 2000) frames.push(Buffer.concat(c)); }
  console.log('encode 4K data msgs/s', Math.round(N / ((performance.now() - t) / 1000)));
  const big = Buffer.concat(frames);
  const chunks: Buffer[] = []; for (let i = 0; i < big.length; i += 65536) chunks.push(big.subarray(i, i + 65536));
  t = performance.now(); let n = 0;
  for (let r = 0; r < 100; r++) { const d = new FrameDecoder(); for (const c of chunks) d.push(c, () => n++); }
  console.log('decode 4K data msgs/s', Math.round(n / ((performance.now() - t) / 1000)));
  const acks: Buffer[] = []; for (let i = 0; i < 2000; i++) acks.push(...encodeFrame({ type: 'write-ack', seq: i, ok: true }));
  const ab = Buffer.concat(acks); t = performance.now(); n = 0;
  for (let r = 0; r < 100; r++) { const d = new FrameDecoder(); d.push(ab, () => n++); }
  console.log('decode acks/s', Math.round(n / ((performance.now() - t) / 1000)));

  const mk = (self: string, peer: string, lp: number, pp: number) => new PeerLink({ resource: 'r', selfNode: self, peerNode: peer, listen: { host: '127.0.0.1', port: lp }, peer: { host: '127.0.0.1', port: pp }, pingIntMs: 10000, pingTimeoutMs: 5000, connectIntMs: 200, logger: silentLogger });
  const a = mk('a', 'b', 47711, 47712), b = mk('b', 'a', 47712, 47711);
  const est = Promise.all([new Promise(r => a.onEstablished(r)), new Promise(r => b.onEstablished(r))]);
  await Promise.all([a.start(), b.start()]); await est;
  const tx = a.connection!, rx = b.connection!;
  for (const size of [4096, 1 << 20]) {
    const total = size === 4096 ? 100_000 : 1000;
    let got = 0; const pl = Buffer.alloc(size, 2);
    const done = new Promise<void>(r => { const off = rx.onMessage(() => { if (++got === total) { off(); r(); } }); });
    t = performance.now();
    for (let s = 0; s < total;) {
      for (let k = 0; k < 64 && s < total; k++, s++) tx.send({ type: 'data', seq: s, offset: 0, length: size, kind: 'write', fua: false, payload: pl });
      if (tx.writableNeedDrain) await new Promise<void>(r => { const off = tx.onDrain(() => { off(); r(); }); }); else await new Promise(r => setImmediate(r));
    }
    await done;
    const sec = (performance.now() - t) / 1000;
    console.log(`link ${size}B: ${Math.round(total / sec)} msg/s, ${Math.round(total * size / sec / 1e6)} MB/s`);
  }
  // ping-pong latency (protocol C style ack round trip)
  rx.onMessage((m) => { if (m.type === 'data') rx.send({ type: 'write-ack', seq: m.seq, ok: true }); });
  const lat: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t0 = performance.now();
    await new Promise<void>(r => { const off = tx.onMessage((m) => { if (m.type === 'write-ack') { off(); r(); } }); tx.send({ type: 'data', seq: i, offset: 0, length: 4096, kind: 'write', fua: false, payload }); });
    lat.push(performance.now() - t0);
  }
  lat.sort((x, y) => x - y);
  console.log('rtt p50 us', Math.round(lat[1000]! * 1000), 'p99 us', Math.round(lat[1980]! * 1000));
  await a.stop(); await b.stop();
}, 60000);
