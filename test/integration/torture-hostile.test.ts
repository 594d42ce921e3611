// Hostile input against live daemons, and damaged metadata on a real disk.
//
// Covered elsewhere, not repeated here: a wrong shared secret (replication.test.ts, "a wrong shared
// secret leaves both sides StandAlone and sends no data"); a wrong authkeys key, replayed
// heartbeats and a world-readable authkeys (tandem-hb.test.ts, "drops and logs replayed and forged
// packets…" and "refuses an authkeys file that is group- or world-readable…"); the frame decoder,
// the NBD parsers, heartbeat packets and tandem.conf under fast-check in the unit tests. What is
// added here: those parsers wired into a running tandemd (peer port, NBD socket) under random and
// mutated input, and a corrupted superblock / bitmap on a real backing file.
import fc from 'fast-check';
import fs from 'node:fs';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/replication/frame-codec.js';
import { PROTOCOL_VERSION, type PeerMessage } from '../../src/replication/messages.js';
import { Cmd, Opt, encodeClientFlags, encodeInfoRequest, encodeOption, encodeRequestHeader } from '../../src/nbd/protocol.js';
import { computeLayout } from '../../src/storage/metadata-layout.js';
import { Pair, disksEqual, waitFor, type Node } from '../helpers/two-nodes.js';
import { BLOCK, openNbd, pattern, writeBlocks } from '../helpers/blocks.js';

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

const SECRET = 'cram-hmac-alg sha1; shared-secret "torture-hostile";';

/** Both disks' layout: the pair's backing files are all the same size. */
function layoutOf(node: Node) {
  return computeLayout({ kind: 'internal' }, { dataSize: fs.statSync(node.disk).size });
}

function peerPort(p: Pair, node: 'node1' | 'node2'): number {
  const m = new RegExp(`on ${node} \\{[^}]*address 127\\.0\\.0\\.1:(\\d+);`).exec(fs.readFileSync(p.config, 'utf8'));
  if (!m) throw new Error(`no address for ${node} in ${p.config}`);
  return Number(m[1]);
}

/** Open, send the pieces, half-close, wait (bounded) for the daemon to close its side. */
async function hostileStream(connectTo: net.NetConnectOpts, pieces: Buffer[]): Promise<'closed' | 'timeout'> {
  const s = net.connect(connectTo);
  s.on('error', () => undefined); // the daemon may cut us off mid-write: that is the point
  s.resume();
  const closed = new Promise<'closed'>((r) => s.once('close', () => r('closed')));
  await new Promise<void>((r) => {
    s.once('connect', r);
    s.once('error', () => r());
  });
  for (const p of pieces) if (!s.destroyed) s.write(p);
  s.end();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([closed, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 5000)))]);
  clearTimeout(timer);
  s.destroy();
  return outcome;
}

type Mutation = { kind: 'flip'; at: number; value: number } | { kind: 'truncate'; at: number } | { kind: 'insert'; at: number; bytes: Uint8Array };
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);
function mutate(buf: Buffer, ms: readonly Mutation[]): Buffer {
  let b = Buffer.from(buf);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.kind === 'flip') b[at] = m.value;
    else if (m.kind === 'truncate') b = b.subarray(0, at);
    else b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
  }
  return b;
}
function split(b: Buffer, step: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += step) out.push(b.subarray(i, i + step));
  return out;
}

