// Is this node cut off from the cluster? Pure, fed with the carrier state of the interfaces its
// heartbeat media use and with every authenticated packet heard from a peer.
//
// - isolated: every medium's interface is down (no carrier, or administratively down), so no
//   heartbeat can come in or go out; keepalived drops its VIP in the same case (FAULT state);
// - connected again: a peer is heard, or the links have been up for a whole deadtime without
//   hearing anyone (then the peer really is dead, and taking over is right). Until then the node
//   stays isolated, so a cable plugged back in never makes it fence or take over from a peer
//   whose heartbeats simply have not arrived yet.

export type IsolationEvent =
  | { type: 'isolated'; downIfaces: string[] }
  | { type: 'connected'; reason: 'peer-heard' | 'links-up-for-deadtime' };

type State =
  | { kind: 'connected' }
  | { kind: 'isolated' }
  | { kind: 'recovering'; sinceMs: number };

export class IsolationDetector {
  private state: State = { kind: 'connected' };
  private readonly ifaces: string[];

  /** ifaces: the interfaces of the active media; with none, the node is never isolated */
  constructor(ifaces: readonly string[], private readonly deadtimeMs: number) {
    this.ifaces = [...new Set(ifaces)];
  }

  get isolated(): boolean {
    return this.state.kind !== 'connected';
  }

  /** up: the interfaces that have carrier now */
  onLinks(up: ReadonlySet<string>, nowMs: number): IsolationEvent[] {
    if (this.ifaces.length === 0) return [];
    const allDown = this.ifaces.every((i) => !up.has(i));
    switch (this.state.kind) {
      case 'connected':
        if (!allDown) return [];
        this.state = { kind: 'isolated' };
        return [{ type: 'isolated', downIfaces: [...this.ifaces] }];
      case 'isolated':
        if (!allDown) this.state = { kind: 'recovering', sinceMs: nowMs };
        return [];
      case 'recovering':
        if (allDown) this.state = { kind: 'isolated' };
        return this.tick(nowMs);
    }
  }

  onHeard(): IsolationEvent[] {
    if (this.state.kind === 'connected') return [];
    this.state = { kind: 'connected' };
    return [{ type: 'connected', reason: 'peer-heard' }];
  }

  tick(nowMs: number): IsolationEvent[] {
    if (this.state.kind === 'recovering' && nowMs - this.state.sinceMs >= this.deadtimeMs) {
      this.state = { kind: 'connected' };
      return [{ type: 'connected', reason: 'links-up-for-deadtime' }];
    }
    return [];
  }
}
