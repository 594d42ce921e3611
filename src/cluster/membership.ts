// Who is alive, decided from authenticated heartbeat packets and the clock, with no I/O.
// The rules are heartbeat's (heartbeat.c should_drop_message, check_for_timeouts, HBDoMsg_T_STATUS):
//
// - every node restart bumps its generation `hg`; packets of an older generation are replays
//   ("attempted replay attack?") and dropped; a newer generation is a restart of that node;
// - inside a generation `seq` grows by one per packet. A packet is *new* if its seq is above the
//   highest seen or fills a recorded gap; a node is alive while new packets keep arriving, on any
//   medium. The same packet arriving on a second medium only proves that medium works;
//   an old packet seen again on the same medium is a replay;
// - a heartbeat later than warntime after the previous one logs "Late heartbeat"; no new packet for
//   deadtime declares the node dead; a node never heard since we started gets initdead instead.
//
// The caller owns sockets and timers: it decodes each datagram with decodePacket() and passes the
// result to onPacket(), and calls tick() at least every keepalive/2 or so.

import type { DecodeResult, HbPacket } from './packet.js';

export interface MembershipConfig {
  self: string;
  /** every cluster node, self included (ha.cf `node`) */
  nodes: readonly string[];
  keepaliveMs: number;
  warntimeMs: number;
  deadtimeMs: number;
  initdeadMs: number;
  /** medium names (ha.cf media), so links can be reported before anything arrives */
  media?: readonly string[];
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export type DropReason = 'bad-auth' | 'replay' | 'old-generation' | 'unknown-node' | 'malformed';

export type MembershipAction =
  | { type: 'log'; level: LogLevel; msg: string; fields: Record<string, unknown> }
  | { type: 'node-dead'; node: string }
  /** restarted: the node came back with a new generation while we still thought it up */
  | { type: 'node-up'; node: string; generation: number; restarted: boolean }
  /** lateMs: how much later than keepalive it came; intervalMs: time since the previous heartbeat */
  | { type: 'late-heartbeat'; node: string; lateMs: number; intervalMs: number }
  | { type: 'drop'; reason: DropReason; node: string | null; medium: string; detail: string }
  /** a new authenticated non-status packet (controller messages) for the caller to route */
  | { type: 'deliver'; node: string; packet: HbPacket };

export type NodeState = 'init' | 'up' | 'dead';
export type LinkState = 'init' | 'up' | 'dead';

export interface LinkStatus { medium: string; state: LinkState; lastSeenMs: number | null }
export interface NodeStatus {
  node: string;
  self: boolean;
  state: NodeState;
  generation: number | null;
  lastSeq: number | null;
  lastHeardMs: number | null;
  links: LinkStatus[];
}

/** heartbeat's FLOWCONTROL_LIMIT: gaps larger than this are not tracked packet by packet */
const MAX_TRACKED_GAP = 250;

/** seen: the seqs this medium carried recently, to tell a replay from the same packet on another medium */
interface Link { state: LinkState; lastSeenMs: number | null; seen: Set<number> }
interface Peer {
  state: NodeState;
  generation: number | null;
  lastSeq: number;
  missing: Set<number>;
  lastHeardMs: number | null;
  lastStatusMs: number | null;
  links: Map<string, Link>;
}

export class Membership {
  private cfg: MembershipConfig;
  private readonly startMs: number;
  private readonly peers = new Map<string, Peer>();
  private readonly self: string;

  /** tandem-hb reload: new keepalive/warntime/deadtime/initdead, judged from the next tick on */
  setTimes(times: Pick<MembershipConfig, 'keepaliveMs' | 'warntimeMs' | 'deadtimeMs' | 'initdeadMs'>): void {
    this.cfg = { ...this.cfg, ...times };
  }

  constructor(cfg: MembershipConfig, nowMs: number) {
    this.cfg = cfg;
    this.startMs = nowMs;
    this.self = cfg.self.toLowerCase();
    for (const n of cfg.nodes) {
      const node = n.toLowerCase();
      if (node === this.self) continue;
      const links = new Map<string, Link>();
      for (const m of cfg.media ?? []) links.set(m, { state: 'init', lastSeenMs: null, seen: new Set() });
      this.peers.set(node, { state: 'init', generation: null, lastSeq: 0, missing: new Set(), lastHeardMs: null, lastStatusMs: null, links });
    }
  }