const uuids = { current: '0123456789abcdef', bitmap: '0', history: ['1', '2'] as [string, string] };
/** What a peer might say, in the order it might say it; mutated below. */
const PEER_MESSAGES: PeerMessage[] = [
  { type: 'hello', version: PROTOCOL_VERSION, resource: 'r0', node: 'node1', nonce: 'abcdef0123456789', auth: 'sha1' },
  { type: 'hello', version: PROTOCOL_VERSION, resource: 'r0', node: 'node1', nonce: 'abcdef0123456789' },
  { type: 'auth-response', response: Buffer.alloc(20, 9) },
  { type: 'params', protocol: 'C', usableSize: 1 << 30, uuids, flags: ['consistent'], dirtyBits: 0, role: 'Primary', disk: 'UpToDate', discardMyData: true },
  { type: 'data', seq: 1, offset: 0, length: 4096, kind: 'write', fua: true, payload: Buffer.alloc(4096, 0xee) },
  { type: 'sync-plan', plan: 'target', mode: 'full' },
  { type: 'disconnect', reason: 'hostile' },
];
const peerStreamArb = fc.oneof(
  fc.uint8Array({ maxLength: 600 }).map((u) => Buffer.from(u)),
  fc.tuple(fc.subarray(PEER_MESSAGES, { minLength: 1 }), fc.array(mutationArb, { maxLength: 4 }))
    .map(([msgs, ms]) => mutate(Buffer.concat(msgs.flatMap((m) => encodeFrame(m))), ms)),
);

const GO = Buffer.concat([encodeClientFlags(3), encodeOption(Opt.GO, encodeInfoRequest('r0', []))]);
const requestArb = fc.record({
  command: fc.oneof(fc.constantFrom(Cmd.READ, Cmd.WRITE, Cmd.FLUSH, Cmd.TRIM, Cmd.WRITE_ZEROES, Cmd.DISC), fc.integer({ min: 0, max: 0xffff })),
  flags: fc.integer({ min: 0, max: 0xffff }),
  handleLo: fc.nat(),
  offset: fc.oneof(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
  length: fc.oneof(fc.integer({ min: 0, max: 8192 }), fc.integer({ min: 0, max: 0xffffffff })),
}).map((h) => encodeRequestHeader({ ...h, handleHi: 0 }));
const nbdStreamArb = fc.oneof(
  fc.uint8Array({ maxLength: 400 }).map((u) => Buffer.from(u)),
  fc.tuple(fc.constantFrom(GO, Buffer.concat([encodeClientFlags(1), encodeOption(Opt.LIST), encodeOption(Opt.EXPORT_NAME, Buffer.from('r0'))])), fc.array(mutationArb, { maxLength: 3 }))
    .map(([b, ms]) => mutate(b, ms)),
  fc.tuple(fc.array(requestArb, { minLength: 1, maxLength: 6 }), fc.array(mutationArb, { maxLength: 2 }))
    .map(([reqs, ms]) => Buffer.concat([GO, mutate(Buffer.concat(reqs), ms)])),
);

describe('hostile input against running daemons', () => {
  it('random and mutated frames on the peer port and the NBD socket: both daemons stay up and keep serving', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 8, net: SECRET }));
    await p.initialSync();
    const port2 = peerPort(p, 'node2');
    const port1 = peerPort(p, 'node1');

    const peerInputs = fc.sample(fc.tuple(peerStreamArb, fc.integer({ min: 1, max: 97 })), { seed: 9, numRuns: 60 });
    const nbdInputs = fc.sample(fc.tuple(nbdStreamArb, fc.integer({ min: 1, max: 64 })), { seed: 9, numRuns: 60 });
    let peerTimeouts = 0;
    // both ends of the replication link: the Secondary's and the Primary's listening port
    for (const [i, [bytes, step]] of peerInputs.entries()) {
      if ((await hostileStream({ host: '127.0.0.1', port: i % 2 ? port1 : port2 }, split(bytes, step))) === 'timeout') peerTimeouts++;
    }
    for (const [bytes, step] of nbdInputs) await hostileStream({ path: p.node1.nbdSocket }, split(bytes, step));

    for (const n of p.nodes) expect(n.proc?.exitCode ?? null, `${n.name} exited:\n${p.logs()}`).toBeNull();
    // the daemons closed the hostile connections themselves (bad frames, no handshake)
    expect(peerTimeouts).toBe(0);
    // the Primary's export still serves a real client, whatever became of the link
    await writeBlocks(p.node1, [9], 'during');
    // the established, authenticated link survived the strangers: no reconnect was needed
    for (const n of p.nodes) expect((await n.status()).cs).not.toBe('StandAlone');
    // the real link is up and a real client is served: write, read back, replicated
    await p.node1.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'pair healthy after the fuzz');
    const blocks = [0, 7, 300, 1000];
    await writeBlocks(p.node1, blocks, 'after-fuzz');
    const client = await openNbd(p.node1);
    try {
      for (const b of blocks) expect((await client.read(b * BLOCK, BLOCK)).equals(pattern('after-fuzz', b))).toBe(true);
    } finally {
      await client.close();
    }
    await p.node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate', 'node2 UpToDate');
    expect(disksEqual(p.node1, p.node2, 0, layoutOf(p.node1).usableSize)).toBe(true);
    // unauthenticated frames never reached the disk of the Secondary as data
    expect(p.node2.readDisk(0, BLOCK).equals(pattern('after-fuzz', 0))).toBe(true);
  }, 120_000);
});

