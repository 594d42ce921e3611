// A TCP port on this host's 127.0.0.1 that reaches an address inside the lab, for a browser that
// runs here (the lab's bridge has no way out to the host). A relay in the client namespace listens
// on a unix socket, which both namespaces can open, and connects to the target; a listener here
// pipes each connection into that socket. Traffic stays on loopback and the lab's bridge.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { LAB_SH, LabProcess, LOG_DIR, waitFor } from './lab.js';

const RELAY = `const net = require('node:net'); const fs = require('node:fs');
const [sock, host, port] = process.argv.slice(1);
fs.rmSync(sock, { force: true });
net.createServer((c) => {
  const u = net.connect(Number(port), host);
  c.pipe(u).pipe(c);
  u.on('error', () => c.destroy()); c.on('error', () => u.destroy());
}).listen(sock, () => console.log('ready'));`;

export interface Forward {
  port: number;
  close(): Promise<void>;
}

let seq = 0;

export async function forwardIntoLab(host: string, port: number): Promise<Forward> {
  const sock = path.join(os.tmpdir(), `tandem-lab-fwd-${process.pid}-${seq++}.sock`);
  const proc = spawn('bash', [LAB_SH, 'exec', 'client', process.execPath, '-e', RELAY, sock, host, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const relay = new LabProcess(`relay to ${host}:${port}`, proc, path.join(LOG_DIR, `relay-${host}-${port}.log`));
  let ready = false;
  readline.createInterface({ input: proc.stdout! }).on('line', (l) => { if (l === 'ready') ready = true; });
  await waitFor(() => {
    if (!relay.running) throw new Error(`the relay to ${host}:${port} exited (${relay.exitCode})`);
    return ready;
  }, 10_000, `the relay to ${host}:${port} in the client namespace`);
  const open = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const u = net.connect(sock);
    open.add(c).add(u);
    c.on('close', () => open.delete(c));
    u.on('close', () => open.delete(u));
    c.pipe(u).pipe(c);
    u.on('error', () => c.destroy());
    c.on('error', () => u.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const c of open) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await relay.stop(2000);
      fs.rmSync(sock, { force: true });
    },
  };
}
