// A TCP port on 127.0.0.1 for a daemon or PeerLink that a test starts a moment later. Ports come
// from below the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768-60999 by default):
// a port handed out by listen(0) lies inside it, and any outgoing connection of the machine may be
// given it as its source port before the test binds it (EADDRINUSE, seen on Node 24 runs).
import fs from 'node:fs';
import net from 'node:net';

function ephemeralLow(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

const LOW = 10_000;
const HIGH = Math.max(LOW + 1000, ephemeralLow()); // exclusive
// each test worker starts at its own place so parallel files rarely try the same ports
let next = LOW + ((process.pid * 7919) % (HIGH - LOW));

function tryListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let i = 0; i < HIGH - LOW; i++) {
    const port = next;
    next = next + 1 >= HIGH ? LOW : next + 1;
    if (await tryListen(port)) return port;
  }
  throw new Error(`no free TCP port on 127.0.0.1 in ${LOW}-${HIGH - 1}`);
}
