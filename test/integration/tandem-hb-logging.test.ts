// ha.cf's logging on real tandem-hb processes, as heartbeat logs: `logfacility local0` puts
// messages on the syslog socket in RFC 3164 as syslog(3) writes them (`tandem-hb: [PID]: info: …`,
// heartbeat's `heartbeat: [PID]: info: …`), `debug 1` lets debug messages through, `debugfile`
// gets every message and `logfile` every message but debug ones, in heartbeat's line format.
// The syslog socket is one this test listens on (TANDEM_SYSLOG_SOCKET), never /dev/log.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HbPair, waitFor } from '../helpers/hb-pair.js';
import { SyslogListener } from '../helpers/syslog-listener.js';

let pair: HbPair | null = null;
let syslog: SyslogListener | null = null;
let syslogDir: string | null = null;
afterEach(async () => {
  await pair?.cleanup();
  pair = null;
  syslog?.stop();
  syslog = null;
  if (syslogDir) fs.rmSync(syslogDir, { recursive: true, force: true });
  syslogDir = null;
});

async function pairWithSyslog(haCf: (dir: string) => string): Promise<{ pair: HbPair; syslog: SyslogListener }> {
  const dir = (syslogDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-hb-syslog-')));
  syslog = await SyslogListener.start(dir);
  pair = new HbPair({ logLevel: 'info', env: { TANDEM_SYSLOG_SOCKET: syslog.socket } });
  (pair.opts as { haCf?: string }).haCf = haCf(pair.dir);
  await pair.setup();
  await pair.startBoth();
  return { pair, syslog };
}

describe('tandem-hb logging (ha.cf logfacility, debug, debugfile, logfile)', () => {
  it('logfacility local0 + debug 1: info and debug lines on the syslog socket, debugfile with both, logfile without debug', async () => {
    const { pair: p, syslog: s } = await pairWithSyslog((d) => `logfacility local0\ndebug 1\ndebugfile ${path.join(d, 'ha-debug')}\n`);
    const pid1 = p.nodes.node1.proc!.pid!;
    // local0 = 16: info is <134>, debug <135>; syslog(3)'s `Mmm dd hh:mm:ss TAG: MSG`, heartbeat's `[PID]: level: `
    const info = new RegExp(`^<134>[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d tandem-hb: \\[${pid1}\\]: info: Resource group rec::a started on node1\\.$`, 'm');
    await waitFor(() => info.test(s.text()), 10_000, "node1's 'started' line on the syslog socket");
    await waitFor(() => new RegExp(`^<135>.* tandem-hb: \\[${pid1}\\]: debug: `, 'm').test(s.text()), 10_000, 'a debug line on the syslog socket');
    const dbg = fs.readFileSync(path.join(p.dir, 'ha-debug'), 'utf8');
    expect(dbg).toMatch(/^tandem-hb\[\d+\]: \d{4}\/\d\d\/\d\d_\d\d:\d\d:\d\d debug: /m);
    expect(dbg).toMatch(new RegExp(`^tandem-hb\\[${pid1}\\]: \\d{4}/\\d\\d/\\d\\d_\\d\\d:\\d\\d:\\d\\d info: Resource group rec::a started on node1\\.$`, 'm'));
    const log = fs.readFileSync(path.join(p.dir, 'ha-log'), 'utf8');
    expect(log).toMatch(new RegExp(`^tandem-hb\\[${pid1}\\]: \\S+ info: Resource group rec::a started on node1\\.$`, 'm'));
    expect(log).not.toMatch(/ debug: /);
  });

  it('without debug, no debug line is produced anywhere (stdout at info)', async () => {
    const { pair: p, syslog: s } = await pairWithSyslog((d) => `logfacility local0\ndebugfile ${path.join(d, 'ha-debug')}\n`);
    await waitFor(() => /tandem-hb: \[\d+\]: info: Resource group rec::c started on node2\./.test(s.text()), 10_000, "node2's 'started' line on the syslog socket");
    // a standby after the start makes more lines; still none at debug
    expect((await p.nodes.node2.cli('standby')).code).toBe(0);
    await waitFor(() => p.nodes.node1.running('c'), 10_000, 'rec::c to move to node1');
    await waitFor(() => /info: Resource group rec::c started on node1\./.test(s.text()), 10_000, 'the move in syslog');
    expect(s.text()).not.toMatch(/^<135>/m);
    expect(fs.readFileSync(path.join(p.dir, 'ha-debug'), 'utf8')).not.toMatch(/ debug: /);
  });
});
