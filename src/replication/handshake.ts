// The handshake on one TCP connection, as a pure state machine: it takes the messages received
// and returns the messages to send and an outcome. The link owns the socket.
//
// Who keeps which connection: both nodes connect and listen, so two connections can cross. The
// node whose name sorts higher is the *decider*: it sends its hello on at most one connection at a
// time (the one it "claims"), and the other node (the *follower*) only treats a connection as
// chosen once the decider's hello arrives on it. Both ends therefore settle on the same connection
// without comparing timings, and a connection the decider did not claim is closed with a reason.
//
// Order on the chosen connection:
//   hello <-> hello                      (version, resource, node names, auth algorithm)
//   auth-challenge <-> auth-challenge    (only with cram-hmac-alg + shared-secret; DRBD's drbd_do_auth)
//   auth-response <-> auth-response      HMAC(alg, secret, peer's challenge)
//   auth-result <-> auth-result          each side's verdict on the other's response
import { PROTOCOL_VERSION, type HelloMsg, type PeerMessage } from './messages.js';
import { challengeResponse, checkPeerChallenge, verifyResponse, type ResolvedAuth } from './auth.js';

export type LinkRole = 'decider' | 'follower';

export interface HandshakeSetup {
  resource: string;
  selfNode: string;
  peerNode: string;
  auth: ResolvedAuth | null;
  /** true when this side opened the TCP connection */
  initiator: boolean;
  /** this side's random nonce for this connection */
  nonce: string;
  /** this side's 64-byte challenge; needed only with auth */
  challenge: Buffer;
  version?: number;
}

export type HandshakeOutcome =
  | { kind: 'pending' }
  /** decider only: the peer's hello is fine; the link must call claim() or decline() */
  | { kind: 'claim' }
  | { kind: 'established'; peer: HelloMsg; connectionId: string }
  /** not our peer, or an incompatible one: drop this connection and keep trying */
  | { kind: 'refused'; reason: string }
  /** DRBD drops to StandAlone and does not retry */
  | { kind: 'auth-failed'; reason: string }
  | { kind: 'protocol-error'; reason: string }
  /** the peer said goodbye during the handshake (it refused us, or kept another connection) */
  | { kind: 'peer-closed'; reason: string };

export interface HandshakeStep {
  send: PeerMessage[];
  outcome: HandshakeOutcome;
}

type Phase = 'hello' | 'await-claim' | 'auth' | 'done';

export function roleOf(selfNode: string, peerNode: string): LinkRole {
  return selfNode > peerNode ? 'decider' : 'follower';
}

export const AUTH_FAILED = 'Authentication of peer failed';

export class Handshake {
  readonly role: LinkRole;
  private phase: Phase = 'hello';
  private peerHello: HelloMsg | null = null;
  private answered = false; // we sent our response to the peer's challenge
  private verified = false; // the peer's response to our challenge was right
  private peerAccepted = false; // the peer's auth-result was ok

  constructor(private readonly setup: HandshakeSetup) {
    this.role = roleOf(setup.selfNode, setup.peerNode);
  }

  get finished(): boolean {
    return this.phase === 'done';
  }

  /** Messages to send as soon as the TCP connection is up. A decider calls this only on a connection it claimed. */
  start(): HandshakeStep {
    if (this.setup.initiator) return this.step([this.hello()], PENDING);
    return this.step([], PENDING);
  }

  /** The decider keeps this connection: answer the peer's hello and go on. */
  claim(): HandshakeStep {
    if (this.phase !== 'await-claim' || !this.peerHello) return this.fail({ kind: 'protocol-error', reason: 'claim() outside await-claim' });
    return this.helloExchanged([this.hello()]);
  }

  /** The decider keeps another connection: tell the peer why this one closes. */
  decline(reason: string): HandshakeStep {
    return this.fail({ kind: 'refused', reason }, [{ type: 'disconnect', reason }]);
  }

  receive(msg: PeerMessage): HandshakeStep {
    if (this.phase === 'done') return this.step([], { kind: 'protocol-error', reason: `${msg.type} after the handshake ended` });
    switch (msg.type) {
      case 'disconnect':
        return this.fail({ kind: 'peer-closed', reason: msg.reason });
      case 'auth-result':
        if (!msg.ok) return this.fail({ kind: 'auth-failed', reason: `peer refused us: ${msg.reason ?? AUTH_FAILED}` });
        return this.onAuthOk();
      case 'hello':
        return this.onHello(msg);
      case 'auth-challenge':
        return this.onChallenge(msg.challenge);
      case 'auth-response':
        return this.onResponse(msg.response);
      default:
        return this.fail({ kind: 'protocol-error', reason: `unexpected ${msg.type} during the handshake` });
    }
  }

  private hello(): HelloMsg {
    const h: HelloMsg = {
      type: 'hello',
      version: this.setup.version ?? PROTOCOL_VERSION,
      resource: this.setup.resource,
      node: this.setup.selfNode,
      nonce: this.setup.nonce,
    };
    if (this.setup.auth) h.auth = this.setup.auth.alg;
    return h;
  }

