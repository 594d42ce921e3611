// ha.cf's logging on real tandem-hb processes: `logfacility local0` puts messages on the syslog
// socket in RFC 3164 with that facility, `debug 1` lets debug messages through too, `debugfile`
// gets every message in heartbeat's line format. The syslog socket is one this test listens on
// (TANDEM_SYSLOG_SOCKET), never the machine's /dev/log.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { HbPair, waitFor } from '../helpers/hb-pair.js';
import { SyslogListener } from '../helpers/syslog-listener.js';

let pair: HbPair | null = null;
let syslog: SyslogListener | null = null;
afterEach(async () => {
  await pair?.cleanup();
  pair = null;
  syslog?.stop();
  syslog = null;
  delete process.env.TANDEM_SYSLOG_SOCKET;
});

describe('tandem-hb logging (ha.cf logfacility, debug, debugfile)', () => {
  it('sends to syslog with the facility, debug lines with debug 1, and everything to the debugfile', async () => {
    pair = new HbPair({});
    const debugfile = path.join(pair.dir, 'ha-debug');
    syslog = await SyslogListener.start(pair.dir);
    process.env.TANDEM_SYSLOG_SOCKET = syslog.socket;
    (pair.opts as { haCf?: string }).haCf = `logfacility local0\ndebug 1\ndebugfile ${debugfile}\n`;
    await pair.setup();
    await pair.startBoth();
    const read = () => syslog!.text();
    // local0 = 16: info is <134>, debug <135>; logger(1) writes RFC 3164 with our tag and PID
    await waitFor(() => /^<134>.*tandem-hb\[\d+\]: info: /m.test(read()), 10_000, 'an info line on the syslog socket');
    await waitFor(() => /^<135>.*tandem-hb\[\d+\]: debug: /m.test(read()), 10_000, 'a debug line on the syslog socket');
    expect(read()).toMatch(/<134>.*tandem-hb\[\d+\]: info: logging to syslog \(local0\) and /);
    const dbg = fs.readFileSync(debugfile, 'utf8');
    expect(dbg).toMatch(/^tandem-hb\[\d+\]: \d{4}\/\d\d\/\d\d_\d\d:\d\d:\d\d debug: /m);
    expect(dbg).toMatch(/^tandem-hb\[\d+\]: \d{4}\/\d\d\/\d\d_\d\d:\d\d:\d\d info: /m);
  });
});
