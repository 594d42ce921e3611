// Two PeerLinks in one process over 127.0.0.1. No fixed sleeps: every wait is for a condition,
// with a deadline.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { PeerLink, PeerLinkConfigError, PeerLinkListenError, type LinkState, type PeerLinkOptions } from '../../../src/replication/peer-link.js';
import type { PeerConnection } from '../../../src/replication/peer-connection.js';
import type { LostCause } from '../../../src/replication/framed-socket.js';
import type { LinkLogger } from '../../../src/replication/link-logger.js';
import { PROTOCOL_VERSION, type PeerMessage } from '../../../src/replication/messages.js';
import { encodeFrame } from '../../../src/replication/frame-codec.js';
import { freePort } from '../../helpers/free-port.js';

interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  msg: string;
}

class RecordingLogger implements LinkLogger {
  readonly entries: LogEntry[] = [];
  debug(fields: object, msg: string): void { this.entries.push({ level: 'debug', fields: fields as Record<string, unknown>, msg }); }
  info(fields: object, msg: string): void { this.entries.push({ level: 'info', fields: fields as Record<string, unknown>, msg }); }
  warn(fields: object, msg: string): void { this.entries.push({ level: 'warn', fields: fields as Record<string, unknown>, msg }); }
  error(fields: object, msg: string): void { this.entries.push({ level: 'error', fields: fields as Record<string, unknown>, msg }); }
  has(pred: (e: LogEntry) => boolean): boolean {
    return this.entries.some(pred);
  }
}

/** A link plus everything it reported. */
interface Node {
  link: PeerLink;
  log: RecordingLogger;
  states: LinkState[];
  established: PeerConnection[];
  lost: { reason: string; cause: LostCause }[];
  authFailed: string[];
  refused: string[];
  received: PeerMessage[];
}

const started: PeerLink[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((l) => l.stop('test over')));
});

function node(opts: Omit<PeerLinkOptions, 'logger'>): Node {
  const log = new RecordingLogger();
  const link = new PeerLink({ ...opts, logger: log });
  const n: Node = { link, log, states: [], established: [], lost: [], authFailed: [], refused: [], received: [] };
  link.onState((s) => n.states.push(s));
  link.onEstablished((c) => {
    n.established.push(c);
    c.onMessage((m) => n.received.push(m));
  });
  link.onLost((reason, cause) => n.lost.push({ reason, cause }));
  link.onAuthFailed((r) => n.authFailed.push(r));
  link.onRefused((r) => n.refused.push(r));
  started.push(link);
  return n;
}

const FAST = { pingIntMs: 1000, pingTimeoutMs: 500, connectIntMs: 300, connectMinMs: 20 };

async function pair(over: { a?: Partial<PeerLinkOptions>; b?: Partial<PeerLinkOptions> } = {}): Promise<{ a: Node; b: Node }> {
  const [pa, pb] = [await freePort(), await freePort()];
  const a = node({
    resource: 'r0', selfNode: 'alice', peerNode: 'bob',
    listen: { host: '127.0.0.1', port: pa }, peer: { host: '127.0.0.1', port: pb }, ...FAST, ...over.a,
  });
  const b = node({
    resource: 'r0', selfNode: 'bob', peerNode: 'alice',
    listen: { host: '127.0.0.1', port: pb }, peer: { host: '127.0.0.1', port: pa }, ...FAST, ...over.b,
  });
  return { a, b };
}

