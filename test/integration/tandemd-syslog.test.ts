// tandemd --syslog FACILITY (here through TANDEM_SYSLOG): its messages reach the syslog socket in
// RFC 3164 as syslog(3) with LOG_PID writes them (`tandemd[PID]: r0: attached`), with that
// facility and the level as the severity, the resource named first. The socket is the test's own
// (TANDEM_SYSLOG_SOCKET), never the machine's /dev/log.
import { afterEach, describe, expect, it } from 'vitest';
import { Pair, waitFor } from '../helpers/two-nodes.js';
import { SyslogListener } from '../helpers/syslog-listener.js';

let pair: Pair | null = null;
let syslog: SyslogListener | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
  syslog?.stop();
  syslog = null;
});

describe('tandemd --syslog', () => {
  it('sends info and above to syslog with the facility, naming the resource', async () => {
    pair = await Pair.create({ sizeMiB: 8 });
    syslog = await SyslogListener.start(pair.dir);
    pair.env = { TANDEM_SYSLOG: 'local3', TANDEM_SYSLOG_SOCKET: syslog.socket };
    await pair.createMd();
    await pair.node1.start();
    await pair.node1.admOk('up', 'r0');
    // local3 = 19: info is <158>
    await waitFor(() => /^<158>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d tandemd\[\d+\]: r0: attached$/m.test(syslog!.text()), 10_000, "the 'attached' line on the syslog socket");
    // debug (severity 7: <159>) stays out
    expect(syslog.text()).not.toMatch(/^<159>/m);
  });
});