describe('a stranger on the replication port', () => {
  async function strangerHello(p: Pair, hello: PeerMessage): Promise<string> {
    const s = net.connect({ host: '127.0.0.1', port: peerPort(p, 'node2') });
    s.on('error', () => undefined);
    s.resume();
    await new Promise((r) => s.once('connect', r));
    const remote = `127.0.0.1:${s.localPort}`;
    s.write(Buffer.concat(encodeFrame(hello)));
    await new Promise((r) => s.once('close', r));
    // node2 has dealt with the attempt once it logged its end
    await waitFor(() => p.node2.logs.split('\n').some((l) => l.includes(remote) && l.includes('connection attempt ended')), 10_000, 'node2 to end the stranger\'s attempt');
    return p.node2.logs.split('\n').filter((l) => l.includes(remote)).join('\n');
  }
  const hello = { type: 'hello', version: PROTOCOL_VERSION, resource: 'r0', node: 'node1', nonce: '0123456789abcdef' } as const;

  it('a hello with the wrong node or resource name is refused and the established link is untouched', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 8, net: SECRET }));
    await p.initialSync();
    expect(await strangerHello(p, { ...hello, node: 'mallory', auth: 'sha1' })).toContain("peer calls itself 'mallory', expected 'node1'");
    expect(await strangerHello(p, { ...hello, resource: 'r9', auth: 'sha1' })).toContain("peer serves resource 'r9', not 'r0'");
    expect(await strangerHello(p, { ...hello, auth: 'sha1' })).toContain('connection race: node2 keeps another connection');
    expect((await p.node2.status()).cs).toBe('Connected');
  }, 60_000);

  // Found by the fuzz above: a stranger's unauthenticated hello ("the peer has no shared-secret")
  // used to make node2 drop its authenticated link and go StandAlone, a remote denial of service.
  it('an unauthenticated hello does not break the established authenticated link', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 8, net: SECRET }));
    await p.initialSync();
    expect(await strangerHello(p, hello)).toContain('the peer has no shared-secret');
    expect((await p.node2.status()).cs).toBe('Connected');
  }, 60_000);

  // An authentication failure while the peer is away leaves node2 StandAlone ("Discarding network
  // configuration", as DRBD); `connect` must then start a new link, as `drbdadm connect` does.
  it('tandemadm connect reconnects a node left StandAlone by an authentication failure', async () => {
    const p = (pair = await Pair.create({ sizeMiB: 8, net: SECRET }));
    await p.initialSync();
    await p.node1.admOk('disconnect', 'r0');
    await p.node2.waitState((s) => s.cs === 'WFConnection', 'node2 waiting for its peer');
    expect(await strangerHello(p, hello)).toContain('the peer has no shared-secret');
    await p.node2.waitState((s) => s.cs === 'StandAlone', 'StandAlone after the stranger', 5000);
    await p.node1.admOk('connect', 'r0');
    await p.node2.admOk('connect', 'r0');
    await p.node2.waitState((s) => s.cs === 'Connected', 'Connected after connect', 15_000);
  }, 60_000);
});

