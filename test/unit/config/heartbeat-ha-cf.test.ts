import { describe, expect, it } from 'vitest';
import { HaConfigError, mediumName, parseHaCf, parseHbBoolean, parseHbTime, unwrap } from '../../../src/config/heartbeat/index.js';

const SEED = `debugfile /var/log/ha-debug.log
logfile /var/log/ha.log
logfacility local0
keepalive 2
deadtime 30
initdead 120
bcast eth0
auto_failback on
node node1
node node2
respawn hacluster /usr/lib/heartbeat/ipfail
use_logd yes
`;

/** a valid minimal base that malformed cases extend */
const BASE = 'bcast eth0\nnode a b\nauto_failback on\nlogfile /var/log/ha-log\n';

describe('heartbeat time values (cl_get_msec)', () => {
  it.each([
    ['2', 2000], ['1.5', 1500], ['.5', 500], ['0.001', 1], ['500ms', 500], ['2000MS', 2000], ['250msec', 250],
    ['1000000us', 1000], ['501us', 1], ['499us', 0], ['30', 30000], ['0', 0],
  ])('%s = %d ms', (text, ms) => {
    expect(parseHbTime(text)).toEqual({ ok: true, ms });
  });

  it.each([
    ['2s', /bare number is already seconds; write 2 or 2000ms/],
    ['10sec', /write 10 or 10000ms/],
    ['abc', /not a time value/],
    ['-1', /not a time value/],
    ['1.2.3', /not a time value/],
    ['5m', /not a time value/],
  ])('%s is refused', (text, re) => {
    const r = parseHbTime(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(re);
  });

  it('reads booleans as cl_str_to_boolean', () => {
    for (const t of ['on', 'YES', 'true', 'y', '1']) expect(parseHbBoolean(t)).toBe(true);
    for (const f of ['off', 'No', 'false', 'n', '0']) expect(parseHbBoolean(f)).toBe(false);
    expect(parseHbBoolean('maybe')).toBeNull();
  });
});

describe('ha.cf', () => {
  it('parses the seed file of issue 6', () => {
    const r = parseHaCf(SEED);
    expect(r.ok).toBe(true);
    const cf = unwrap(r);
    expect(cf).toMatchObject({
      keepaliveMs: 2000, deadtimeMs: 30000, warntimeMs: 15000, initdeadMs: 120000, deadpingMs: 30000, udpport: 694,
      nodes: ['node1', 'node2'], autoFailback: 'on',
      respawn: [{ user: 'hacluster', command: ['/usr/lib/heartbeat/ipfail'] }],
      logging: { logfile: '/var/log/ha.log', debugfile: '/var/log/ha-debug.log', facility: 'local0', useLogd: true },
    });
    expect(cf.media.map(mediumName)).toEqual(['bcast eth0']);
  });

  it("applies heartbeat's defaults", () => {
    const cf = unwrap(parseHaCf('ucast eth1 10.0.0.2\nnode A\nnode b\n'));
    expect(cf).toMatchObject({ keepaliveMs: 1000, deadtimeMs: 30000, warntimeMs: 15000, initdeadMs: 30000, udpport: 694, autoFailback: 'legacy' });
    expect(cf.nodes).toEqual(['a', 'b']); // lower-cased like heartbeat
    expect(cf.logging.useLogd).toBe(true); // no log directive: heartbeat uses logd
  });

  it.each([
    ['deadtime 20', 20000, 20000],
    ['deadtime 8', 8000, 16000],
    ['deadtime 5', 5000, 12000],
    ['deadtime 2\nkeepalive 500ms', 2000, 12000],
  ])('initdead defaults from %s', (lines, deadtime, initdead) => {
    const cf = unwrap(parseHaCf(`${BASE}${lines}\n`));
    expect([cf.deadtimeMs, cf.initdeadMs]).toEqual([deadtime, initdead]);
  });

  it('accepts sub-second timing', () => {
    const cf = unwrap(parseHaCf(`${BASE}keepalive 200ms\ndeadtime 1\nwarntime 500ms\ninitdead 10\n`));
    expect([cf.keepaliveMs, cf.deadtimeMs, cf.warntimeMs, cf.initdeadMs]).toEqual([200, 1000, 500, 10000]);
  });

  it('reads all three media, with udpport applying to the media after it', () => {
    const cf = unwrap(parseHaCf(`bcast eth0 eth1\nudpport 700\nucast eth2 10.1.1.2\nmcast eth3 225.0.0.7 694 1 0\nnode a b\nauto_failback off\n`));
    expect(cf.media).toEqual([
      { kind: 'bcast', iface: 'eth0', port: 694, line: 1 },
      { kind: 'bcast', iface: 'eth1', port: 694, line: 1 },
      { kind: 'ucast', iface: 'eth2', peer: '10.1.1.2', port: 700, line: 3 },
      { kind: 'mcast', iface: 'eth3', group: '225.0.0.7', port: 694, ttl: 1, loop: 0, line: 4 },
    ]);
  });

  it('takes comments anywhere, tabs, leading blanks, CRLF and a missing final newline', () => {
    const cf = unwrap(parseHaCf(' keepalive\t2 # two seconds\r\n\tdeadtime 10\r\nbcast eth0#x\r\n# node z\r\nnode  a\tb \r\nauto_failback on'));
    expect([cf.keepaliveMs, cf.deadtimeMs, cf.nodes]).toEqual([2000, 10000, ['a', 'b']]);
  });

  it('accepts crm off, and warns about directives it ignores or does not know', () => {
    const r = parseHaCf(`${BASE}crm off\ncompression bz2\nfrobnicate 3\nserial /dev/ttyS0\n`);
    expect(r.ok).toBe(true);
    const msgs = r.warnings.map((w) => w.message);
    expect(msgs).toContain('ha.cf:6:1: compression has no effect in Tandem (heartbeat packets are small and never compressed); ignored');
    expect(msgs).toContain("ha.cf:7:1: unknown directive 'frobnicate' ignored");
    expect(msgs.some((m) => m.startsWith('ha.cf:8:1: serial heartbeat media are not supported'))).toBe(true);
  });

  it('warns about legacy auto_failback and warntime >= deadtime', () => {
    const r = parseHaCf('bcast eth0\nnode a b\nauto_failback legacy\ndeadtime 20\nwarntime 20\n');
    expect(r.ok).toBe(true);
    const msgs = r.warnings.map((w) => w.message);
    expect(msgs.some((m) => /Deprecated 'legacy' auto_failback/.test(m))).toBe(true);
    expect(msgs).toContain('ha.cf:5:1: warntime 20000ms is not less than deadtime 20000ms: late heartbeats will never be reported before the node is declared dead');
  });

  // Each case: extra lines appended to BASE (or a whole file when it starts with '!'), the expected message.
  const MALFORMED: Array<[string, string]> = [
    ['crm on', "ha.cf:5:5: 'crm on' selects heartbeat's CRM/Pacemaker cluster manager; Tandem supports only haresources (v1) resource management: remove the line or write 'crm off'"],
    ['pacemaker respawn', "ha.cf:5:11: 'pacemaker respawn' selects heartbeat's CRM/Pacemaker cluster manager; Tandem supports only haresources (v1) resource management: remove the line or write 'pacemaker off'"],
    ['keepalive 2s', "ha.cf:5:11: keepalive: '2s' is not a time value heartbeat reads: a bare number is already seconds; write 2 or 2000ms"],
    ['keepalive', 'ha.cf:5:1: keepalive needs a time value'],
    ['keepalive 0', 'ha.cf:5:11: keepalive must be more than 0'],
    ['deadtime 1 2', "ha.cf:5:12: deadtime takes one value (a time value); unexpected '2'"],
    ['keepalive 2\ndeadtime 4', 'ha.cf:6:1: deadtime 4000ms is too small compared to keepalive 2000ms: it must be more than twice keepalive'],
    ['deadtime 30\ninitdead 10', 'ha.cf:6:1: initdead 10000ms is smaller than deadtime 30000ms'],
    ['udpport 70000', "ha.cf:5:9: udpport: '70000' is not a port number (1-65535)"],
    ['ucast eth0', 'ha.cf:5:1: ucast needs an interface and a peer address: ucast IFACE PEER'],
    ['ucast eth0 10.0.0.300', "ha.cf:5:12: ucast: '10.0.0.300' is not an IPv4 address or host name"],
    ['mcast eth0 225.0.0.1 694 1', 'ha.cf:5:1: mcast needs five values: mcast IFACE GROUP PORT TTL LOOP (e.g. mcast eth0 225.0.0.1 694 1 0)'],
    ['mcast eth0 10.0.0.1 694 1 0', "ha.cf:5:12: mcast: '10.0.0.1' is not a multicast IPv4 address (224.0.0.0-239.255.255.255)"],
    ['mcast eth0 225.0.0.1 694 0 0', "ha.cf:5:26: mcast: ttl '0' must be 1-255"],
    ['auto_failback sometimes', "ha.cf:5:15: auto_failback: 'sometimes' is not on, off or legacy"],
    ['logfacility local9', "ha.cf:5:13: logfacility: 'local9' is not a syslog facility (daemon, local0-local7, …, or none)"],
    ['use_logd perhaps', "ha.cf:5:10: use_logd: 'perhaps' is not a boolean (yes/no, on/off, true/false)"],
    ['autojoin any', "ha.cf:5:10: 'autojoin any' conflicts with haresources (R1) resource management, as in heartbeat; Tandem supports only 'autojoin none': list the nodes with 'node'"],
    ['respawn hacluster', 'ha.cf:5:1: respawn needs a user and a command: respawn USER /path/to/program [args]'],
    ['respawn hacluster ipfail', 'ha.cf:5:19: Client child command [ipfail] is not full pathname'],
    ['stonith baytech /etc/ha.d/conf/stonith.baytech', "ha.cf:5:1: the legacy 'stonith TYPE CONFIGFILE' form is not supported by Tandem; use 'stonith_host * TYPE params…' with an external fencing command"],
    ['warntime 0', 'ha.cf:5:10: warntime must be more than 0'],
    ['debug 300', "ha.cf:5:7: debug: '300' is not a level 0-255"],
    ['ping_group g1', 'ha.cf:5:1: ping_group needs a name and at least one address: ping_group NAME ADDR…'],
    ['!node a b\n', 'ha.cf: No heartbeat media defined: add a bcast, mcast or ucast line'],
    ['!bcast eth0\n', "ha.cf: no nodes defined: list the cluster's nodes with 'node NAME' (as `uname -n` prints them)"],
    ['!bcast eth0\nnode a\nuse_logd off\n', 'ha.cf: No log entry found in ha.cf and use_logd is set to off: add logfile, debugfile or logfacility'],
    ['!serial /dev/ttyS0\nnode a\n', 'ha.cf: No heartbeat media Tandem can use: add a bcast, mcast or ucast line'],
  ];

  it.each(MALFORMED)('refuses %j', (lines, message) => {
    const text = lines.startsWith('!') ? lines.slice(1) : `${BASE}${lines}\n`;
    const r = parseHaCf(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.message)).toContain(message);
    for (const e of r.errors) expect(e).toBeInstanceOf(HaConfigError);
  });

  it('unwrap throws the errors with their positions', () => {
    expect(() => unwrap(parseHaCf(`${BASE}crm yes\n`, { file: '/etc/tandem/ha.d/ha.cf' })))
      .toThrow(/^\/etc\/tandem\/ha\.d\/ha\.cf:5:5: 'crm yes'/);
  });
});
