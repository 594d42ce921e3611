// The haresources controller: which resource groups run on this node, as events in and actions
// out, with no I/O. Heartbeat v1 semantics (ResourceManager, hb_resource.c):
//
// - each haresources line is a group preferred by ("owned by") its first-named node;
// - resources start left to right and stop right to left;
// - the other node takes a group over when the owner is dead or in standby; a dead node that may
//   hold anything is fenced (STONITH) first, retried every stonithRetryMs until it succeeds;
//   with no STONITH configured heartbeat takes over anyway ("Shared disks are not protected");
// - auto_failback on (and legacy): when the owner is back, the group moves back to it (stopped
//   on the holder, then started on the owner); off: it stays where it runs;
// - a failed start stops what had started (right to left) and declines the group, so the peer
//   may try; a failed stop (after stopRetries retries, as ResourceManager's HA_STOPRETRYMAX)
//   marks the group FAILED: it is never started again here, and the peer is refused it,
//   until an operator cleans it up. Heartbeat reboots the node instead; we keep the node and
//   tell the operator.
//
// While both nodes are up every start goes through the claim/grant handshake of
// control-messages.ts, so a group never runs on both.
//
// controller-types.ts holds the interface (config, events, actions, status), group-record.ts the
// per-group record and its pure readings.
//
// Partitions (beyond heartbeat): a node told that its own cluster links are all down
// (`isolation`) releases every group, starts nothing and defers fencing until it is connected
// again; when a partition heals and both nodes turn out to run the same group, the preferred
// node keeps it and the other stops it, with no restart of either daemon. `shutdown` releases
// everything so the peer can claim it at once.

import type { ClaimReason, ControlMessage, DenyReason, RscStateMsg } from './control-messages.js';
import type {
  ControllerAction, ControllerConfig, ControllerEvent, ControllerStatus, ControllerTunables, PeerGroupState, Scope,
} from './controller-types.js';
import { withDefaults } from './controller-types.js';
import { announcedState, defText, type Group, groupActive, newGroup, peerGroupStatus, type PeerView } from './group-record.js';
import { log, onStartResult, onStopResult, type ResourceResult, type ResultContext } from './group-results.js';
import type { LogLevel } from './membership.js';

export type {
  ControllerAction, ControllerConfig, ControllerEvent, ControllerStatus, GroupStatus, LocalGroupState,
  PeerGroupState, ResourceState, Scope,
} from './controller-types.js';

export class Controller {
  private cfg: ControllerTunables;
  private groups: Group[];
  private byKey = new Map<string, Group>();
  /** groups the peer told us it does not know (haresources differ): said once each */
  private readonly unknownToPeer = new Set<string>();
  private readonly unknownToUs = new Set<string>();
  private peerState: 'unknown' | 'up' | 'dead';
  private view: PeerView | null = null;
  private fencing: 'none' | 'running' | 'retry-wait' | 'done';
  private fenceRetryAtMs = 0;
  /** groups the dead peer reported FAILED, which only fencing makes safe to take */
  private blockedUntilFenced = new Set<string>();
  private failover = false;
  private stateVersion = 0;
  private lastSentState = '';
  private lastAnnounceMs: number;
  private isolated = false;
  private leaving = false;

  constructor(cfg: ControllerConfig, nowMs: number) {
    const self = cfg.self.toLowerCase();
    const peer = cfg.peer?.toLowerCase() ?? null;
    this.cfg = withDefaults(self, peer, cfg);
    this.groups = cfg.groups.map((def) => newGroup(def, self));
    for (const g of this.groups) this.byKey.set(g.key, g);
    // Without a peer there is nobody to wait for or to fence.
    this.peerState = peer === null ? 'dead' : 'unknown';
    this.fencing = peer === null ? 'done' : 'none';
    this.lastAnnounceMs = nowMs;
  }

  handle(event: ControllerEvent, nowMs: number): ControllerAction[] {
    const out: ControllerAction[] = [];
    switch (event.type) {
      case 'membership': this.onMembership(event, nowMs, out); break;
      case 'control': this.onControl(event.from, event.msg, out); break;
      case 'resource-result': this.onResult(event, nowMs, out); break;
      case 'standby-request': this.onStandby(event.scope ?? 'all', out); break;
      case 'takeover-request': this.onTakeover(event.scope ?? 'all', out); break;
      case 'stonith-result': this.onStonithResult(event, nowMs, out); break;
      case 'cleanup': this.onCleanup(event.group, out); break;
      case 'isolation': this.onIsolation(event.isolated, nowMs, out); break;
      case 'shutdown': this.onShutdown(out); break;
      case 'monitor-failed': this.onMonitorFailed(event, out); break;
    }
    this.reconcile(nowMs, out);
    return out;
  }

