// The syslog datagram as glibc's syslog(3) writes it to /dev/log (RFC 3164 without a host name),
// and the sender: real datagrams to a socket this test binds, a syslog that is missing and comes
// back, and a full socket (a fake that answers EAGAIN) that queues, keeps the order and drops
// beyond MAX_QUEUED with heartbeat's "N messages were dropped".
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatRfc3164, MAX_DATAGRAM, MAX_QUEUED, rfc3164Time, SyslogSender, type UnixDgramSocket } from '../../../src/logging/syslog.js';
import { teeMessage } from '../../../src/logging/syslog-tee.js';
import { SyslogListener } from '../../helpers/syslog-listener.js';
import { waitFor } from '../../helpers/hb-pair.js';

const T = new Date(2026, 11, 4, 4, 5, 6); // local time, as syslog(3) writes it

describe('formatRfc3164', () => {
  it.each([
    // PRI = facility * 8 + severity (<sys/syslog.h>)
    ['local0', 'info', '<134>'],
    ['local0', 'debug', '<135>'],
    ['daemon', 'err', '<27>'],
    ['daemon', 'warning', '<28>'],
    ['local7', 'crit', '<186>'],
    ['kern', 'emerg', '<0>'],
    ['user', 'notice', '<13>'],
    ['authpriv', 'info', '<86>'],
  ] as const)('%s.%s is %s', (fac, sev, pri) => {
    expect(formatRfc3164(fac, sev, T, 'tandem-hb', 'x').toString()).toBe(`${pri}Dec  4 04:05:06 tandem-hb: x`);
  });

  it("pads a one-digit day with a blank (%e) and a two-digit one not", () => {
    expect(rfc3164Time(new Date(2026, 0, 9, 1, 2, 3))).toBe('Jan  9 01:02:03');
    expect(rfc3164Time(new Date(2026, 9, 19, 23, 59, 59))).toBe('Oct 19 23:59:59');
  });

  it('keeps a message on one line and cuts an over-long one', () => {
    expect(formatRfc3164('daemon', 'info', T, 'tandemd[7]', 'a\nb\r\nc').toString()).toBe('<30>Dec  4 04:05:06 tandemd[7]: a b c');
    expect(formatRfc3164('daemon', 'info', T, 't', 'x'.repeat(20_000)).length).toBe(MAX_DATAGRAM);
  });

  it('refuses a name that is no facility', () => {
    expect(() => formatRfc3164('none', 'info', T, 't', 'x')).toThrow(/not a syslog facility/);
  });
});

describe("tandemd's syslog messages (teeMessage)", () => {
  it.each([
    ['info with a resource', { level: 30, msg: 'attached', resource: 'r0' }, { severity: 'info', text: 'r0: attached' }],
    ['a warning without one', { level: 40, msg: 'slow' }, { severity: 'warning', text: 'slow' }],
    ['an error', { level: 50, msg: 'bad', resource: 'r1' }, { severity: 'err', text: 'r1: bad' }],
    ['fatal is crit', { level: 60, msg: 'gone' }, { severity: 'crit', text: 'gone' }],
    ['debug stays out', { level: 20, msg: 'noise' }, null],
  ] as const)('%s', (_n, rec, want) => expect(teeMessage(rec)).toEqual(want));
});

describe('SyslogSender on a real unix datagram socket', () => {
  let dir: string;
  let listener: SyslogListener | null = null;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-syslog-')); });
  afterEach(() => {
    listener?.stop();
    listener = null;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('delivers each datagram as sent, in order', async () => {
    listener = await SyslogListener.start(dir);
    const s = new SyslogSender(listener.socket);
    for (let i = 0; i < 50; i++) s.send(formatRfc3164('local3', 'info', T, 'tandemd[1]', `line ${i}`));
    await waitFor(() => listener!.messages().length === 50, 5000, '50 datagrams');
    expect(listener.messages()[0]).toBe('<158>Dec  4 04:05:06 tandemd[1]: line 0');
    expect(listener.messages().map((m) => m.replace(/.*line /, ''))).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    s.close();
  });

  it('loses lines while no syslog listens, says so once, and finds it again', async () => {
    const socket = path.join(dir, 'later.sock');
    const trouble: string[] = [];
    const s = new SyslogSender(socket, (m) => trouble.push(m));
    s.send(Buffer.from('<30>lost 1'));
    s.send(Buffer.from('<30>lost 2'));
    expect(trouble).toEqual([`syslog: cannot send to ${socket} (ENOENT); lines meant for syslog are lost until it works again`]);
    listener = await SyslogListener.start(dir, 'later.sock');
    s.send(Buffer.from('<30>found'));
    await waitFor(() => listener!.messages().length === 1, 5000, 'the datagram after the syslog came');
    expect(listener.messages()).toEqual(['<30>found']);
    expect(trouble[1]).toBe(`syslog: ${socket} works again`);
    s.close();
  });
});

/** a socket whose queue is full until `room` is set */
class FullSocket implements UnixDgramSocket {
  room = false;
  sent: string[] = [];
  sendTo(buf: Uint8Array): number {
    if (!this.room) return -11; // EAGAIN
    this.sent.push(Buffer.from(buf).toString());
    return 0;
  }
  close(): void {}
}

describe('SyslogSender without a socket', () => {
  it('says once that no socket could be made and never throws', () => {
    const trouble: string[] = [];
    const s = new SyslogSender('/x', (m) => trouble.push(m), () => { throw new Error('socket(AF_UNIX, SOCK_DGRAM): Too many open files'); });
    expect(() => { s.send(Buffer.from('a')); s.send(Buffer.from('b')); }).not.toThrow();
    expect(trouble).toEqual(['syslog: cannot open a unix datagram socket (socket(AF_UNIX, SOCK_DGRAM): Too many open files); lines meant for syslog are lost']);
    expect(s.pending).toBe(0);
  });
});

describe('SyslogSender when the syslog daemon falls behind (EAGAIN)', () => {
  beforeEach(() => { vi.useFakeTimers(); });
  afterEach(() => { vi.useRealTimers(); });

  it('queues in order, drops beyond the queue, and reports how many were dropped once it drains', () => {
    const sock = new FullSocket();
    const trouble: string[] = [];
    const s = new SyslogSender('/fake', (m) => trouble.push(m), () => sock);
    for (let i = 0; i < MAX_QUEUED + 5; i++) s.send(Buffer.from(`m${i}`));
    expect(s.pending).toBe(MAX_QUEUED);
    expect(sock.sent).toEqual([]);
    vi.advanceTimersByTime(200);
    expect(sock.sent).toEqual([]); // still full: nothing lost from the queue
    sock.room = true;
    vi.advanceTimersByTime(60);
    expect(sock.sent).toHaveLength(MAX_QUEUED);
    expect(sock.sent.slice(0, 3)).toEqual(['m0', 'm1', 'm2']);
    expect(sock.sent.at(-1)).toBe(`m${MAX_QUEUED - 1}`);
    expect(trouble).toEqual(['syslog: 5 messages were dropped']);
    s.send(Buffer.from('after'));
    expect(sock.sent.at(-1)).toBe('after');
  });
});