  onPacket(from: string, medium: string, decoded: DecodeResult, nowMs: number): MembershipAction[] {
    const out: MembershipAction[] = [];
    const drop = (reason: DropReason, node: string | null, detail: string, level: LogLevel = 'warn') => {
      out.push({ type: 'drop', reason, node, medium, detail });
      out.push(log(level, `dropped packet from ${from} on ${medium}: ${detail}`, { reason, node, from, medium }));
    };
    if (!decoded.ok) {
      drop(decoded.reason, null, decoded.detail);
      return out;
    }
    const p = decoded.packet;
    const src = p.src.toLowerCase();
    if (src === this.self) return out; // our own broadcast looping back: normal on bcast media
    const peer = this.peers.get(src);
    if (!peer) {
      drop('unknown-node', src, `sender '${p.src}' is not a node in ha.cf`);
      return out;
    }
    if (p.dest !== null && p.dest.toLowerCase() !== this.self) return out; // meant for another node

    // Generation: older is a replay, newer is a restart of that node.
    if (peer.generation !== null && p.generation < peer.generation) {
      drop('old-generation', src, `attempted replay attack? [gen = ${p.generation}, curgen = ${peer.generation}]`);
      return out;
    }
    let restarted = false;
    let newGeneration = false;
    const heardBefore = peer.lastHeardMs !== null;
    if (peer.generation === null || p.generation > peer.generation) {
      newGeneration = true;
      if (peer.generation !== null) {
        restarted = peer.state === 'up';
        out.push(log('info', `Heartbeat restart on node ${src}`, { node: src, generation: p.generation, previous: peer.generation }));
      }
      peer.generation = p.generation;
      peer.lastSeq = 0;
      peer.missing.clear();
      peer.lastStatusMs = null;
      for (const l of peer.links.values()) l.seen.clear();
    }

    const link = this.link(peer, medium);
    const isNew = this.acceptSeq(peer, p.seq, src, out);
    if (!isNew) {
      // Already seen on some medium. It proves this medium works only if this medium had not
      // carried it yet and it is recent; the same packet twice on one medium is a replay.
      if (!link.seen.has(p.seq) && p.seq > peer.lastSeq - MAX_TRACKED_GAP) {
        this.remember(link, p.seq);
        this.linkHeard(src, medium, link, nowMs, out);
      } else {
        drop('replay', src, `packet seq ${p.seq} from ${src} already seen (highest ${peer.lastSeq})`);
      }
      return out;
    }
    this.remember(link, p.seq);
    this.linkHeard(src, medium, link, nowMs, out);

    if (p.type === 'status') {
      if (peer.lastStatusMs !== null) {
        const interval = nowMs - peer.lastStatusMs;
        if (interval > this.cfg.deadtimeMs) {
          // Heartbeat would mark the node dead here; we have proof of life in hand, so we only
          // report it (our own tick() ran late, or the peer stalled).
          out.push(log('error', `Late heartbeat: Node ${src}: interval ${interval} ms (> deadtime)`, { node: src, intervalMs: interval }));
          out.push({ type: 'late-heartbeat', node: src, lateMs: interval - this.cfg.keepaliveMs, intervalMs: interval });
        } else if (interval > this.cfg.warntimeMs) {
          out.push(log('warn', `Late heartbeat: Node ${src}: interval ${interval} ms`, { node: src, intervalMs: interval }));
          out.push({ type: 'late-heartbeat', node: src, lateMs: interval - this.cfg.keepaliveMs, intervalMs: interval });
        }
      }
      peer.lastStatusMs = nowMs;
    }
    peer.lastHeardMs = nowMs;

    if (peer.state !== 'up' || restarted) {
      if (peer.state === 'dead' && !newGeneration && heardBefore) {
        // Heartbeat restarts itself here; Tandem heals the partition in place (the controller
        // reconciles the groups by message), so this is only reported.
        out.push(log('error', `Cluster node ${src} returning after partition.`, { node: src, generation: p.generation }));
      }
      peer.state = 'up';
      out.push(log('info', `Status update for node ${src}: status active`, { node: src, generation: p.generation, transition: 'up' }));
      out.push({ type: 'node-up', node: src, generation: p.generation, restarted });
    }
    if (p.type !== 'status') out.push({ type: 'deliver', node: src, packet: p });
    return out;
  }