  /**
   * tandem-hb reload: new tunables and group definitions. A group whose definition reads the
   * same keeps its state; others start afresh. Replacing or dropping a group that is active here
   * is refused (reload-plan.ts keeps those), so nothing that runs is forgotten.
   */
  reconfigure(cfg: Omit<ControllerConfig, 'self' | 'peer'>, nowMs: number): ControllerAction[] {
    const next = cfg.groups.map((def) => {
      const g = this.byKey.get(def.key);
      if (g && defText(g.def) === defText(def)) return g;
      if (g && groupActive(g)) throw new Error(`reconfigure: group ${def.key} is ${g.local} here and cannot be replaced`);
      return newGroup(def, this.cfg.self);
    });
    const keys = new Set(next.map((g) => g.key));
    const dropped = this.groups.find((g) => !keys.has(g.key) && groupActive(g));
    if (dropped) throw new Error(`reconfigure: group ${dropped.key} is ${dropped.local} here and cannot be removed`);
    this.cfg = withDefaults(this.cfg.self, this.cfg.peer, cfg);
    this.groups = next;
    this.byKey = new Map(next.map((g) => [g.key, g]));
    for (const k of [...this.unknownToPeer]) if (!keys.has(k)) this.unknownToPeer.delete(k);
    this.unknownToUs.clear();
    const out: ControllerAction[] = [];
    this.announce(nowMs, out, true);
    this.reconcile(nowMs, out);
    return out;
  }

  tick(nowMs: number): ControllerAction[] {
    const out: ControllerAction[] = [];
    if (this.fencing === 'retry-wait' && nowMs >= this.fenceRetryAtMs && this.cfg.peer && !this.isolated && !this.leaving) {
      this.fencing = 'running';
      out.push(log('info', `Resetting node ${this.cfg.peer} (retry)`, { node: this.cfg.peer }));
      out.push({ type: 'stonith', node: this.cfg.peer });
    }
    for (const g of this.groups) {
      if (g.local === 'stopping' && !g.opOut && g.stopRetryAtMs !== null && nowMs >= g.stopRetryAtMs) {
        g.stopRetryAtMs = null;
        this.issueStop(g, out);
      }
    }
    const resend = this.groups.filter((g) => g.claim === 'pending' && nowMs - g.claimSentMs >= this.cfg.claimRetryMs);
    if (resend.length > 0 && this.peerState === 'up') this.sendClaims(resend, nowMs, out);
    if (this.peerState === 'up' && nowMs - this.lastAnnounceMs >= this.cfg.announceMs) this.announce(nowMs, out, true);
    this.reconcile(nowMs, out);
    return out;
  }

  status(): ControllerStatus {
    return {
      self: this.cfg.self,
      peer: this.cfg.peer,
      peerState: this.peerState,
      fencing: this.fencing,
      isolated: this.isolated,
      leaving: this.leaving,
      groups: this.groups.map((g) => ({
        group: g.key,
        owner: g.def.node,
        local: g.local,
        declined: g.declined,
        peer: this.peerStatus(g),
        resources: g.def.resources.map((r, i) => ({ resource: r.text, state: g.resources[i]! })),
      })),
    };
  }

  // --- events ---

