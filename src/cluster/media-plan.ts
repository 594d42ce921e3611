// Which ha.cf media this node uses and how a received datagram is attributed to one. Pure.
// heartbeat ignores a ucast line that names one of this host's own addresses, so the same ha.cf
// (one ucast line per node) works on every node.
import type { HbMedium } from '../config/heartbeat/ha-cf.js';
import { mediumName } from '../config/heartbeat/ha-cf.js';
import { sameSubnet } from './agents/ip-parse.js';

export interface PlannedMedium {
  name: string;
  medium: HbMedium;
  /** ucast: the peer's address after name resolution */
  peerAddress: string | null;
}

export interface MediaPlan {
  active: PlannedMedium[];
  /** ucast lines naming this host, with why */
  ignored: Array<{ name: string; reason: string }>;
}

/** resolved: ucast peer (as written) → IPv4 address */
export function planMedia(media: readonly HbMedium[], ownAddresses: ReadonlySet<string>, resolved: ReadonlyMap<string, string>): MediaPlan {
  const plan: MediaPlan = { active: [], ignored: [] };
  const seen = new Set<string>();
  for (const m of media) {
    const name = mediumName(m);
    if (seen.has(name)) continue;
    seen.add(name);
    if (m.kind === 'ucast') {
      const addr = resolved.get(m.peer) ?? null;
      if (addr !== null && ownAddresses.has(addr)) {
        plan.ignored.push({ name, reason: `${m.peer} is this host's own address` });
        continue;
      }
      plan.active.push({ name, medium: m, peerAddress: addr });
    } else plan.active.push({ name, medium: m, peerAddress: null });
  }
  return plan;
}

export interface IfaceAddress { iface: string; address: string; prefix: number }

/**
 * The medium a datagram from `from` arriving on `port` came by: the ucast line naming the sender,
 * else a bcast/mcast medium whose interface shares the sender's subnet, else the only medium on
 * that port; null when nothing fits (the caller names it by port and sender).
 */
export function attributeDatagram(active: readonly PlannedMedium[], port: number, from: string, ifaces: readonly IfaceAddress[]): string | null {
  const onPort = active.filter((p) => p.medium.port === port);
  const ucast = onPort.find((p) => p.medium.kind === 'ucast' && p.peerAddress === from);
  if (ucast) return ucast.name;
  const shared = onPort.find((p) => p.medium.kind !== 'ucast' && ifaces.some((i) => i.iface === p.medium.iface && sameSubnet(i.address, from, i.prefix)));
  if (shared) return shared.name;
  return onPort.length === 1 ? onPort[0]!.name : null;
}

/** The IPv4 broadcast address of an interface address. */
export function broadcastOf(address: string, prefix: number): string {
  const o = address.split('.').map(Number);
  const n = ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const b = (n | ~mask) >>> 0;
  return [b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255].join('.');
}
