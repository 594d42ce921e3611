// IPaddr/IPaddr2: iproute2 output parsing and the commands the agent runs (heartbeat's findif:
// interface from the route, netmask from the interface address in the same subnet, label IFACE:N).
import { describe, expect, it } from 'vitest';
import { parseHaresources, unwrap, type IpAddrResource } from '../../../src/config/heartbeat/index.js';
import { freeLabel, ipAddrAddArgv, parseIpAddrShow, parseRouteGet, prefixFor } from '../../../src/cluster/agents/ip-parse.js';
import { IpAddrAgent } from '../../../src/cluster/agents/ipaddr.js';
import { FakeSystem } from './agent-helpers.js';

const SHOW = [
  '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
  '4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever',
  '4: eth0    inet 192.0.2.50/24 brd 192.0.2.255 scope global secondary eth0:0\\       valid_lft forever preferred_lft forever',
  '7: veth1@if6    inet 10.9.0.1/16 scope global veth1\\       valid_lft forever preferred_lft forever',
].join('\n');

function resource(text: string): IpAddrResource {
  const r = unwrap(parseHaresources(`node1 ${text}\n`)).groups[0]!.resources[0]!;
  if (r.kind !== 'ipaddr') throw new Error('not an IP resource');
  return r;
}

describe('ip-parse', () => {
  it('reads addresses, prefixes, broadcasts and labels from `ip -o -4 addr show`', () => {
    expect(parseIpAddrShow(SHOW)).toEqual([
      { iface: 'lo', address: '127.0.0.1', prefix: 8, broadcast: null, label: 'lo' },
      { iface: 'eth0', address: '192.0.2.2', prefix: 24, broadcast: '192.0.2.255', label: 'eth0' },
      { iface: 'eth0', address: '192.0.2.50', prefix: 24, broadcast: '192.0.2.255', label: 'eth0:0' },
      { iface: 'veth1', address: '10.9.0.1', prefix: 16, broadcast: null, label: 'veth1' },
    ]);
    expect(parseIpAddrShow('garbage\n\n3: eth1    inet6 fe80::1/64 scope link')).toEqual([]);
  });

  it.each([
    ['192.0.2.77 dev eth0 src 192.0.2.2 uid 0 \\    cache ', { dev: 'eth0', local: false }],
    ['local 127.0.0.5 dev lo src 127.0.0.1 uid 0 \\    cache <local> ', { dev: 'lo', local: true }],
    ['8.8.8.8 via 192.0.2.1 dev eth0 src 192.0.2.2 uid 0', { dev: 'eth0', local: false }],
    ['RTNETLINK answers: Network is unreachable', null],
  ])('route get %j', (text, want) => {
    expect(parseRouteGet(text)).toEqual(want);
  });

  it('finds the netmask from the interface address in the same subnet, and the lowest free label', () => {
    const addrs = parseIpAddrShow(SHOW);
    expect(prefixFor('192.0.2.190', 'eth0', addrs)).toBe(24);
    expect(prefixFor('10.9.200.1', 'veth1', addrs)).toBe(16);
    expect(prefixFor('172.16.0.1', 'eth0', addrs)).toBeNull();
    expect(freeLabel('eth0', addrs)).toBe('eth0:1');
    expect(freeLabel('veth1', addrs)).toBe('veth1:0');
    expect(freeLabel('averylongname0', addrs)).toBeNull(); // IFNAMSIZ: the label would not fit
  });

  it('builds `ip addr add` with the kernel-computed broadcast unless one is given', () => {
    expect(ipAddrAddArgv({ ip: '10.0.0.9', prefix: 24, iface: 'eth0', label: 'eth0:0', broadcast: null }).join(' '))
      .toBe('ip -4 addr add 10.0.0.9/24 brd + dev eth0 label eth0:0');
    expect(ipAddrAddArgv({ ip: '10.0.0.9', prefix: 24, iface: 'eth0', label: null, broadcast: '10.0.0.127' }).join(' '))
      .toBe('ip -4 addr add 10.0.0.9/24 brd 10.0.0.127 dev eth0');
  });
});

