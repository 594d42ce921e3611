// The small pure parts around the runner: isolation detection, Tandem's ha.cf extensions, media
// planning and datagram attribution, STONITH command, the operational log line, the generation.
import { describe, expect, it } from 'vitest';
import { parseHaCf, unwrap } from '../../../src/config/heartbeat/index.js';
import { parseHbExtensions, DEFAULT_EXTENSIONS } from '../../../src/cluster/ha-extensions.js';
import { IsolationDetector } from '../../../src/cluster/isolation.js';
import { attributeDatagram, broadcastOf, planMedia } from '../../../src/cluster/media-plan.js';
import { opsLine } from '../../../src/cluster/ops-log.js';
import { planStonith, stonithArgv } from '../../../src/cluster/stonith.js';
import { nextGeneration, parseGeneration } from '../../../src/cluster/generation-file.js';

const BASE = 'keepalive 500ms\ndeadtime 2\ninitdead 10\nnode node1 node2\nlogfile /var/log/ha.log\nauto_failback on\n';

describe('isolation', () => {
  const up = (...i: string[]) => new Set(i);
  it('is isolated only when every medium interface is down, and connected again when a peer is heard', () => {
    const d = new IsolationDetector(['eth0', 'eth1'], 2000);
    expect(d.onLinks(up('eth1'), 0)).toEqual([]);
    expect(d.onLinks(up(), 100)).toEqual([{ type: 'isolated', downIfaces: ['eth0', 'eth1'] }]);
    expect(d.isolated).toBe(true);
    expect(d.onLinks(up(), 200)).toEqual([]);
    expect(d.onLinks(up('eth0'), 300)).toEqual([]); // carrier back, but nobody heard yet
    expect(d.isolated).toBe(true);
    expect(d.onHeard()).toEqual([{ type: 'connected', reason: 'peer-heard' }]);
    expect(d.isolated).toBe(false);
    expect(d.onHeard()).toEqual([]);
  });

  it('with links up for a whole deadtime and no peer heard, it is connected (the peer is really dead)', () => {
    const d = new IsolationDetector(['eth0'], 2000);
    d.onLinks(up(), 0);
    d.onLinks(up('eth0'), 1000);
    expect(d.tick(2999)).toEqual([]);
    d.onLinks(up(), 2500); // flapped down again: the wait starts over
    d.onLinks(up('eth0'), 2600);
    expect(d.tick(4599)).toEqual([]);
    expect(d.tick(4600)).toEqual([{ type: 'connected', reason: 'links-up-for-deadtime' }]);
  });

  it('never isolates a node without watched interfaces', () => {
    expect(new IsolationDetector([], 1000).onLinks(up(), 0)).toEqual([]);
  });
});

