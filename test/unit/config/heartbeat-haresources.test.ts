import { describe, expect, it } from 'vitest';
import { checkHaSetup, parseHaCf, parseHaresources, peerOf, unwrap } from '../../../src/config/heartbeat/index.js';

describe('haresources', () => {
  it('parses the seed file of issue 6 (backslash continuation)', () => {
    const h = unwrap(parseHaresources('node1 IPaddr::192.168.10.190/24 drbddisk::r0 \\\n Filesystem::/dev/drbd0::/claster/drbd0::ext4::defaults rc.httpd\n'));
    expect(h.groups).toHaveLength(1);
    const g = h.groups[0]!;
    expect(g.node).toBe('node1');
    expect(g.key).toBe('IPaddr::192.168.10.190/24');
    expect(g.resources).toMatchObject([
      { kind: 'ipaddr', agent: 'IPaddr', ip: '192.168.10.190', cidr: 24, iface: null, broadcast: null, args: ['192.168.10.190/24'], line: 1, col: 7 },
      { kind: 'tandemdisk', agent: 'drbddisk', resource: 'r0', name: 'drbddisk', args: ['r0'] },
      { kind: 'filesystem', device: '/dev/drbd0', directory: '/claster/drbd0', fstype: 'ext4', options: 'defaults', line: 2, col: 2 },
      { kind: 'script', name: 'rc.httpd', args: [], line: 2 },
    ]);
  });

  it.each([
    ['1.2.3.4', { ip: '1.2.3.4', cidr: null, iface: null, label: null, broadcast: null }],
    ['IPaddr::1.2.3.4/24/eth0', { ip: '1.2.3.4', cidr: 24, iface: 'eth0', label: null, broadcast: null }],
    ['IPaddr::1.2.3.4/29/eth0:1', { ip: '1.2.3.4', cidr: 29, iface: 'eth0', label: '1' }],
    ['IPaddr::135.9.8.7/24/135.9.8.210', { cidr: 24, iface: null, broadcast: '135.9.8.210' }],
    ['IPaddr::135.9.8.7/24/eth0/135.9.8.210', { iface: 'eth0', broadcast: '135.9.8.210' }],
    ['IPaddr2::10.0.0.5/255.255.255.0/eth1', { agent: 'IPaddr2', cidr: 24, iface: 'eth1' }],
    ['10.0.0.5/16/eth0', { name: 'IPaddr', cidr: 16, iface: 'eth0', text: '10.0.0.5/16/eth0' }],
  ])('IP resource %s', (text, expected) => {
    const h = unwrap(parseHaresources(`n1 ${text}\n`));
    expect(h.groups[0]!.resources[0]).toMatchObject({ kind: 'ipaddr', ...expected });
  });

  it('reads comments, blank lines, tabs, several lines per node, upper-case node names', () => {
    const h = unwrap(parseHaresources('# comment\n\nNode1\tIPaddr::1.1.1.1  httpd # trailing\nnode1 drbddisk::r1 \\  \n\tFilesystem::/dev/drbd1::/srv::xfs\nnode2 tandemdisk::r2\n'));
    expect(h.groups.map((g) => [g.node, g.key, g.resources.length])).toEqual([
      ['node1', 'IPaddr::1.1.1.1', 2], ['node1', 'drbddisk::r1', 2], ['node2', 'tandemdisk::r2', 1],
    ]);
  });

  const MALFORMED: Array<[string, string]> = [
    ['node1\n', "haresources:1:1: node 'node1' has no resources on this line"],
    ['node1 IPaddr::1.1.1.1\nnode2 IPaddr::1.1.1.1\n', "haresources:2:7: the first resource of a line names its group and must be unique: 'IPaddr::1.1.1.1' already starts the group on line 1"],
    ['n IPaddr::1.2.3.999/24\n', "haresources:1:3: '1.2.3.999' is not an IPv4 address (IPaddr::IP[/CIDR[/IFACE[:LABEL][/BROADCAST]]])"],
    ['n IPaddr::1.2.3.4/33\n', "haresources:1:3: '33' is not a netmask length (1-32) in '1.2.3.4/33'"],
    ['n IPaddr::1.2.3.4/24/eth0/1.2.3.255/x\n', "haresources:1:3: '1.2.3.4/24/eth0/1.2.3.255/x' has too many '/' fields: IPaddr::IP[/CIDR[/IFACE[:LABEL][/BROADCAST]]]"],
    ['n IPaddr\n', 'haresources:1:3: IPaddr takes one argument: IPaddr::IP[/CIDR[/IFACE[:LABEL][/BROADCAST]]]'],
    ['n IPaddr::1.2.3.4::extra\n', 'haresources:1:3: IPaddr takes one argument: IPaddr::IP[/CIDR[/IFACE[:LABEL][/BROADCAST]]]'],
    ['n IPaddr::1.2.3.4/24/eth0/nope\n', "haresources:1:3: 'nope' is not a broadcast IPv4 address in '1.2.3.4/24/eth0/nope'"],
    ['n Filesystem::/dev/sda1\n', 'haresources:1:3: Filesystem needs a device and a mount point: Filesystem::DEVICE::DIR[::FSTYPE[::OPTIONS]]'],
    ['n Filesystem::/dev/sda1::data::ext4\n', "haresources:1:3: Filesystem mount point 'data' must be an absolute path"],
    ['n Filesystem::/dev/sda1::/data::ext4::rw::x\n', "haresources:1:3: Filesystem takes at most four arguments: DEVICE::DIR::FSTYPE::OPTIONS; unexpected 'x'"],
    ['n drbddisk::r0::r1\n', 'haresources:1:3: drbddisk takes one argument, the resource name: drbddisk::r0'],
    ['n tandemdisk::\n', "haresources:1:3: tandemdisk:: needs a resource name after '::'"],
    ['n /etc/init.d/httpd\n', "haresources:1:3: '/etc/init.d/httpd' must be a plain script name (looked up in <ha-dir>/resource.d and the init script directory), not a path"],
    ['n ::x\n', "haresources:1:3: '::x' has no resource name before '::'"],
    ['IPaddr::1.1.1.1 httpd\n', "haresources:1:1: a line must start with the preferred node's name, not a resource ('IPaddr::1.1.1.1')"],
  ];

  it.each(MALFORMED)('refuses %j', (text, message) => {
    const r = parseHaresources(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.message)).toContain(message);
  });
});

