// What ha.cf's logging lines ask for (heartbeat's rules) and heartbeat's log line format.
import { describe, expect, it } from 'vitest';
import { formatHaLine, haLogPlan } from '../../../src/cluster/ha-logging.js';

const L = (p: Partial<{ logfile: string | null; debugfile: string | null; facility: string | null; useLogd: boolean }>) =>
  ({ logfile: null, debugfile: null, facility: null, useLogd: false, ...p });

describe('haLogPlan', () => {
  it.each([
    ['logfacility local0', L({ facility: 'local0' }), 0, { facility: 'local0', debugfile: null, debug: false }],
    ['logfacility none: no syslog', L({ facility: 'none', logfile: '/x' }), 0, { facility: null, debugfile: null, debug: false }],
    ['use_logd yes without a facility: syslog as daemon', L({ useLogd: true }), 0, { facility: 'daemon', debugfile: null, debug: false }],
    ['logfile only: no syslog', L({ logfile: '/var/log/ha-log' }), 0, { facility: null, debugfile: null, debug: false }],
    ['debugfile and debug 1', L({ debugfile: '/var/log/ha-debug' }), 1, { facility: null, debugfile: '/var/log/ha-debug', debug: true }],
  ] as const)('%s', (_n, logging, debug, want) => expect(haLogPlan(logging, debug)).toEqual(want));
});

describe('formatHaLine', () => {
  it("is heartbeat's `name[pid]: YYYY/MM/DD_HH:MM:SS level: msg`", () => {
    expect(formatHaLine('info', 'Link node2:eth0 up.', new Date(2026, 11, 4, 4, 5, 6), 123)).toBe('tandem-hb[123]: 2026/12/04_04:05:06 info: Link node2:eth0 up.');
  });
});