  private onMembership(e: { node: string; state: 'up' | 'dead'; restarted?: boolean }, nowMs: number, out: ControllerAction[]): void {
    const node = e.node.toLowerCase();
    if (node !== this.cfg.peer) return;
    if (e.state === 'up') {
      const wasDead = this.peerState === 'dead';
      this.peerState = 'up';
      this.view = null; // until its rsc_state arrives
      if (this.fencing === 'running' || this.fencing === 'retry-wait') {
        out.push(log('warn', `node ${node} is back while STONITH was pending; stop fencing it and coordinate by message`, { node }));
      }
      this.fencing = 'none';
      this.blockedUntilFenced.clear();
      // A restarted peer holds nothing and has forgotten its claims.
      if (e.restarted || wasDead) for (const g of this.groups) { g.grantedToPeer = false; g.grantAfterStop = false; }
      for (const g of this.groups) {
        g.grantViewVersion = -1;
        if (g.claim === 'denied') g.claim = 'none';
        // Failback happens when the owner (re)joins, as in heartbeat, not whenever the group
        // is elsewhere: an operator's takeover must stick.
        g.failbackArmed = g.ownedBySelf && g.local !== 'started';
      }
      this.announce(nowMs, out, true);
      return;
    }
    if (this.peerState === 'dead') return;
    // What the peer may hold is judged from its last word, before it is marked dead.
    const mayHold = this.groups.filter((g) => this.peerMayHold(g));
    const peerFailed = this.view ? this.groups.filter((g) => this.view!.failed.has(g.key)) : [];
    this.peerState = 'dead';
    for (const g of this.groups) {
      if (g.claim !== 'none') g.claim = 'none';
      g.grantAfterStop = false;
    }
    const toTake = this.groups.filter((g) => g.local !== 'started' && g.local !== 'failed');
    if (toTake.length > 0 && !this.isolated && !this.leaving) {
      this.failover = true;
      out.push(log('error', 'Start to fail-over.', { node, groups: toTake.map((g) => g.key) }));
    }
    if (mayHold.length === 0) {
      this.fencing = 'done';
      this.view = null;
      return;
    }
    if (this.cfg.stonith && (this.isolated || this.leaving)) {
      // Cut off ourselves, we would fence the node that still serves: wait until we are connected.
      this.fencing = 'retry-wait';
      this.fenceRetryAtMs = nowMs;
      out.push(log('warn', `STONITH of ${node} deferred: ${this.leaving ? 'shutting down' : 'our own cluster links are down'}`, { node }));
      return;
    }
    if (this.cfg.stonith) {
      this.fencing = 'running';
      out.push(log('info', `Resetting node ${node} before taking over ${mayHold.map((g) => g.key).join(', ')}`, { node }));
      out.push({ type: 'stonith', node });
      return;
    }
    out.push(log('warn', 'No STONITH device configured.', { node }));
    out.push(log('warn', 'Shared disks are not protected.', { node }));
    for (const g of peerFailed) {
      this.blockedUntilFenced.add(g.key);
      out.push(log('error', `group ${g.key} FAILED on ${node} (a stop failed there); not taking it over without STONITH`, { node, group: g.key }));
    }
    this.fencing = 'done';
    this.view = null;
    for (const g of this.groups) g.grantedToPeer = false;
  }

  private onStonithResult(e: { ok: boolean; message?: string }, nowMs: number, out: ControllerAction[]): void {
    const node = this.cfg.peer;
    if (this.fencing !== 'running' || node === null) {
      out.push(log('info', `STONITH result ignored: no fencing in progress (${e.ok ? 'ok' : 'failed'})`, { node }));
      return;
    }
    if (e.ok) {
      this.fencing = 'done';
      this.view = null;
      this.blockedUntilFenced.clear();
      for (const g of this.groups) g.grantedToPeer = false;
      out.push(log('info', `node ${node} now reset.`, { node }));
      return;
    }
    this.fencing = 'retry-wait';
    this.fenceRetryAtMs = nowMs + this.cfg.stonithRetryMs;
    out.push(log('error', `STONITH of ${node} failed.  Retrying...`, { node, message: e.message ?? '', retryInMs: this.cfg.stonithRetryMs }));
  }

  private onControl(from: string, msg: ControlMessage, out: ControllerAction[]): void {
    if (from.toLowerCase() !== this.cfg.peer || this.peerState !== 'up') {
      out.push(log('warn', `control message ${msg.type} from ${from} ignored: not the live peer`, { from }));
      return;
    }
    switch (msg.type) {
      case 'rsc-state': return this.onPeerState(msg);
      case 'claim': return this.onClaim(msg.groups, msg.reason, out);
      case 'grant':
        for (const key of msg.groups) {
          this.unknownToPeer.delete(key);
          const g = this.byKey.get(key);
          if (g && g.claim === 'pending') {
            g.claim = 'granted';
            g.grantViewVersion = this.view?.version ?? -1;
          }
        }
        return;
      case 'deny':
        for (const key of msg.groups) {
          const g = this.byKey.get(key);
          if (!g || g.claim !== 'pending') continue;
          g.claim = 'denied';
          g.failbackArmed = false;
          g.deniedPeerStatus = this.peerStatus(g);
          const level: LogLevel = msg.reason === 'held' ? 'info' : 'warn';
          out.push(log(level, `${this.cfg.peer} refused group ${key} (${msg.reason})`, { group: key, reason: msg.reason }));
          if (msg.reason !== 'held') g.forced = false;
          if (msg.reason === 'unknown' && !this.unknownToPeer.has(key)) {
            // the peer may not have reloaded its haresources yet: claimed again on its next state
            this.unknownToPeer.add(key);
            out.push(log('error', `haresources differ between ${this.cfg.self} and ${this.cfg.peer}: the peer has no group ${key}`, { group: key }));
          }
        }
        return;
    }
  }