describe('checks across ha.cf and haresources', () => {
  const cf = unwrap(parseHaCf('bcast eth0\nnode alpha\nnode beta\nauto_failback on\n'));
  it('finds the peer', () => {
    expect(peerOf(cf, 'Alpha')).toBe('beta');
  });
  it('accepts a consistent setup', () => {
    expect(checkHaSetup({ haCf: cf, haresources: unwrap(parseHaresources('alpha httpd\nBETA 1.2.3.4\n')), self: 'beta' })).toEqual([]);
  });
  it('refuses an unknown current node and foreign haresources nodes', () => {
    const errors = checkHaSetup({ haCf: cf, haresources: unwrap(parseHaresources('alpha httpd\ngamma 1.2.3.4\n')), self: 'delta' }).map((e) => e.message);
    expect(errors[0]).toMatch(/^ha\.cf: Current node \[delta\] not in configuration!/);
    expect(errors[1]).toBe("haresources:2:1: Bad nodename in haresources [gamma]: it is not a 'node' in ha.cf (alpha, beta)");
  });
  it('refuses more than two nodes', () => {
    const three = unwrap(parseHaCf('bcast eth0\nnode a b c\nauto_failback on\n'));
    expect(checkHaSetup({ haCf: three, haresources: { file: 'haresources', groups: [] }, self: 'a' })[0]!.message).toMatch(/lists 3 nodes .* two-node clusters/);
  });
});
