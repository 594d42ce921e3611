// The UDP side of the heartbeat media: one socket per UDP port (bcast and ucast lines share
// udpport; an mcast line names its own port), every packet sent on every active medium, every
// datagram handed up with the medium it came by. Interface addresses are looked up at each send,
// so an interface that gets its address late, or loses it, is picked up without a restart.
import dgram from 'node:dgram';
import os from 'node:os';
import type { Logger } from 'pino';
import { attributeDatagram, broadcastOf, type IfaceAddress, type PlannedMedium } from './media-plan.js';

export type DatagramHandler = (data: Buffer, medium: string, from: string) => void;

export function ipv4Addresses(): IfaceAddress[] {
  const out: IfaceAddress[] = [];
  for (const [iface, list] of Object.entries(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== 'IPv4') continue;
      const prefix = a.cidr ? Number(a.cidr.split('/')[1]) : 32;
      out.push({ iface, address: a.address, prefix });
    }
  }
  return out;
}

export interface TransportOptions {
  /** bind to this address instead of 0.0.0.0 (--bind: several nodes on one host over loopback) */
  bindAddress: string | null;
  logger: Logger;
}

export class HbTransport {
  private readonly sockets = new Map<number, dgram.Socket>();
  /** media whose last send failed, to log a failure once per change rather than every keepalive */
  private readonly failing = new Set<string>();

  constructor(private readonly media: readonly PlannedMedium[], private readonly opts: TransportOptions) {}

  async start(onDatagram: DatagramHandler): Promise<void> {
    const ports = [...new Set(this.media.map((m) => m.medium.port))];
    for (const port of ports) {
      const sock = dgram.createSocket({ type: 'udp4' });
      sock.on('error', (e) => this.opts.logger.error({ port, err: e.message }, 'heartbeat socket error'));
      sock.on('message', (data, rinfo) => {
        const medium = attributeDatagram(this.media, port, rinfo.address, ipv4Addresses()) ?? `udp ${port} from ${rinfo.address}`;
        onDatagram(data, medium, `${rinfo.address}:${rinfo.port}`);
      });
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(port, this.opts.bindAddress ?? '0.0.0.0', () => {
          sock.off('error', reject);
          resolve();
        });
      }).catch((e: NodeJS.ErrnoException) => {
        throw new Error(`cannot listen for heartbeats on UDP port ${port}${this.opts.bindAddress ? ` at ${this.opts.bindAddress}` : ''}: ${e.message}`);
      });
      this.sockets.set(port, sock);
      for (const m of this.media) {
        if (m.medium.port !== port) continue;
        if (m.medium.kind === 'bcast') sock.setBroadcast(true);
        if (m.medium.kind === 'mcast') {
          const ifAddr = this.ifaceAddress(m.medium.iface);
          try {
            sock.addMembership(m.medium.group, ifAddr ?? undefined);
            sock.setMulticastTTL(m.medium.ttl);
            sock.setMulticastLoopback(m.medium.loop === 1);
          } catch (e) {
            this.opts.logger.error({ medium: m.name, err: (e as Error).message }, 'cannot join the multicast group');
          }
        }
      }
    }
  }

  private ifaceAddress(iface: string): string | null {
    return ipv4Addresses().find((a) => a.iface === iface)?.address ?? null;
  }

  /** Send one packet on every medium. */
  send(data: Buffer): void {
    const addrs = ipv4Addresses();
    for (const m of this.media) {
      const sock = this.sockets.get(m.medium.port);
      if (!sock) continue;
      let dest: string | null = null;
      switch (m.medium.kind) {
        case 'ucast': dest = m.peerAddress; break;
        case 'bcast': {
          const a = addrs.find((x) => x.iface === m.medium.iface);
          dest = a ? broadcastOf(a.address, a.prefix) : null;
          break;
        }
        case 'mcast': {
          const a = addrs.find((x) => x.iface === m.medium.iface);
          if (a) {
            try { sock.setMulticastInterface(a.address); } catch { /* reported by send */ }
          }
          dest = m.medium.group;
          break;
        }
      }
      if (dest === null) {
        this.noteFailure(m.name, `interface ${m.medium.iface} has no IPv4 address`);
        continue;
      }
      sock.send(data, m.medium.port, dest, (err) => {
        if (err) this.noteFailure(m.name, err.message);
        else if (this.failing.delete(m.name)) this.opts.logger.info({ medium: m.name }, `sending on ${m.name} works again`);
      });
    }
  }

  private noteFailure(medium: string, reason: string): void {
    if (this.failing.has(medium)) return;
    this.failing.add(medium);
    this.opts.logger.warn({ medium, reason }, `cannot send on ${medium}: ${reason}`);
  }

  close(): void {
    for (const s of this.sockets.values()) {
      try { s.close(); } catch { /* already closed */ }
    }
    this.sockets.clear();
  }
}