async function until(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const connected = (n: Node) => n.link.connection !== null && n.link.state === 'WFReportParams';

async function bothConnected(a: Node, b: Node, timeoutMs = 5000): Promise<void> {
  await until('both links established', () => connected(a) && connected(b), timeoutMs);
}

describe('PeerLink: connecting', () => {
  it('connects, agrees on one connection id, and carries messages both ways', async () => {
    const { a, b } = await pair();
    await Promise.all([a.link.start(), b.link.start()]);
    await bothConnected(a, b);
    const [ca, cb] = [a.link.connection!, b.link.connection!];
    expect(ca.id).toBe(cb.id);
    expect(ca.remoteNode).toBe('bob');
    expect(cb.remoteNode).toBe('alice');
    expect([ca.initiatedBy, cb.initiatedBy].sort()).toEqual(['peer', 'self']);
    expect(a.states).toEqual(['Unconnected', 'WFConnection', 'WFReportParams']);

    ca.send({ type: 'state', role: 'Primary', disk: 'UpToDate' });
    cb.send({ type: 'write-ack', seq: 7, ok: true });
    await until('messages delivered', () => a.received.length === 1 && b.received.length === 1);
    expect(b.received).toEqual([{ type: 'state', role: 'Primary', disk: 'UpToDate' }]);
    expect(a.received).toEqual([{ type: 'write-ack', seq: 7, ok: true }]);
    expect(ca.bytesSent).toBeGreaterThan(0);
    expect(cb.bytesReceived).toBeGreaterThan(0);

    a.link.markConnected();
    expect(a.link.state).toBe('Connected');
  });

  it('resolves simultaneous connects to the same single connection on both sides, every time', async () => {
    let crossed = 0;
    for (let i = 0; i < 25; i++) {
      const { a, b } = await pair();
      await Promise.all([a.link.start(), b.link.start()]);
      await bothConnected(a, b);
      expect(a.link.connection!.id).toBe(b.link.connection!.id);
      // A round trip after establishment proves neither side later swapped to the other connection.
      a.link.connection!.send({ type: 'flush', seq: i });
      await until('flush arrives', () => b.received.length === 1);
      b.link.connection!.send({ type: 'flush-ack', seq: i, ok: true });
      await until('flush-ack arrives', () => a.received.length === 1);
      expect(a.established).toHaveLength(1);
      expect(b.established).toHaveLength(1);
      expect(a.lost).toEqual([]);
      expect(b.lost).toEqual([]);
      expect(a.link.connection!.id).toBe(b.link.connection!.id);
      if ([...a.log.entries, ...b.log.entries].some((e) => String(e.fields.reason ?? '').startsWith('connection race:'))) crossed++;
      await Promise.all([a.link.stop(), b.link.stop()]);
    }
    // Both sides connect the moment they listen: the crossing path must actually have been taken.
    expect(crossed).toBeGreaterThan(0);
  }, 60_000);

  it('binds only the configured local address', async () => {
    const { a } = await pair();
    await a.link.start();
    const port = a.link.listenPort!;
    const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => {
      const s = net.connect({ host: '127.0.0.2', port });
      s.on('connect', () => { s.destroy(); resolve(null); });
      s.on('error', (e) => resolve(e));
    });
    expect(err?.code).toBe('ECONNREFUSED');
  });

  it('reports a listen address in use with a clear error and stays StandAlone', async () => {
    const { a } = await pair();
    await a.link.start();
    const clash = node({
      resource: 'r0', selfNode: 'carol', peerNode: 'bob', listen: { host: '127.0.0.1', port: a.link.listenPort! },
      peer: { host: '127.0.0.1', port: 1 }, ...FAST,
    });
    await expect(clash.link.start()).rejects.toThrow(PeerLinkListenError);
    await expect(clash.link.start()).rejects.toThrow(/resource r0: cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    expect(clash.link.state).toBe('StandAlone');
  });

  it('refuses configurations it cannot run', () => {
    const base = {
      resource: 'r0', selfNode: 'alice', peerNode: 'bob', listen: { host: '127.0.0.1', port: 1 },
      peer: { host: '127.0.0.1', port: 2 }, ...FAST, logger: new RecordingLogger(),
    };
    expect(() => new PeerLink({ ...base, peerNode: 'alice' })).toThrow(/this node and the peer are both named 'alice'/);
    expect(() => new PeerLink({ ...base, auth: { alg: 'sha999', secret: 'x' } })).toThrow(PeerLinkConfigError);
    expect(() => new PeerLink({ ...base, auth: { alg: 'sha999', secret: 'x' } })).toThrow(/cram-hmac-alg sha999 is not supported/);
    expect(() => new PeerLink({ ...base, pingTimeoutMs: 0 })).toThrow(/pingTimeoutMs must be > 0/);
    expect(() => new PeerLink({ ...base, peer: { host: '127.0.0.1', port: 70000 } })).toThrow(/peer port 70000 is not a TCP port/);
  });
});

describe('PeerLink: authentication and refusals', () => {
  it('authenticates with the same secret', async () => {
    const auth = { alg: 'sha256', secret: 'our-secret' };
    const { a, b } = await pair({ a: { auth }, b: { auth } });
    await Promise.all([a.link.start(), b.link.start()]);
    await bothConnected(a, b);
    expect(a.log.has((e) => e.msg.startsWith('Peer authenticated using sha256 HMAC'))).toBe(true);
  });

  it('a wrong secret: both sides report auth failure, go StandAlone, stop retrying, and nothing but auth passes', async () => {
    const { a, b } = await pair({ a: { auth: { alg: 'sha1', secret: 'alpha' } }, b: { auth: { alg: 'sha1', secret: 'beta' } } });
    await Promise.all([a.link.start(), b.link.start()]);
    await until('both sides fail authentication', () => a.authFailed.length > 0 && b.authFailed.length > 0);
    for (const n of [a, b]) {
      expect(n.authFailed[0]).toMatch(/Authentication of peer failed/);
      expect(n.link.state).toBe('StandAlone');
      expect(n.link.listenPort).toBeNull();
      expect(n.established).toEqual([]);
      expect(n.received).toEqual([]);
      expect(n.log.has((e) => e.level === 'error' && /Authentication of peer failed/.test(e.msg))).toBe(true);
      expect(n.log.has((e) => e.msg === 'Discarding network configuration.')).toBe(true);
    }
  });

  it('a secret on one side only fails on both sides with the reason', async () => {
    const { a, b } = await pair({ b: { auth: { alg: 'sha1', secret: 'only-bob' } } });
    await Promise.all([a.link.start(), b.link.start()]);
    await until('both sides fail authentication', () => a.authFailed.length > 0 && b.authFailed.length > 0);
    expect([...a.authFailed, ...b.authFailed].join('\n')).toMatch(/no shared-secret/);
    expect(a.link.state).toBe('StandAlone');
    expect(b.link.state).toBe('StandAlone');
  });

  it('a resource-name mismatch is refused on both sides, which keep waiting for the right peer', async () => {
    const { a, b } = await pair({ b: { resource: 'r1' } });
    await Promise.all([a.link.start(), b.link.start()]);
    await until('both sides refuse', () => a.refused.length > 0 && b.refused.length > 0);
    expect(a.refused[0]).toBe("peer serves resource 'r1', not 'r0'");
    expect(b.refused[0]).toBe("peer serves resource 'r0', not 'r1'");
    expect(a.established).toEqual([]);
    expect(b.established).toEqual([]);
    expect(a.link.state).toBe('WFConnection');
    expect(b.link.state).toBe('WFConnection');
  });
});

describe('PeerLink: losing and finding the peer', () => {
  it('peer stopped: the other sees lost and returns to WFConnection, then reconnects when the peer restarts', async () => {
    const { a, b } = await pair();
    await Promise.all([a.link.start(), b.link.start()]);
    await bothConnected(a, b);
    const firstId = a.link.connection!.id;
    await b.link.stop('shutting down');
    await until('alice sees the loss', () => a.lost.length === 1 && a.link.state === 'WFConnection');
    expect(a.lost[0]).toEqual({ reason: 'shutting down', cause: { kind: 'peer-disconnected', reason: 'shutting down' } });
    expect(b.link.state).toBe('StandAlone');
    expect(b.lost[0]?.cause.kind).toBe('closed-locally');

    await b.link.start();
    await bothConnected(a, b);
    expect(a.link.connection!.id).toBe(b.link.connection!.id);
    expect(a.link.connection!.id).not.toBe(firstId);
  });

  it('a peer that vanishes without a goodbye is BrokenPipe, then WFConnection', async () => {
    const { a, b } = await pair();
    await Promise.all([a.link.start(), b.link.start()]);
    await bothConnected(a, b);
    // What a killed process leaves: the kernel closes the socket, no disconnect message.
    (b.link.connection as unknown as { framed: { socket: net.Socket } }).framed.socket.end();
    await until('alice sees the loss', () => a.lost.length === 1);
    expect(a.lost[0]!.cause.kind).toBe('peer-closed');
    expect(a.states).toContain('BrokenPipe');
    await bothConnected(a, b);
  });

  it('ping-timeout: a peer that stops reading is declared dead, and both reconnect once it reads again', async () => {
    // Alice pings quickly; bob's own keepalive is slow, so only alice's detection is exercised.
    const { a, b } = await pair({ a: { pingIntMs: 100, pingTimeoutMs: 200 }, b: { pingIntMs: 30_000, pingTimeoutMs: 5000 } });
    await Promise.all([a.link.start(), b.link.start()]);
    await bothConnected(a, b);
    b.link.connection!.pauseReceiving();
    await until('alice times out', () => a.lost.length === 1, 3000);
    expect(a.lost[0]!.cause.kind).toBe('ping-timeout');
    expect(a.lost[0]!.reason).toMatch(/PingAck did not arrive in time/);
    expect(a.states.slice(-3)).toEqual(['NetworkFailure', 'Unconnected', 'WFConnection']);

    b.link.connection!.resumeReceiving();
    await until('bob sees the goodbye', () => b.lost.length === 1);
    await bothConnected(a, b);
  });

  it('a restarted decider whose old connection the follower never saw close supersedes it', async () => {
    const { a, b } = await pair(); // bob sorts higher: bob decides
    await Promise.all([a.link.start(), b.link.start()]);
    await bothConnected(a, b);
    const old = a.link.connection!;
    old.pauseReceiving(); // alice will not notice bob's goodbye: a half-open connection, as after a power cut
    await b.link.stop('crash');
    await b.link.start();
    await until('alice adopts the new connection', () => a.established.length === 2 && connected(a) && connected(b));
    expect(a.lost.map((l) => l.cause.kind)).toEqual(['superseded']);
    expect(old.closed).toBe(true);
    expect(a.link.connection!.id).toBe(b.link.connection!.id);
    expect(a.link.connection).not.toBe(old);
  });

  it('the daemon closing the connection sends the reason and both sides reconnect', async () => {
    const { a, b } = await pair();
    await Promise.all([a.link.start(), b.link.start()]);
    await bothConnected(a, b);
    a.link.connection!.close('params mismatch');
    await until('both lost', () => a.lost.length === 1 && b.lost.length === 1);
    expect(b.lost[0]!.cause).toEqual({ kind: 'peer-disconnected', reason: 'params mismatch' });
    await bothConnected(a, b);
  });

  it('a message handler that throws is logged and only costs the connection', async () => {
    const { a, b } = await pair();
    b.link.onEstablished((c) => c.onMessage((m) => {
      if (m.type === 'sync-uuid') throw new Error('daemon bug');
    }));
    await Promise.all([a.link.start(), b.link.start()]);
    await bothConnected(a, b);
    a.link.connection!.send({ type: 'sync-uuid', uuid: '1' });
    await until('bob drops the connection', () => b.lost.length === 1);
    expect(b.lost[0]!.cause.kind).toBe('internal-error');
    expect(b.log.has((e) => e.level === 'error' && /daemon bug/.test(e.msg))).toBe(true);
    await bothConnected(a, b);
  });
});

describe('PeerLink: stray connections', () => {
  function raw(port: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.resume(); // read, so the server's close is seen
      s.on('error', reject);
    });
  }
  const closed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

  it('malformed bytes are dropped and logged, and the listener still serves the real peer afterwards', async () => {
    const { a, b } = await pair();
    await a.link.start();
    const s = await raw(a.link.listenPort!);
    s.on('error', () => {});
    s.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await closed(s);
    expect(a.log.has((e) => e.level === 'warn' && e.msg === 'dropping connection: malformed frame' && /bad magic 0x47455420/.test(String(e.fields.reason)))).toBe(true);
    expect(a.link.state).toBe('WFConnection');

    await b.link.start();
    await bothConnected(a, b);
  });

  it('a stray peer of another resource is refused and logged; a silent client is dropped after the handshake timeout', async () => {
    const { a, b } = await pair({ a: { handshakeTimeoutMs: 300 } });
    await a.link.start();
    const stray = await raw(a.link.listenPort!);
    stray.on('error', () => {});
    // alice < bob, so a stray claiming to be bob is the decider and speaks first.
    for (const c of encodeFrame({ type: 'hello', version: PROTOCOL_VERSION, resource: 'www', node: 'bob', nonce: 'x' })) stray.write(c);
    await closed(stray);
    expect(a.refused).toEqual(["peer serves resource 'www', not 'r0'"]);

    const silent = await raw(a.link.listenPort!);
    silent.on('error', () => {});
    await closed(silent);
    expect(a.log.has((e) => /no handshake within 300 ms/.test(String(e.fields.reason)))).toBe(true);

    await b.link.start();
    await bothConnected(a, b);
  });
});

