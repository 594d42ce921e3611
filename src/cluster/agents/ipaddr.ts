// IPaddr / IPaddr2: a virtual IPv4 address as a labelled secondary address (`ip addr add … label
// eth0:0`), announced by gratuitous ARP when arping is installed. The interface comes from the
// resource (`IP/CIDR/IFACE`) or from the route to the address, the netmask from the interface's
// address in the same subnet, as heartbeat's findif does.
import type { IpAddrResource } from '../../config/heartbeat/haresources.js';
import { describeExit } from './exec.js';
import { arpingArgv, freeLabel, ipAddrAddArgv, ipAddrDelArgv, parseIpAddrShow, parseRouteGet, prefixFor, type IfAddr } from './ip-parse.js';
import { failed, ok, type AgentContext, type OpResult, type ResourceAgent, type StatusResult } from './types.js';

export class IpAddrAgent implements ResourceAgent {
  readonly agent: string;
  constructor(private readonly r: IpAddrResource, private readonly ctx: AgentContext) {
    this.agent = r.agent;
  }

  private async addrs(): Promise<IfAddr[] | string> {
    const res = await this.ctx.exec(['ip', '-o', '-4', 'addr', 'show'], { timeoutMs: this.ctx.timeoutsMs.status });
    if (res.code !== 0) return `ip addr show failed ${describeExit(res)}`;
    return parseIpAddrShow(res.stdout);
  }

  private held(addrs: readonly IfAddr[]): IfAddr[] {
    return addrs.filter((a) => a.address === this.r.ip && (this.r.iface === null || a.iface === this.r.iface));
  }

  async status(): Promise<StatusResult> {
    const addrs = await this.addrs();
    if (typeof addrs === 'string') return { state: 'stopped', detail: addrs };
    const h = this.held(addrs);
    return h.length > 0
      ? { state: 'running', detail: `${this.r.ip} is on ${h.map((a) => a.label).join(', ')}` }
      : { state: 'stopped', detail: `${this.r.ip} is not configured here` };
  }

  async start(): Promise<OpResult> {
    const addrs = await this.addrs();
    if (typeof addrs === 'string') return failed(addrs);
    if (this.held(addrs).length > 0) return ok(`${this.r.ip} already configured`);

    let iface = this.r.iface;
    if (iface === null) {
      const route = await this.ctx.exec(['ip', '-o', 'route', 'get', this.r.ip], { timeoutMs: this.ctx.timeoutsMs.status });
      const parsed = route.code === 0 ? parseRouteGet(route.stdout) : null;
      if (!parsed || (parsed.dev === 'lo' && !this.r.ip.startsWith('127.'))) {
        return failed(`cannot find an interface for ${this.r.ip}: no route to it leaves by a network interface; write ${this.r.agent}::${this.r.ip}/CIDR/IFACE`);
      }
      iface = parsed.dev;
    }
    const prefix = this.r.cidr ?? prefixFor(this.r.ip, iface, addrs);
    if (prefix === null) {
      return failed(`cannot determine the netmask of ${this.r.ip}: ${iface} has no address in its subnet; write ${this.r.agent}::${this.r.ip}/CIDR`);
    }
    const label = this.r.label !== null ? `${iface}:${this.r.label}` : freeLabel(iface, addrs);
    const add = await this.ctx.exec(ipAddrAddArgv({ ip: this.r.ip, prefix, iface, label, broadcast: this.r.broadcast }), { timeoutMs: this.ctx.timeoutsMs.start });
    if (add.code !== 0) return failed(`ip addr add ${this.r.ip}/${prefix} dev ${iface} failed ${describeExit(add)}`, add.code, add.stderr);

    // Gratuitous ARP in the background, like heartbeat's send_arp: the address is usable now.
    const arping = this.ctx.which('arping');
    if (arping) {
      void this.ctx.exec(arpingArgv(arping, iface, this.r.ip), { timeoutMs: 10_000 }).then((r) => {
        if (r.code !== 0) this.ctx.log('warn', `arping for ${this.r.ip} on ${iface} failed ${describeExit(r)}`, { ip: this.r.ip, iface });
      });
    } else this.ctx.log('debug', `arping not installed: no gratuitous ARP for ${this.r.ip}`, { ip: this.r.ip });
    return ok(`${this.r.ip}/${prefix} on ${label ?? iface}`);
  }

  async stop(): Promise<OpResult> {
    const addrs = await this.addrs();
    if (typeof addrs === 'string') return failed(addrs);
    for (const a of this.held(addrs)) {
      const del = await this.ctx.exec(ipAddrDelArgv(a), { timeoutMs: this.ctx.timeoutsMs.stop });
      if (del.code !== 0) return failed(`ip addr del ${a.address}/${a.prefix} dev ${a.iface} failed ${describeExit(del)}`, del.code, del.stderr);
    }
    return ok();
  }
}
