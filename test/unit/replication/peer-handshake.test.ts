import { describe, expect, it } from 'vitest';
import { Handshake, type HandshakeOutcome, type HandshakeSetup, type HandshakeStep } from '../../../src/replication/handshake.js';
import { challengeResponse, resolveAuth, type ResolvedAuth } from '../../../src/replication/auth.js';
import { decodeChunks, encodeFrame } from '../../../src/replication/frame-codec.js';
import { PROTOCOL_VERSION, type PeerMessage } from '../../../src/replication/messages.js';

function auth(alg: string, secret: string): ResolvedAuth {
  const r = resolveAuth({ alg, secret });
  if (!r.ok) throw new Error(r.reason);
  return r.auth;
}

function setup(self: string, peer: string, initiator: boolean, over: Partial<HandshakeSetup> = {}): HandshakeSetup {
  return {
    resource: 'r0', selfNode: self, peerNode: peer, auth: null, initiator,
    nonce: `${self}-nonce`, challenge: Buffer.alloc(64, self.charCodeAt(0)), ...over,
  };
}

/** Everything a side sent and how it ended. */
interface SideLog {
  sent: PeerMessage[];
  outcome: HandshakeOutcome;
}

/** Runs two handshakes against each other through the real codec; a decider that asks to claim gets its claim. */
function run(a: HandshakeSetup, b: HandshakeSetup): { a: SideLog; b: SideLog } {
  const sides = [
    { hs: new Handshake(a), log: { sent: [], outcome: { kind: 'pending' } } as SideLog, inbox: [] as PeerMessage[] },
    { hs: new Handshake(b), log: { sent: [], outcome: { kind: 'pending' } } as SideLog, inbox: [] as PeerMessage[] },
  ];
  const deliver = (from: number, step: HandshakeStep): void => {
    const me = sides[from]!;
    const other = sides[1 - from]!;
    for (const m of step.send) {
      me.log.sent.push(m);
      const r = decodeChunks([Buffer.concat(encodeFrame(m))]);
      expect(r.error).toBeNull();
      other.inbox.push(...r.messages);
    }
    me.log.outcome = step.outcome;
    if (step.outcome.kind === 'claim') deliver(from, me.hs.claim());
  };
  deliver(0, sides[0]!.hs.start());
  deliver(1, sides[1]!.hs.start());
  for (let guard = 0; guard < 50; guard++) {
    let moved = false;
    for (const i of [0, 1]) {
      const s = sides[i]!;
      const m = s.inbox.shift();
      if (!m) continue;
      moved = true;
      if (s.hs.finished) continue; // the link would have closed this side
      deliver(i, s.hs.receive(m));
    }
    if (!moved) break;
  }
  return { a: sides[0]!.log, b: sides[1]!.log };
}

const types = (log: SideLog) => log.sent.map((m) => m.type);

describe('peer handshake: who connects to whom', () => {
  // bob > alice: bob decides. Every combination of decider/follower and initiator/acceptor.
  it.each([
    ['follower connects to decider', 'alice', 'bob'],
    ['decider connects to follower', 'bob', 'alice'],
  ])('%s: both established with the same connection id', (_n, initiatorName, acceptorName) => {
    const r = run(setup(initiatorName, acceptorName, true), setup(acceptorName, initiatorName, false));
    expect(r.a.outcome.kind).toBe('established');
    expect(r.b.outcome.kind).toBe('established');
    if (r.a.outcome.kind !== 'established' || r.b.outcome.kind !== 'established') return;
    expect(r.a.outcome.connectionId).toBe(r.b.outcome.connectionId);
    expect(r.a.outcome.connectionId).toBe('bob-nonce.alice-nonce');
    expect(r.a.outcome.peer.node).toBe(acceptorName);
    expect(types(r.a)).toEqual(['hello']);
    expect(types(r.b)).toEqual(['hello']);
  });

  it('the follower answers nothing until the decider has spoken', () => {
    const follower = new Handshake(setup('alice', 'bob', false));
    expect(follower.start().send).toEqual([]);
  });

  it('a decider that keeps another connection declines with a reason the follower sees', () => {
    const decider = new Handshake(setup('bob', 'alice', false));
    const follower = new Handshake(setup('alice', 'bob', true));
    const hello = follower.start().send[0]!;
    expect(decider.receive(hello).outcome).toEqual({ kind: 'claim' });
    const declined = decider.decline('connection race: bob keeps another connection');
    expect(declined.send).toEqual([{ type: 'disconnect', reason: 'connection race: bob keeps another connection' }]);
    expect(follower.receive(declined.send[0]!).outcome).toEqual({ kind: 'peer-closed', reason: 'connection race: bob keeps another connection' });
  });
});