describe('ha.cf tandem_* extensions', () => {
  const ext = (lines: string) => parseHbExtensions(unwrap(parseHaCf(BASE + 'ucast eth0 10.0.0.2\n' + lines)));

  it('defaults to heartbeat v1 behaviour', () => {
    expect(ext('')).toMatchObject({ ok: true, value: DEFAULT_EXTENSIONS });
  });

  it('reads every directive', () => {
    const r = ext('tandem_config /etc/tandem/t.conf\ntandem_run_dir /run/t\ntandem_timeout start 30\ntandem_timeout stonith 500ms\n'
      + 'tandem_stop_retries 2 200ms\ntandem_stonith_retry 1\ntandem_monitor 5 2\ntandem_isolation off\ntandem_metrics 9943\n'
      + 'tandem_web 0.0.0.0:9944\ntandem_web_auth /etc/tandem/web-users\n');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toEqual({
      tandemConfig: '/etc/tandem/t.conf', tandemRunDir: '/run/t',
      timeoutsMs: { start: 30000, stop: 120000, status: 30000, stonith: 500 },
      stopRetries: 2, stopRetryMs: 200, stonithRetryMs: 1000, monitor: { intervalMs: 5000, maxRestarts: 2 }, isolation: false,
      metrics: { host: '127.0.0.1', port: 9943 },
      web: { host: '0.0.0.0', port: 9944 }, webAuthFile: '/etc/tandem/web-users',
    });
  });

  it.each([
    ['tandem_config relative.conf', "ha.cf:8:15: tandem_config: 'relative.conf' must be an absolute path"],
    ['tandem_timeout restart 5', "ha.cf:8:16: tandem_timeout: 'restart' is not start, stop, status or stonith"],
    ['tandem_timeout start 5s', "ha.cf:8:22: tandem_timeout: '5s' is not a time value heartbeat reads: a bare number is already seconds; write 5 or 5000ms"],
    ['tandem_stop_retries many', 'ha.cf:8:21: tandem_stop_retries needs the number of retries (a whole number)'],
    ['tandem_isolation maybe', "ha.cf:8:18: tandem_isolation: 'maybe' is not on or off"],
    ['tandem_monitor', 'ha.cf:8:1: usage: tandem_monitor INTERVAL [MAX_RESTARTS]'],
    ['tandem_metrics 99999', "ha.cf:8:16: tandem_metrics: invalid metrics address '99999' (expected PORT, HOST:PORT or [IPV6]:PORT)"],
    ['tandem_web host:', "ha.cf:8:12: tandem_web: invalid web address 'host:' (expected PORT, HOST:PORT or [IPV6]:PORT)"],
    ['tandem_web_auth web-users', "ha.cf:8:17: tandem_web_auth: 'web-users' must be an absolute path"],
    ['tandem_web_auth /etc/tandem/web-users', 'ha.cf:8:1: tandem_web_auth needs tandem_web: there is no status page to enable actions on'],
  ])('%s is refused: %s', (line, message) => {
    const r = ext(line + '\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.message)).toEqual([message]);
  });

  it('warns about an unknown tandem_ directive instead of failing', () => {
    const r = ext('tandem_frobnicate 1\n');
    expect(r.ok && r.warnings.map((w) => w.reason)).toEqual(["unknown Tandem directive 'tandem_frobnicate' ignored"]);
  });
});

describe('media plan', () => {
  const haCf = unwrap(parseHaCf(BASE + 'udpport 7000\nucast eth0 10.0.0.1\nucast eth0 10.0.0.2\nbcast eth1\nmcast eth2 239.0.0.9 7001 1 0\n'));
  const resolved = new Map([['10.0.0.1', '10.0.0.1'], ['10.0.0.2', '10.0.0.2']]);

  it('ignores the ucast line that names this host, as heartbeat does, so ha.cf is the same on both nodes', () => {
    const plan = planMedia(haCf.media, new Set(['10.0.0.1', '192.168.5.1']), resolved);
    expect(plan.active.map((m) => m.name)).toEqual(['ucast eth0 10.0.0.2', 'bcast eth1', 'mcast eth2 239.0.0.9']);
    expect(plan.ignored).toEqual([{ name: 'ucast eth0 10.0.0.1', reason: "10.0.0.1 is this host's own address" }]);
  });

  it('attributes a datagram by ucast peer, then by the interface subnet, then by port', () => {
    const { active } = planMedia(haCf.media, new Set(['10.0.0.1']), resolved);
    const ifaces = [{ iface: 'eth1', address: '192.168.5.1', prefix: 24 }, { iface: 'eth2', address: '172.20.0.1', prefix: 16 }];
    expect(attributeDatagram(active, 7000, '10.0.0.2', ifaces)).toBe('ucast eth0 10.0.0.2');
    expect(attributeDatagram(active, 7000, '192.168.5.2', ifaces)).toBe('bcast eth1');
    expect(attributeDatagram(active, 7001, '172.20.9.9', ifaces)).toBe('mcast eth2 239.0.0.9');
    expect(attributeDatagram(active, 7001, '8.8.8.8', ifaces)).toBe('mcast eth2 239.0.0.9'); // only medium on that port
    expect(attributeDatagram(active, 7000, '8.8.8.8', ifaces)).toBeNull();
  });

  it.each([['10.1.2.3', 24, '10.1.2.255'], ['10.1.2.3', 16, '10.1.255.255'], ['192.168.0.130', 25, '192.168.0.255'], ['10.0.0.1', 32, '10.0.0.1']])(
    'broadcast of %s/%i is %s', (a, p, b) => expect(broadcastOf(a, p)).toBe(b));
});

describe('STONITH command', () => {
  it('keeps the last stonith_host line for * or this node, resolves a relative command in the ha dir', () => {
    const haCf = unwrap(parseHaCf(BASE + 'ucast eth0 10.0.0.2\nstonith_host node2 /bin/false\nstonith_host * fence.sh --hard\nstonith_host node1 /usr/sbin/fence-node ipmi\n'));
    expect(planStonith(haCf.stonithHosts, 'node1', '/etc/ha.d')).toEqual({ command: '/usr/sbin/fence-node', params: ['ipmi'] });
    const p = planStonith(haCf.stonithHosts, 'node2', '/etc/ha.d')!;
    expect(stonithArgv(p, 'node1')).toEqual(['/etc/ha.d/fence.sh', '--hard', 'node1']);
    expect(planStonith([], 'node1', '/x')).toBeNull();
  });
});

describe('operational log and generation', () => {
  it('writes pm_logconv lines: syslog date, host, ERROR|WARN|info', () => {
    const d = new Date(2024, 2, 4, 9, 5, 7);
    expect(opsLine(d, 'node1', 'error', 'Start to fail-over.')).toBe('Mar  4 09:05:07 node1 ERROR: Start to fail-over.\n');
    expect(opsLine(d, 'node1', 'info', 'Resource x started. (rc=0)')).toBe('Mar  4 09:05:07 node1 info: Resource x started. (rc=0)\n');
    expect(opsLine(d, 'node2', 'warn', 'Node node1 is lost.')).toBe('Mar  4 09:05:07 node2 WARN: Node node1 is lost.\n');
  });

  it('bumps the generation by one per start, and seeds it from the clock without a previous one', () => {
    expect(parseGeneration('41\n')).toBe(41);
    expect(parseGeneration('garbage')).toBeNull();
    expect(nextGeneration(41, 0)).toBe(42);
    expect(nextGeneration(null, 1_700_000_000_123)).toBe(1_700_000_000);
  });
});