describe('PeerLink: bulk data', () => {
  it('a 16 MiB stream of 4 KiB data messages arrives in order and intact', async () => {
    const { a, b } = await pair();
    await Promise.all([a.link.start(), b.link.start()]);
    await bothConnected(a, b);
    const tx = a.link.connection!;
    const total = 4096;
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let next = 0;
    let outOfOrder = 0;
    b.link.connection!.onMessage((m) => {
      if (m.type !== 'data' || !m.payload) return;
      if (m.seq !== next || m.offset !== next * 4096) outOfOrder++;
      next++;
      got.update(m.payload);
    });
    let drains = 0;
    tx.onDrain(() => drains++);
    for (let seq = 0; seq < total;) {
      // Queue a batch per tick and respect backpressure, as the resync sender will.
      for (let k = 0; k < 64 && seq < total; k++, seq++) {
        const payload = randomBytes(4096);
        sent.update(payload);
        tx.send({ type: 'data', seq, offset: seq * 4096, length: 4096, kind: 'write', fua: false, payload });
      }
      await new Promise((r) => setImmediate(r));
      if (tx.writableNeedDrain) await new Promise<void>((r) => { const off = tx.onDrain(() => { off(); r(); }); });
    }
    await until('all messages received', () => next === total, 20_000);
    expect(outOfOrder).toBe(0);
    expect(got.digest('hex')).toBe(sent.digest('hex'));
    expect(b.link.connection!.bytesReceived).toBeGreaterThan(16 * 1024 * 1024);
    expect(drains).toBeGreaterThan(0); // backpressure was exercised, not bypassed
  }, 30_000);
});