  private onHello(peer: HelloMsg): HandshakeStep {
    if (this.phase !== 'hello') return this.fail({ kind: 'protocol-error', reason: 'second hello' });
    const refusal = this.checkHello(peer);
    if (refusal) return this.fail(refusal, [refusal.kind === 'auth-failed'
      ? { type: 'auth-result', ok: false, reason: refusal.reason }
      : { type: 'disconnect', reason: refusal.reason }]);
    this.peerHello = peer;
    if (this.role === 'decider') {
      // As initiator the decider already claimed this connection before sending its hello.
      if (this.setup.initiator) return this.helloExchanged([]);
      this.phase = 'await-claim';
      return this.step([], { kind: 'claim' });
    }
    // Follower: the decider's hello means it chose this connection.
    return this.helloExchanged(this.setup.initiator ? [] : [this.hello()]);
  }

  private checkHello(peer: HelloMsg): { kind: 'refused' | 'auth-failed'; reason: string } | null {
    const { resource, peerNode } = this.setup;
    const version = this.setup.version ?? PROTOCOL_VERSION;
    if (peer.version !== version) {
      return { kind: 'refused', reason: `incompatible protocol: peer speaks version ${peer.version}, this node ${version}` };
    }
    if (peer.resource !== resource) return { kind: 'refused', reason: `peer serves resource '${peer.resource}', not '${resource}'` };
    if (peer.node !== peerNode) return { kind: 'refused', reason: `peer calls itself '${peer.node}', expected '${peerNode}'` };
    if (peer.nonce === '' || peer.nonce === this.setup.nonce) return { kind: 'refused', reason: 'peer sent an empty or reflected nonce' };
    const ours = this.setup.auth?.alg;
    if (ours !== undefined && peer.auth === undefined) {
      return { kind: 'auth-failed', reason: `cram-hmac-alg ${ours} is configured here but the peer has no shared-secret` };
    }
    if (ours === undefined && peer.auth !== undefined) {
      return { kind: 'auth-failed', reason: `the peer requires cram-hmac-alg ${peer.auth} but no shared-secret is configured here` };
    }
    if (ours !== peer.auth) return { kind: 'auth-failed', reason: `cram-hmac-alg differs: ${ours} here, ${peer.auth} on the peer` };
    return null;
  }

  private helloExchanged(send: PeerMessage[]): HandshakeStep {
    if (!this.setup.auth) return this.established(send);
    this.phase = 'auth';
    send.push({ type: 'auth-challenge', challenge: this.setup.challenge });
    return this.step(send, PENDING);
  }

  private onChallenge(peerChallenge: Buffer): HandshakeStep {
    const auth = this.setup.auth;
    if (this.phase !== 'auth' || !auth || this.answered) return this.fail({ kind: 'protocol-error', reason: 'unexpected auth-challenge' });
    const bad = checkPeerChallenge(this.setup.challenge, peerChallenge);
    if (bad) return this.fail({ kind: 'auth-failed', reason: bad }, [{ type: 'auth-result', ok: false, reason: bad }]);
    this.answered = true;
    return this.step([{ type: 'auth-response', response: challengeResponse(auth, peerChallenge) }], PENDING);
  }

  private onResponse(response: Buffer): HandshakeStep {
    const auth = this.setup.auth;
    if (this.phase !== 'auth' || !auth || this.verified) return this.fail({ kind: 'protocol-error', reason: 'unexpected auth-response' });
    if (!verifyResponse(auth, this.setup.challenge, response)) {
      return this.fail({ kind: 'auth-failed', reason: AUTH_FAILED }, [{ type: 'auth-result', ok: false, reason: AUTH_FAILED }]);
    }
    this.verified = true;
    const send: PeerMessage[] = [{ type: 'auth-result', ok: true }];
    return this.peerAccepted ? this.established(send) : this.step(send, PENDING);
  }

  private onAuthOk(): HandshakeStep {
    // The peer can only accept a response we sent, so an early ok is a protocol violation.
    if (this.phase !== 'auth' || !this.answered || this.peerAccepted) return this.fail({ kind: 'protocol-error', reason: 'unexpected auth-result' });
    this.peerAccepted = true;
    return this.verified ? this.established([]) : this.step([], PENDING);
  }

  private established(send: PeerMessage[]): HandshakeStep {
    const peer = this.peerHello!;
    this.phase = 'done';
    const [decider, follower] = this.role === 'decider' ? [this.setup.nonce, peer.nonce] : [peer.nonce, this.setup.nonce];
    return this.step(send, { kind: 'established', peer, connectionId: `${decider}.${follower}` });
  }

  private fail(outcome: HandshakeOutcome, send: PeerMessage[] = []): HandshakeStep {
    this.phase = 'done';
    return this.step(send, outcome);
  }

  private step(send: PeerMessage[], outcome: HandshakeOutcome): HandshakeStep {
    return { send, outcome };
  }
}

const PENDING: HandshakeOutcome = { kind: 'pending' };