describe('peer handshake: refusals (drop the connection, keep trying)', () => {
  it.each([
    ['protocol version', { version: 1 }, /incompatible protocol: peer speaks version 1, this node 2/],
    ['resource name', { resource: 'r1' }, /peer serves resource 'r1', not 'r0'/],
    ['node name', { selfNode: 'mallory' }, /peer calls itself 'mallory', expected 'alice'/],
  ])('%s mismatch is refused with a clear reason', (_n, over, reason) => {
    const alice = setup('alice', 'bob', true, over as Partial<HandshakeSetup>);
    const r = run(alice, setup('bob', 'alice', false));
    expect(r.b.outcome.kind).toBe('refused');
    expect(r.b.outcome.kind === 'refused' && r.b.outcome.reason).toMatch(reason);
    expect(r.a.outcome).toMatchObject({ kind: 'peer-closed' });
    expect(types(r.b)).toEqual(['disconnect']);
  });
});

describe('peer handshake: cram-hmac authentication', () => {
  const good = auth('sha256', 'secret');

  it.each(['sha1', 'sha256', 'sha512', 'md5'])('with the same %s secret both sides authenticate the other', (alg) => {
    const a = auth(alg, 'Tr1cky');
    for (const [x, y] of [['alice', 'bob'], ['bob', 'alice']] as const) {
      const r = run(setup(x, y, true, { auth: a }), setup(y, x, false, { auth: a }));
      expect(r.a.outcome.kind).toBe('established');
      expect(r.b.outcome.kind).toBe('established');
      for (const side of [r.a, r.b]) {
        expect(types(side).sort()).toEqual(['auth-challenge', 'auth-response', 'auth-result', 'hello']);
      }
    }
  });

  it('a wrong secret fails on both sides with DRBD\'s words, and nothing but handshake messages is sent', () => {
    for (const [x, y] of [['alice', 'bob'], ['bob', 'alice']] as const) {
      const r = run(setup(x, y, true, { auth: auth('sha1', 'one') }), setup(y, x, false, { auth: auth('sha1', 'two') }));
      for (const side of [r.a, r.b]) {
        expect(side.outcome).toEqual({ kind: 'auth-failed', reason: 'Authentication of peer failed' });
        expect(side.sent.at(-1)).toEqual({ type: 'auth-result', ok: false, reason: 'Authentication of peer failed' });
        for (const t of types(side)) expect(['hello', 'auth-challenge', 'auth-response', 'auth-result']).toContain(t);
      }
    }
  });

  it('a secret on one side only fails on both sides, each saying which side lacks it', () => {
    const r = run(setup('bob', 'alice', true, { auth: good }), setup('alice', 'bob', false));
    expect(r.b.outcome).toEqual({ kind: 'auth-failed', reason: 'the peer requires cram-hmac-alg sha256 but no shared-secret is configured here' });
    expect(r.a.outcome).toEqual({
      kind: 'auth-failed',
      reason: 'peer refused us: the peer requires cram-hmac-alg sha256 but no shared-secret is configured here',
    });
    const r2 = run(setup('alice', 'bob', true), setup('bob', 'alice', false, { auth: good }));
    expect(r2.b.outcome).toEqual({ kind: 'auth-failed', reason: 'cram-hmac-alg sha256 is configured here but the peer has no shared-secret' });
    expect(r2.a.outcome.kind).toBe('auth-failed');
  });

  it('different algorithms fail authentication', () => {
    const r = run(setup('alice', 'bob', true, { auth: auth('sha1', 's') }), setup('bob', 'alice', false, { auth: auth('sha256', 's') }));
    expect(r.b.outcome).toEqual({ kind: 'auth-failed', reason: 'cram-hmac-alg differs: sha256 here, sha1 on the peer' });
    expect(r.a.outcome.kind).toBe('auth-failed');
  });

  function deciderInAuth(): { hs: Handshake; hello: PeerMessage } {
    const hs = new Handshake(setup('bob', 'alice', false, { auth: good }));
    const hello: PeerMessage = { type: 'hello', version: PROTOCOL_VERSION, resource: 'r0', node: 'alice', nonce: 'n1', auth: 'sha256' };
    expect(hs.receive(hello).outcome.kind).toBe('claim');
    expect(types({ sent: hs.claim().send, outcome: { kind: 'pending' } })).toEqual(['hello', 'auth-challenge']);
    return { hs, hello };
  }

  it('refuses a reflected challenge (DRBD: "Peer presented the same challenge!")', () => {
    const { hs } = deciderInAuth();
    const step = hs.receive({ type: 'auth-challenge', challenge: Buffer.alloc(64, 'b'.charCodeAt(0)) });
    expect(step.outcome).toEqual({ kind: 'auth-failed', reason: 'Peer presented the same challenge!' });
  });

  it.each([63, 129])('refuses a %d-byte challenge (DRBD accepts 64..128)', (n) => {
    const { hs } = deciderInAuth();
    expect(hs.receive({ type: 'auth-challenge', challenge: Buffer.alloc(n, 1) }).outcome).toMatchObject({ kind: 'auth-failed' });
  });

  it('answers a challenge with HMAC(secret, challenge) and accepts the right answer to its own', () => {
    const { hs } = deciderInAuth();
    const peerChallenge = Buffer.alloc(64, 0x42);
    const answer = hs.receive({ type: 'auth-challenge', challenge: peerChallenge });
    expect(answer.send).toEqual([{ type: 'auth-response', response: challengeResponse(good, peerChallenge) }]);
    const own = Buffer.alloc(64, 'b'.charCodeAt(0));
    expect(hs.receive({ type: 'auth-response', response: challengeResponse(good, own) }).send).toEqual([{ type: 'auth-result', ok: true }]);
    expect(hs.receive({ type: 'auth-result', ok: true }).outcome).toMatchObject({ kind: 'established' });
  });

  it.each<[string, PeerMessage]>([
    ['data before authentication', { type: 'data', seq: 1, offset: 0, length: 0, kind: 'trim', fua: false }],
    ['an auth-result before we answered', { type: 'auth-result', ok: true }],
    ['a second hello', { type: 'hello', version: PROTOCOL_VERSION, resource: 'r0', node: 'alice', nonce: 'n2', auth: 'sha256' }],
    ['params before authentication', {
      type: 'params', protocol: 'C', usableSize: 0, uuids: { current: '0', bitmap: '0', history: ['0', '0'] },
      flags: [], dirtyBits: 0, role: 'Secondary', disk: 'UpToDate', discardMyData: false,
    }],
  ])('%s is a protocol error', (_n, msg) => {
    const { hs } = deciderInAuth();
    expect(hs.receive(msg).outcome.kind).toBe('protocol-error');
  });

  it('nothing is accepted before hello', () => {
    const hs = new Handshake(setup('alice', 'bob', false, { auth: good }));
    expect(hs.receive({ type: 'auth-challenge', challenge: Buffer.alloc(64) }).outcome.kind).toBe('protocol-error');
  });
});
