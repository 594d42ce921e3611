// What ha.cf's logging lines ask for and where each message goes, from heartbeat's rules
// (config.c check_logd_usage; cluster-glue cl_log.c cl_direct_log: syslog and the debugfile get
// every message produced, the logfile all but debug ones; debug messages are produced only with
// `debug N` > 0 or -d, here --log-level debug), and heartbeat's line formats.
import { describe, expect, it } from 'vitest';
import { formatHaLine, formatHaSyslogMessage, haLogPlan, haLogTargets, haMinLevel } from '../../../src/cluster/ha-logging.js';
import { parseHaCf } from '../../../src/config/heartbeat/index.js';

const L = (p: Partial<{ logfile: string | null; debugfile: string | null; facility: string | null; useLogd: boolean }>) =>
  ({ logfile: null, debugfile: null, facility: null, useLogd: false, ...p });

describe('haLogPlan', () => {
  it.each([
    ['logfacility local0', L({ facility: 'local0' }), 0, { facility: 'local0', logfile: null, debugfile: null, debugLevel: 0 }],
    ['logfacility none with a logfile: no syslog', L({ facility: 'none', logfile: '/x' }), 0, { facility: null, logfile: '/x', debugfile: null, debugLevel: 0 }],
    ['use_logd yes without a facility: syslog as daemon (logd\'s default)', L({ useLogd: true }), 0, { facility: 'daemon', logfile: null, debugfile: null, debugLevel: 0 }],
    ['logfile only: no syslog', L({ logfile: '/var/log/ha-log' }), 0, { facility: null, logfile: '/var/log/ha-log', debugfile: null, debugLevel: 0 }],
    ['debugfile and debug 1', L({ debugfile: '/var/log/ha-debug' }), 1, { facility: null, logfile: null, debugfile: '/var/log/ha-debug', debugLevel: 1 }],
  ] as const)('%s', (_n, logging, debug, want) => expect(haLogPlan(logging, debug)).toEqual(want));

  it.each([
    // heartbeat: nothing given means use_logd yes ("No log entry found in ha.cf -- use logd")
    ['node a b\n', 'daemon'],
    ['node a b\nlogfacility none\n', 'daemon'],
    ['node a b\nlogfacility local1\nlogfile /l\n', 'local1'],
    ['node a b\nlogfile /l\n', null],
    ['node a b\nlogfile /l\nuse_logd yes\n', 'daemon'],
    ['node a b\nlogfacility local2\nuse_logd no\n', 'local2'],
  ])('ha.cf %j logs to syslog facility %s', (text, facility) => {
    const r = parseHaCf(`keepalive 1\ndeadtime 10\nucast eth0 10.0.0.2\n${text}`);
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('\n'));
    expect(haLogPlan(r.value.logging, r.value.debug).facility).toBe(facility);
  });
});

describe('haLogTargets', () => {
  const all = { facility: 'local0', logfile: '/l', debugfile: '/d', debugLevel: 0 };
  const T = (stdout: boolean, syslog: boolean, logfile: boolean, debugfile: boolean) => ({ stdout, syslog, logfile, debugfile });
  it.each([
    ['info, debug 0, stdout at info: everywhere', all, 30, 30, T(true, true, true, true)],
    ['error, stdout at warn: everywhere', all, 40, 50, T(true, true, true, true)],
    ['info, stdout at warn: files and syslog only', all, 40, 30, T(false, true, true, true)],
    ['debug, debug 0, stdout at info: nowhere (not produced)', all, 30, 20, T(false, false, false, false)],
    ['debug, debug 1: syslog and debugfile, never the logfile', { ...all, debugLevel: 1 }, 30, 20, T(false, true, false, true)],
    ['debug, --log-level debug (heartbeat -d): also produced', all, 20, 20, T(true, true, false, true)],
    ['no facility: no syslog', { ...all, facility: null }, 30, 30, T(true, false, true, true)],
    ['no files', { ...all, logfile: null, debugfile: null }, 30, 50, T(true, true, false, false)],
  ] as const)('%s', (_n, plan, stdoutLevel, level, want) => expect(haLogTargets(plan, stdoutLevel, level)).toEqual(want));

  it('produces debug messages when ha.cf or the command line asks for them', () => {
    expect(haMinLevel({ ...all, debugLevel: 0 }, 30)).toBe(30);
    expect(haMinLevel({ ...all, debugLevel: 3 }, 30)).toBe(20);
    expect(haMinLevel({ ...all, debugLevel: 0 }, 10)).toBe(10);
  });
});

describe("heartbeat's formats", () => {
  it("file lines are `name[pid]: YYYY/MM/DD_HH:MM:SS level: msg`", () => {
    expect(formatHaLine('info', 'Link node2:eth0 up.', new Date(2026, 11, 4, 4, 5, 6), 123)).toBe('tandem-hb[123]: 2026/12/04_04:05:06 info: Link node2:eth0 up.');
  });
  it('syslog messages are `[pid]: level: msg` after the tag', () => {
    expect(formatHaSyslogMessage('WARN', 'Late heartbeat', 77)).toBe('[77]: WARN: Late heartbeat');
  });
});