  private onPeerState(msg: RscStateMsg): void {
    if (this.view && msg.version <= this.view.version) return; // a late copy of an older state
    this.view = {
      version: msg.version,
      held: new Set(msg.held), busy: new Set(msg.busy), claimed: new Set(msg.claimed),
      failed: new Set(msg.failed), declined: new Set(msg.declined),
    };
    for (const g of this.groups) {
      const s = this.peerStatus(g);
      if (g.grantedToPeer && (s === 'free' || s === 'declined')) g.grantedToPeer = false;
      // Standby is one-shot, as hb_standby: if the peer now gives the group away too, the
      // latest standby wins and we take it.
      if (s === 'declined' && g.declined === 'standby') g.declined = null;
      if (g.claim === 'denied' && (s !== g.deniedPeerStatus || this.unknownToPeer.has(g.key))) g.claim = 'none';
    }
  }

  private onClaim(keys: string[], reason: ClaimReason, out: ControllerAction[]): void {
    const grant: string[] = [];
    const deny = new Map<DenyReason, string[]>();
    const refuse = (r: DenyReason, key: string) => deny.set(r, [...(deny.get(r) ?? []), key]);
    const peer = this.cfg.peer;
    for (const key of keys) {
      const g = this.byKey.get(key);
      if (!g) {
        refuse('unknown', key);
        if (!this.unknownToUs.has(key)) {
          this.unknownToUs.add(key);
          out.push(log('error', `peer claimed unknown group ${key}: haresources differ between the nodes`, { group: key }));
        }
        continue;
      }
      this.unknownToPeer.delete(key);
      if (g.local === 'failed') { refuse('failed', key); continue; }
      if (g.local !== 'stopped') {
        const releasing = g.grantAfterStop || g.declined !== null || g.rollback;
        const failbackApplies = reason === 'failback' && this.cfg.autoFailback !== 'off' && !g.ownedBySelf;
        if (releasing || reason === 'takeover' || failbackApplies) {
          if (!g.grantAfterStop) {
            const why = reason === 'takeover' ? `${peer} takes it over` : reason === 'failback' ? `auto_failback to its owner ${peer}` : `${peer} runs it while we release it`;
            out.push(log('info', `Releasing resource group ${key}: ${why}`, { group: key, reason }));
          }
          g.grantAfterStop = true;
          g.claim = 'none';
          g.forced = false;
          g.failbackArmed = false;
        } else refuse('held', key);
        continue;
      }
      if (g.claim === 'pending' || g.claim === 'granted') {
        // An operator's takeover beats an automatic claim; between equals the owner wins.
        const theirs = reason === 'takeover' ? 2 : 1;
        const ours = g.forced ? 2 : 1;
        const peerWins = theirs > ours || (theirs === ours && !g.ownedBySelf);
        if (!peerWins) { refuse('conflict', key); continue; }
        g.claim = 'none';
        out.push(log('info', `withdrawing our claim on ${key}: ${peer} claimed it too and wins (${reason})`, { group: key }));
      }
      g.grantedToPeer = true;
      g.failbackArmed = false;
      grant.push(key);
    }
    if (grant.length > 0) out.push({ type: 'send-control', msg: { type: 'grant', groups: grant } });
    for (const [r, groups] of deny) out.push({ type: 'send-control', msg: { type: 'deny', groups, reason: r } });
  }

