// DRBD's ping-int / ping-timeout, as a pure timer decision: when nothing was received for
// ping-int, send a ping; when its ping-ack has not come within ping-timeout, the peer is dead
// (DRBD: "PingAck did not arrive in time." -> NetworkFailure). Time enters as `now` (ms, monotonic).
// Once a ping is out only its ack clears it: a peer whose sender still works but whose receiver
// is stuck is not alive for replication.

export interface KeepaliveTimes {
  pingIntMs: number;
  pingTimeoutMs: number;
}

export type KeepaliveAction =
  | { kind: 'wait'; checkInMs: number }
  | { kind: 'send-ping'; checkInMs: number }
  | { kind: 'dead'; silentForMs: number };

export class Keepalive {
  private lastReceived: number;
  private pingSentAt: number | null = null;

  constructor(private readonly times: KeepaliveTimes, now: number) {
    this.lastReceived = now;
  }

  get awaitingAck(): boolean {
    return this.pingSentAt !== null;
  }

  /** Any bytes from the peer. Kept to one assignment: it runs once per received chunk. */
  received(now: number): void {
    if (now > this.lastReceived) this.lastReceived = now;
  }

  pingAcked(now: number): void {
    this.pingSentAt = null;
    this.lastReceived = now;
  }

  /** What to do at `now`, and when to ask again. */
  check(now: number): KeepaliveAction {
    const { pingIntMs, pingTimeoutMs } = this.times;
    if (this.pingSentAt !== null) {
      const waited = now - this.pingSentAt;
      if (waited >= pingTimeoutMs) return { kind: 'dead', silentForMs: now - this.lastReceived };
      return { kind: 'wait', checkInMs: pingTimeoutMs - waited };
    }
    const idle = now - this.lastReceived;
    if (idle >= pingIntMs) {
      this.pingSentAt = now;
      return { kind: 'send-ping', checkInMs: pingTimeoutMs };
    }
    return { kind: 'wait', checkInMs: pingIntMs - idle };
  }
}