describe('damaged metadata on a real backing disk', () => {
  /** A pair in sync with some data, node2 taken down cleanly (its bitmap checksum recorded). */
  async function pairWithNode2Down(): Promise<Pair> {
    const p = (pair = await Pair.create({ sizeMiB: 16 }));
    await p.initialSync();
    await writeBlocks(p.node1, [1, 2, 3, 1000, 3000], 'before');
    await p.node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate', 'node2 in sync');
    await p.node2.admOk('down', 'r0');
    await p.node1.waitState((s) => s.cs === 'WFConnection', 'node1 sees node2 gone');
    return p;
  }

  function flipBytes(file: string, offset: number, count: number): void {
    const fd = fs.openSync(file, 'r+');
    try {
      const b = Buffer.alloc(count);
      fs.readSync(fd, b, 0, count, offset);
      for (let i = 0; i < count; i++) b[i] = b[i]! ^ 0x5a;
      fs.writeSync(fd, b, 0, count, offset);
    } finally {
      fs.closeSync(fd);
    }
  }

  it('a corrupted superblock is refused at up and attach with a clear message; create-md --force and a full sync recover', async () => {
    const p = await pairWithNode2Down();
    const { superblockOffset, usableSize } = layoutOf(p.node2);
    // the usable-size field of node2's superblock (offset 16 in the 4 KiB block)
    flipBytes(p.node2.disk, superblockOffset + 16, 8);

    for (const cmd of ['up', 'attach']) {
      const r = await p.node2.adm(cmd, 'r0');
      expect(r.code, `${cmd}: ${r.stdout}`).not.toBe(0);
      expect(r.stderr).toMatch(/metadata superblock checksum mismatch \(torn write or corruption\)/);
    }
    expect((await p.node2.adm('dump-md', 'r0')).stderr).toMatch(/superblock checksum mismatch/);
    expect(p.node2.proc?.exitCode ?? null).toBeNull(); // refused, not crashed
    expect((await p.node2.status()).disk).toBe('Diskless');

    // the node1 side goes on alone meanwhile
    await writeBlocks(p.node1, [4, 5, 2000], 'while-node2-broken');

    // recovery (README "Damaged metadata"): fresh metadata, then a full sync from the peer
    await p.node2.admOk('create-md', '--force', 'r0');
    const nrBefore = (await p.node2.status()).counters.nr ?? 0;
    await p.node2.admOk('up', 'r0');
    await p.node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'node2 resynced after create-md', 60_000);
    const synced = ((await p.node2.status()).counters.nr ?? 0) - nrBefore;
    expect(synced).toBeGreaterThanOrEqual(usableSize / 1024); // a full sync, not a bitmap one
    expect(disksEqual(p.node1, p.node2, 0, usableSize)).toBe(true);
    expect(p.node2.readDisk(2000 * BLOCK, BLOCK).equals(pattern('while-node2-broken', 2000))).toBe(true);
  }, 120_000);

  it('a corrupted bitmap is not trusted: the node comes up and gets a full sync', async () => {
    const p = await pairWithNode2Down();
    const { bitmapOffset, usableSize } = layoutOf(p.node2);
    // the blocks node2 misses while it is down, then its on-disk bitmap damaged
    await writeBlocks(p.node1, [6, 7, 2500], 'while-node2-down');
    flipBytes(p.node2.disk, bitmapOffset, 64);

    const nrBefore = (await p.node2.status()).counters.nr ?? 0;
    await p.node2.admOk('up', 'r0');
    await p.node2.waitState((s) => s.cs === 'Connected' && s.disk === 'UpToDate' && s.peerDisk === 'UpToDate', 'node2 resynced', 60_000);
    const synced = ((await p.node2.status()).counters.nr ?? 0) - nrBefore;
    expect(synced, p.logs()).toBeGreaterThanOrEqual(usableSize / 1024);
    expect(disksEqual(p.node1, p.node2, 0, usableSize)).toBe(true);
    expect(p.node2.readDisk(2500 * BLOCK, BLOCK).equals(pattern('while-node2-down', 2500))).toBe(true);
  }, 120_000);
});
