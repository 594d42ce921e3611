// tandemd --syslog FACILITY (here through TANDEM_SYSLOG): its messages reach the syslog socket in
// RFC 3164 with that facility, the resource named first. The socket is the test's own
// (TANDEM_SYSLOG_SOCKET), never the machine's /dev/log.
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Pair, waitFor } from '../helpers/two-nodes.js';

let pair: Pair | null = null;
let listener: ChildProcess | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
  if (listener?.pid && listener.exitCode === null) process.kill(listener.pid, 'SIGKILL');
  listener = null;
});

const LISTEN = `import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], 'ab', buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b'\\n') + b'\\n')
`;

describe('tandemd --syslog', () => {
  it('sends info and above to syslog with the facility, naming the resource', async () => {
    pair = await Pair.create({ sizeMiB: 8 });
    const sock = path.join(pair.dir, 'log.sock');
    const got = path.join(pair.dir, 'syslog.txt');
    listener = spawn('python3', ['-c', LISTEN, sock, got], { stdio: 'ignore' });
    await waitFor(() => fs.existsSync(sock), 10_000, 'the test syslog socket');
    pair.env = { TANDEM_SYSLOG: 'local3', TANDEM_SYSLOG_SOCKET: sock };
    await pair.createMd();
    await pair.node1.start();
    await pair.node1.admOk('up', 'r0');
    const read = () => (fs.existsSync(got) ? fs.readFileSync(got, 'utf8') : '');
    // local3 = 19: info is <158>
    await waitFor(() => /^<158>.*tandemd\[\d+\]: info: r0: attached$/m.test(read()), 10_000, "the 'attached' line on the syslog socket");
    expect(read()).not.toMatch(/debug: /);
  });
});