  private onResult(e: ResourceResult, nowMs: number, out: ControllerAction[]): void {
    const g = this.byKey.get(e.group);
    const expected = g && g.opOut && g.index === e.index && ((e.op === 'start' && g.local === 'starting') || (e.op === 'stop' && g.local === 'stopping'));
    if (!g || !expected) {
      out.push(log('warn', `unexpected ${e.op} result for ${e.group}[${e.index}] ignored`, { group: e.group, index: e.index }));
      return;
    }
    g.opOut = false;
    if (e.op === 'start') onStartResult(this.resultContext(), g, e, out);
    else onStopResult(this.resultContext(), g, e, nowMs, out);
  }

  private resultContext(): ResultContext {
    return {
      self: this.cfg.self,
      peer: this.cfg.peer,
      peerUp: this.peerState === 'up',
      stopRetries: this.cfg.stopRetries,
      stopRetryMs: this.cfg.stopRetryMs,
      shouldRelease: (g) => this.shouldRelease(g),
      beginStop: (g, from, o) => this.beginStop(g, from, o),
      issueStart: (g, o) => this.issueStart(g, o),
      issueStop: (g, o) => this.issueStop(g, o),
      checkFailoverDone: (o) => this.checkFailoverDone(o),
    };
  }

  private onStandby(scope: Scope, out: ControllerAction[]): void {
    if (this.cfg.autoFailback === 'legacy') {
      out.push(log('error', "standby refused: standby is only implemented with auto_failback on or off, not legacy (as in heartbeat)", { scope }));
      return;
    }
    if (this.peerState !== 'up') {
      out.push(log('error', `standby refused: ${this.cfg.peer ?? 'the peer'} is not up, so nobody would run the groups`, { scope }));
      return;
    }
    const groups = this.inScope(scope, 'standby');
    out.push(log('info', `Giving up ${scope} resources (standby): ${groups.map((g) => g.key).join(', ') || 'none'}`, { scope }));
    for (const g of groups) {
      if (g.local === 'failed') continue;
      g.declined = 'standby';
      g.forced = false;
      g.failbackArmed = false;
      if (g.claim === 'pending' || g.claim === 'granted' || g.claim === 'denied') g.claim = 'none';
    }
  }

  private onTakeover(scope: Scope, out: ControllerAction[]): void {
    if (this.cfg.autoFailback === 'legacy') {
      out.push(log('error', 'takeover refused: takeover is only implemented with auto_failback on or off, not legacy (as in heartbeat)', { scope }));
      return;
    }
    const groups = this.inScope(scope, 'takeover');
    out.push(log('info', `Taking over ${scope} resources: ${groups.map((g) => g.key).join(', ') || 'none'}`, { scope }));
    for (const g of groups) {
      if (g.local === 'failed') {
        out.push(log('error', `group ${g.key} is FAILED here; stop it by hand and run 'tandem-hb cleanup ${g.key}' first`, { group: g.key }));
        continue;
      }
      g.declined = null;
      if (g.local === 'started' || g.local === 'starting') continue;
      g.forced = true;
      if (g.claim === 'denied') g.claim = 'none';
    }
  }

  private onCleanup(key: string, out: ControllerAction[]): void {
    const g = this.byKey.get(key);
    if (!g) { out.push(log('error', `cleanup: no group ${key} in haresources`, { group: key })); return; }
    if (g.local !== 'failed') { out.push(log('info', `cleanup: group ${key} is not FAILED (${g.local})`, { group: key })); return; }
    g.local = 'stopped';
    g.resources = g.resources.map(() => 'stopped');
    g.stopAttempts = 0;
    g.declined = null;
    out.push(log('info', `cleanup: group ${key} marked stopped by the operator; managing it again`, { group: key, transition: 'stopped' }));
  }

  private onIsolation(isolated: boolean, nowMs: number, out: ControllerAction[]): void {
    if (isolated === this.isolated) return;
    this.isolated = isolated;
    if (isolated) {
      const held = this.groups.filter((g) => g.local === 'started' || g.local === 'starting');
      out.push(log('error', `All cluster links of ${this.cfg.self} are down: releasing ${held.map((g) => g.key).join(', ') || 'nothing'} and starting nothing until connected again`, { transition: 'isolated' }));
      for (const g of this.groups) { g.forced = false; g.failbackArmed = false; }
      return;
    }
    out.push(log('info', `Cluster links of ${this.cfg.self} are back`, { transition: 'connected', peerState: this.peerState }));
    if (this.peerState === 'dead' && !this.leaving) {
      const toTake = this.groups.filter((g) => g.local !== 'started' && g.local !== 'failed');
      if (toTake.length > 0) {
        this.failover = true;
        out.push(log('error', 'Start to fail-over.', { node: this.cfg.peer, groups: toTake.map((g) => g.key) }));
      }
      if (this.fencing === 'retry-wait') this.fenceRetryAtMs = nowMs;
    }
  }