  tick(nowMs: number): MembershipAction[] {
    const out: MembershipAction[] = [];
    for (const [node, peer] of this.peers) {
      for (const [medium, link] of peer.links) {
        if (link.state === 'up' && link.lastSeenMs !== null && nowMs - link.lastSeenMs > this.cfg.deadtimeMs) {
          link.state = 'dead';
          out.push(log('info', `Link ${node}:${medium} dead.`, { node, medium, transition: 'dead' }));
        }
      }
      if (peer.state === 'up' && peer.lastHeardMs !== null && nowMs - peer.lastHeardMs > this.cfg.deadtimeMs) {
        peer.state = 'dead';
        out.push(log('warn', `node ${node}: is dead`, { node, silentMs: nowMs - peer.lastHeardMs, transition: 'dead' }));
        out.push({ type: 'node-dead', node });
      } else if (peer.state === 'init' && nowMs - this.startMs > this.cfg.initdeadMs) {
        peer.state = 'dead';
        out.push(log('warn', `node ${node}: is dead (not heard from within initdead ${this.cfg.initdeadMs} ms of start)`, { node, transition: 'dead' }));
        out.push({ type: 'node-dead', node });
      }
    }
    return out;
  }

  status(): NodeStatus[] {
    const out: NodeStatus[] = [{ node: this.self, self: true, state: 'up', generation: null, lastSeq: null, lastHeardMs: null, links: [] }];
    for (const [node, p] of this.peers) {
      out.push({
        node, self: false, state: p.state, generation: p.generation, lastSeq: p.generation === null ? null : p.lastSeq,
        lastHeardMs: p.lastHeardMs,
        links: [...p.links].map(([medium, l]) => ({ medium, state: l.state, lastSeenMs: l.lastSeenMs })),
      });
    }
    return out;
  }

  /** true if seq is a packet we have not seen in this generation; records gaps */
  private acceptSeq(peer: Peer, seq: number, node: string, out: MembershipAction[]): boolean {
    if (seq > peer.lastSeq) {
      const gap = seq - peer.lastSeq - 1;
      if (peer.lastSeq > 0 && gap > 0) {
        if (gap > MAX_TRACKED_GAP) {
          peer.missing.clear();
          out.push(log('debug', `lost a lot of packets from ${node} (${gap})`, { node, lost: gap }));
        } else {
          for (let s = peer.lastSeq + 1; s < seq; s++) peer.missing.add(s);
          while (peer.missing.size > MAX_TRACKED_GAP) peer.missing.delete(peer.missing.values().next().value as number);
          out.push(log('debug', `${gap} lost packet(s) for [${node}] [${peer.lastSeq}:${seq}]`, { node, lost: gap }));
        }
      }
      peer.lastSeq = seq;
      return true;
    }
    if (peer.missing.delete(seq)) return true;
    return false;
  }

  private remember(link: Link, seq: number): void {
    link.seen.add(seq);
    if (link.seen.size > MAX_TRACKED_GAP) link.seen.delete(link.seen.values().next().value as number);
  }

  private link(peer: Peer, medium: string): Link {
    let l = peer.links.get(medium);
    if (!l) {
      l = { state: 'init', lastSeenMs: null, seen: new Set() };
      peer.links.set(medium, l);
    }
    return l;
  }

  private linkHeard(node: string, medium: string, link: Link, nowMs: number, out: MembershipAction[]): void {
    link.lastSeenMs = nowMs;
    if (link.state !== 'up') {
      link.state = 'up';
      out.push(log('info', `Link ${node}:${medium} up.`, { node, medium, transition: 'up' }));
    }
  }
}

function log(level: LogLevel, msg: string, fields: Record<string, unknown>): MembershipAction {
  return { type: 'log', level, msg, fields };
}