describe('IpAddrAgent', () => {
  it('start: finds the interface by route and the netmask by subnet, labels it, sends gratuitous ARP', async () => {
    const sys = new FakeSystem().on('ip -o -4 addr show', { stdout: SHOW }).on('ip -o route get', { stdout: '192.0.2.190 dev eth0 src 192.0.2.2 uid 0' });
    const res = await new IpAddrAgent(resource('IPaddr2::192.0.2.190'), sys.ctx()).start();
    expect(res.ok).toBe(true);
    expect(sys.commandLines()).toEqual([
      'ip -o -4 addr show',
      'ip -o route get 192.0.2.190',
      'ip -4 addr add 192.0.2.190/24 brd + dev eth0 label eth0:1',
      '/usr/bin/arping -U -c 3 -I eth0 192.0.2.190',
    ]);
  });

  it('start: uses IP/CIDR/IFACE:LABEL/BROADCAST as written, and does nothing when the address is already here', async () => {
    const sys = new FakeSystem().on('ip -o -4 addr show', { stdout: SHOW });
    sys.onPath.delete('arping');
    expect((await new IpAddrAgent(resource('IPaddr::10.1.2.3/16/eth0:web/10.1.255.255'), sys.ctx()).start()).ok).toBe(true);
    expect(sys.commandLines()).toEqual(['ip -o -4 addr show', 'ip -4 addr add 10.1.2.3/16 brd 10.1.255.255 dev eth0 label eth0:web']);
    const again = new FakeSystem().on('ip -o -4 addr show', { stdout: SHOW });
    expect((await new IpAddrAgent(resource('192.0.2.50'), again.ctx()).start()).ok).toBe(true);
    expect(again.commandLines()).toEqual(['ip -o -4 addr show']);
  });

  it('start fails with a clear reason when no interface or netmask can be found', async () => {
    const noRoute = new FakeSystem().on('ip -o -4 addr show', { stdout: SHOW }).on('ip -o route get', { stdout: 'local 10.7.7.7 dev lo table local' });
    const r1 = await new IpAddrAgent(resource('10.7.7.7'), noRoute.ctx()).start();
    expect(r1).toMatchObject({ ok: false });
    expect(r1.message).toContain('cannot find an interface for 10.7.7.7');
    const noMask = new FakeSystem().on('ip -o -4 addr show', { stdout: SHOW });
    const r2 = await new IpAddrAgent(resource('IPaddr2::172.16.0.1'), noMask.on('ip -o route get', { stdout: '172.16.0.1 via 192.0.2.1 dev eth0' }).ctx()).start();
    expect(r2.message).toContain('cannot determine the netmask of 172.16.0.1');
  });

  it('stop deletes the address wherever it is, and succeeds when it is absent; status reads the interface', async () => {
    const sys = new FakeSystem().on('ip -o -4 addr show', { stdout: SHOW });
    const agent = new IpAddrAgent(resource('192.0.2.50'), sys.ctx());
    expect((await agent.status()).state).toBe('running');
    expect((await agent.stop()).ok).toBe(true);
    expect(sys.commandLines()).toContain('ip -4 addr del 192.0.2.50/24 dev eth0');
    const absent = new IpAddrAgent(resource('192.0.2.51'), sys.ctx());
    expect((await absent.status()).state).toBe('stopped');
    expect((await absent.stop()).ok).toBe(true);
  });

  it('a failing `ip addr add` is a failed start with ip\'s own words', async () => {
    const sys = new FakeSystem().on('ip -o -4 addr show', { stdout: SHOW }).on('ip -4 addr add', { code: 2, stderr: 'RTNETLINK answers: Operation not permitted\n' });
    const r = await new IpAddrAgent(resource('IPaddr2::192.0.2.99/24/eth0'), sys.ctx()).start();
    expect(r).toMatchObject({ ok: false, rc: 2 });
    expect(r.message).toContain('(rc=2) RTNETLINK answers: Operation not permitted');
  });
});