  private onMonitorFailed(e: { group: string; index: number; message?: string }, out: ControllerAction[]): void {
    const g = this.byKey.get(e.group);
    if (!g || g.local !== 'started' || g.opOut) return; // a result of an older state: nothing to do
    const r = g.def.resources[e.index];
    if (!r) return;
    g.resources[e.index] = 'failed';
    out.push(log('error', `Resource ${r.text} does not work. (rc=7) not running${e.message ? ` ${e.message}` : ''}`, { group: g.key, resource: r.text }));
    if (g.monitorRestarts < this.cfg.monitorMaxRestarts) {
      g.monitorRestarts += 1;
      g.restartAt = e.index;
      out.push(log('warn', `Restarting ${r.text} in place (${g.monitorRestarts} of ${this.cfg.monitorMaxRestarts})`, { group: g.key, resource: r.text }));
      this.beginStop(g, g.def.resources.length - 1, out);
      return;
    }
    out.push(log('error', `Resource ${r.text} failed ${g.monitorRestarts + 1} times: giving up group ${g.key}${this.cfg.peer ? `; ${this.cfg.peer} may run it` : ''}`, { group: g.key }));
    g.monitorRestarts = 0;
    g.declined = 'start-failed';
    this.beginStop(g, g.def.resources.length - 1, out);
  }

  private onShutdown(out: ControllerAction[]): void {
    if (this.leaving) return;
    this.leaving = true;
    out.push(log('info', `Shutting down: giving up all resources${this.peerState === 'up' ? ` to ${this.cfg.peer}` : ''}`, { transition: 'leaving' }));
    for (const g of this.groups) {
      g.forced = false;
      g.failbackArmed = false;
      if (g.local !== 'failed') g.declined = 'standby';
    }
  }

  /** Both nodes run g (a healed partition): the preferred node keeps it, the other gives it up. */
  private lostConflict(g: Group): boolean {
    if (g.ownedBySelf || g.local !== 'started' || this.peerState !== 'up' || this.view === null) return false;
    return this.peerStatus(g) === 'held' && this.view.version > g.grantViewVersion;
  }

  // --- decisions ---

  private reconcile(nowMs: number, out: ControllerAction[]): void {
    const toClaim: Group[] = [];
    for (const g of this.groups) {
      if (g.opOut || g.local === 'failed' || g.local === 'starting' || g.local === 'stopping') continue;
      if (g.local === 'started') {
        if (this.lostConflict(g) && !this.shouldRelease(g)) {
          out.push(log('error', `Group ${g.key} runs on both nodes after a partition: ${this.cfg.peer} is its preferred node and keeps it; releasing it here`, { group: g.key }));
        }
        if (this.shouldRelease(g) || this.lostConflict(g)) this.beginStop(g, g.def.resources.length - 1, out);
        continue;
      }
      const reason = this.wantReason(g);
      if (reason === null) {
        if (g.claim === 'granted' || g.claim === 'pending') g.claim = 'none';
        continue;
      }
      if (this.mayStart(g)) {
        if (this.peerState === 'dead' && g.declined !== null) g.declined = null;
        g.local = 'starting';
        g.index = 0;
        out.push(log('info', `Acquiring resource group: ${g.def.node} ${g.def.resources.map((r) => r.text).join(' ')}`, { group: g.key, reason, transition: 'starting' }));
        this.issueStart(g, out);
      } else if (this.peerState === 'up' && g.claim === 'none') toClaim.push(g);
    }
    if (toClaim.length > 0) this.sendClaims(toClaim, nowMs, out);
    this.announce(nowMs, out, false);
  }

