// Reading iproute2's one-line output and building its commands, for the IPaddr/IPaddr2 agents.
// Pure: the agent runs `ip` and hands the text here.
import { parseIpv4 } from '../../config/heartbeat/values.js';

export interface IfAddr {
  iface: string;
  address: string;
  prefix: number;
  broadcast: string | null;
  /** the address label (`eth0:0`); equals the interface name when none was given */
  label: string;
}

/**
 * `ip -o -4 addr show`: `2: eth0    inet 10.0.0.1/24 brd 10.0.0.255 scope global secondary eth0:0\  valid_lft …`.
 * The label is the last word before the backslash. Lines that are not IPv4 addresses are skipped.
 */
export function parseIpAddrShow(text: string): IfAddr[] {
  const out: IfAddr[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.split('\\')[0]!.trim();
    const m = /^\d+:\s+(\S+)\s+inet\s+(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?\s*(.*)$/.exec(line);
    if (!m) continue;
    const iface = m[1]!.replace(/@.*$/, '');
    const words = m[4]!.split(/\s+/).filter((w) => w !== '');
    const brdAt = words.indexOf('brd');
    const broadcast = brdAt >= 0 ? words[brdAt + 1] ?? null : null;
    const last = words[words.length - 1];
    const label = last !== undefined && (last === iface || last.startsWith(`${iface}:`)) ? last : iface;
    out.push({ iface, address: m[2]!, prefix: m[3] === undefined ? 32 : Number(m[3]), broadcast, label });
  }
  return out;
}

/** `ip -o route get IP`: the `dev` it leaves by and whether the address is already local. */
export function parseRouteGet(text: string): { dev: string; local: boolean } | null {
  const m = /\bdev\s+(\S+)/.exec(text);
  if (!m) return null;
  return { dev: m[1]!, local: /^\s*local\s/.test(text) };
}

function toInt(ip: string): number | null {
  const o = parseIpv4(ip);
  return o ? ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0 : null;
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function sameSubnet(a: string, b: string, prefix: number): boolean {
  const x = toInt(a);
  const y = toInt(b);
  if (x === null || y === null) return false;
  const m = maskOf(prefix);
  return ((x & m) >>> 0) === ((y & m) >>> 0);
}

/** The prefix length of the interface address whose subnet holds ip (heartbeat's findif), or null. */
export function prefixFor(ip: string, iface: string, addrs: readonly IfAddr[]): number | null {
  const hit = addrs.find((a) => a.iface === iface && a.address !== ip && sameSubnet(a.address, ip, a.prefix));
  return hit ? hit.prefix : null;
}

const IFNAMSIZ = 16;

/** heartbeat labels its aliases IFACE:N with the lowest free N; null when the name would be too long. */
export function freeLabel(iface: string, addrs: readonly IfAddr[]): string | null {
  const used = new Set(addrs.filter((a) => a.iface === iface).map((a) => a.label));
  for (let n = 0; n < 1000; n++) {
    const label = `${iface}:${n}`;
    if (label.length >= IFNAMSIZ) return null;
    if (!used.has(label)) return label;
  }
  return null;
}

export interface IpAddSpec {
  ip: string;
  prefix: number;
  iface: string;
  label: string | null;
  broadcast: string | null;
}

export function ipAddrAddArgv(s: IpAddSpec): string[] {
  const argv = ['ip', '-4', 'addr', 'add', `${s.ip}/${s.prefix}`, 'brd', s.broadcast ?? '+', 'dev', s.iface];
  if (s.label !== null) argv.push('label', s.label);
  return argv;
}

export function ipAddrDelArgv(a: Pick<IfAddr, 'address' | 'prefix' | 'iface'>): string[] {
  return ['ip', '-4', 'addr', 'del', `${a.address}/${a.prefix}`, 'dev', a.iface];
}

/** Gratuitous ARP (iputils arping): tell the LAN the address moved here. */
export function arpingArgv(arping: string, iface: string, ip: string, count = 3): string[] {
  return [arping, '-U', '-c', String(count), '-I', iface, ip];
}
