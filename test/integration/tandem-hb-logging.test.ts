// ha.cf's logging on real tandem-hb processes: `logfacility local0` puts messages on the syslog
// socket in RFC 3164 with that facility, `debug 1` lets debug messages through too, `debugfile`
// gets every message in heartbeat's line format. The syslog socket is one this test listens on
// (TANDEM_SYSLOG_SOCKET), never the machine's /dev/log.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HbPair, waitFor } from '../helpers/hb-pair.js';

let pair: HbPair | null = null;
let listener: ChildProcess | null = null;
afterEach(async () => {
  await pair?.cleanup();
  pair = null;
  if (listener?.pid && listener.exitCode === null) process.kill(listener.pid, 'SIGKILL');
  listener = null;
  delete process.env.TANDEM_SYSLOG_SOCKET;
});

// a unix datagram socket is what /dev/log is; Node has none, python3 (on every Debian) does
const LISTEN = `import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], 'ab', buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b'\\n') + b'\\n')
`;

describe('tandem-hb logging (ha.cf logfacility, debug, debugfile)', () => {
  it('sends to syslog with the facility, debug lines with debug 1, and everything to the debugfile', async () => {
    pair = new HbPair({});
    const sock = path.join(pair.dir, 'log.sock');
    const got = path.join(pair.dir, 'syslog.txt');
    const debugfile = path.join(pair.dir, 'ha-debug');
    listener = spawn('python3', ['-c', LISTEN, sock, got], { stdio: 'ignore' });
    await waitFor(() => fs.existsSync(sock), 10_000, 'the test syslog socket');
    process.env.TANDEM_SYSLOG_SOCKET = sock;
    (pair.opts as { haCf?: string }).haCf = `logfacility local0\ndebug 1\ndebugfile ${debugfile}\n`;
    await pair.setup();
    await pair.startBoth();
    const read = () => (fs.existsSync(got) ? fs.readFileSync(got, 'utf8') : '');
    // local0 = 16: info is <134>, debug <135>; logger(1) writes RFC 3164 with our tag and PID
    await waitFor(() => /^<134>.*tandem-hb\[\d+\]: info: /m.test(read()), 10_000, 'an info line on the syslog socket');
    await waitFor(() => /^<135>.*tandem-hb\[\d+\]: debug: /m.test(read()), 10_000, 'a debug line on the syslog socket');
    expect(read()).toMatch(/<134>.*tandem-hb\[\d+\]: info: logging to syslog \(local0\) and /);
    const dbg = fs.readFileSync(debugfile, 'utf8');
    expect(dbg).toMatch(/^tandem-hb\[\d+\]: \d{4}\/\d\d\/\d\d_\d\d:\d\d:\d\d debug: /m);
    expect(dbg).toMatch(/^tandem-hb\[\d+\]: \d{4}\/\d\d\/\d\d_\d\d:\d\d:\d\d info: /m);
  });
});