  /** Why this node should run g now, or null. */
  private wantReason(g: Group): ClaimReason | null {
    if (g.local === 'failed' || this.isolated || this.leaving) return null;
    if (this.peerState === 'dead') {
      if (this.fencing !== 'done' || this.blockedUntilFenced.has(g.key)) return null;
      return g.declined === 'start-failed' ? null : 'owner';
    }
    if (this.peerState !== 'up' || this.view === null) return null;
    if (g.forced) return 'takeover';
    if (g.declined !== null) return null;
    const s = this.peerStatus(g);
    if (s === 'failed') return null;
    if (g.ownedBySelf) {
      if (s === 'free' || s === 'declined') return 'owner';
      if ((s === 'held' || s === 'busy') && this.cfg.autoFailback !== 'off' && g.failbackArmed) return 'failback';
      return null;
    }
    return s === 'declined' ? 'peer-standby' : null;
  }

  private mayStart(g: Group): boolean {
    if (this.isolated || this.leaving) return false;
    if (this.peerState === 'dead') return this.fencing === 'done' && !this.blockedUntilFenced.has(g.key);
    return this.peerState === 'up' && g.claim === 'granted';
  }

  private shouldRelease(g: Group): boolean {
    return g.grantAfterStop || g.declined === 'standby' || this.isolated || this.leaving;
  }

  private peerMayHold(g: Group): boolean {
    if (g.grantedToPeer) return true;
    if (this.view === null) return true; // never heard what it holds
    const s = this.peerStatus(g);
    return s === 'held' || s === 'busy' || s === 'claimed' || s === 'failed';
  }

  private peerStatus(g: Group): PeerGroupState {
    return peerGroupStatus(this.peerState, this.view, g.key);
  }

  private inScope(scope: Scope, op: 'standby' | 'takeover'): Group[] {
    // hb_standby: local = groups preferred by this node, foreign (= failback) = the others.
    // hb_takeover mirrors it from the taker's side: failback = take back the groups we prefer.
    const local = op === 'takeover' && scope === 'failback' ? true : scope === 'local';
    if (scope === 'all') return this.groups;
    return this.groups.filter((g) => (local ? g.ownedBySelf : !g.ownedBySelf));
  }

  // --- actions ---

  private sendClaims(groups: Group[], nowMs: number, out: ControllerAction[]): void {
    const byReason = new Map<ClaimReason, string[]>();
    for (const g of groups) {
      const reason = this.wantReason(g);
      if (reason === null) continue;
      g.claim = 'pending';
      g.claimSentMs = nowMs;
      byReason.set(reason, [...(byReason.get(reason) ?? []), g.key]);
    }
    for (const [reason, keys] of byReason) out.push({ type: 'send-control', msg: { type: 'claim', groups: keys, reason } });
  }

  private beginStop(g: Group, fromIndex: number, out: ControllerAction[]): void {
    g.local = 'stopping';
    g.index = fromIndex;
    g.stopAttempts = 0;
    out.push(log('info', `Releasing resource group: ${g.def.node} ${g.def.resources.map((r) => r.text).join(' ')}`, { group: g.key, transition: 'stopping' }));
    this.issueStop(g, out);
  }

  private issueStart(g: Group, out: ControllerAction[]): void {
    const r = g.def.resources[g.index]!;
    g.opOut = true;
    out.push(log('info', `Resource ${r.text} tries to start.`, { group: g.key, resource: r.text }));
    out.push({ type: 'start-resource', group: g.key, index: g.index, resource: r });
  }

  private issueStop(g: Group, out: ControllerAction[]): void {
    const r = g.def.resources[g.index]!;
    g.opOut = true;
    out.push(log('info', `Resource ${r.text} tries to stop.`, { group: g.key, resource: r.text }));
    out.push({ type: 'stop-resource', group: g.key, index: g.index, resource: r });
  }

  private checkFailoverDone(out: ControllerAction[]): void {
    if (!this.failover || this.peerState !== 'dead') return;
    if (this.groups.every((g) => g.local === 'started' || g.local === 'failed' || this.wantReason(g) === null)) {
      this.failover = false;
      out.push(log('info', 'fail-over succeeded.', { groups: this.groups.filter((g) => g.local === 'started').map((g) => g.key) }));
    }
  }

  private announce(nowMs: number, out: ControllerAction[], force: boolean): void {
    if (this.peerState !== 'up') return;
    const state = announcedState(this.groups);
    const summary = JSON.stringify(state);
    if (!force && summary === this.lastSentState) return;
    this.lastSentState = summary;
    this.lastAnnounceMs = nowMs;
    this.stateVersion += 1;
    out.push({ type: 'send-control', msg: { type: 'rsc-state', version: this.stateVersion, ...state } });
  }
}
