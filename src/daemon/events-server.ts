// <run-dir>/events.sock, what `tandemadm events` reads: each listener first gets the `exists`
// lines of every resource and `exists -`, then the `change` lines of every state change as it
// happens (events2.ts), until it hangs up. Listeners only read; nothing they send is parsed.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { changeLines, existsLines, viewOf, type EventView } from './events2.js';
import type { ResourceStatus } from './status-types.js';

export function eventsSocketPath(runDir: string): string {
  return path.join(runDir, 'events.sock');
}

export class EventsServer {
  private readonly clients = new Set<net.Socket>();
  private readonly last = new Map<string, EventView>();
  private server: net.Server | null = null;

  constructor(private readonly socketPath: string, private readonly snapshot: () => ResourceStatus[]) {}

  async listen(): Promise<void> {
    try {
      if (fs.lstatSync(this.socketPath).isSocket()) fs.unlinkSync(this.socketPath);
    } catch {
      /* absent */
    }
    const server = net.createServer((sock) => {
      sock.on('error', () => sock.destroy());
      sock.on('close', () => this.clients.delete(sock));
      sock.on('data', () => undefined);
      const lines: string[] = [];
      for (const s of this.snapshot()) {
        lines.push(...existsLines(s));
        this.last.set(s.name, viewOf(s));
      }
      sock.write(`${[...lines, 'exists -'].join('\n')}\n`);
      this.clients.add(sock);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        fs.chmodSync(this.socketPath, 0o600);
        resolve();
      });
    });
  }

  /** A state changed somewhere: send what changed to every listener. */
  publish(): void {
    // a listener that connects later starts from its own exists lines (and resets `last`)
    if (this.clients.size === 0) return;
    const lines: string[] = [];
    for (const s of this.snapshot()) {
      const before = this.last.get(s.name);
      if (before) lines.push(...changeLines(s, before));
      this.last.set(s.name, viewOf(s));
    }
    if (lines.length === 0) return;
    const text = `${lines.join('\n')}\n`;
    for (const c of this.clients) if (!c.destroyed) c.write(text);
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.end();
    this.clients.clear();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
    fs.rmSync(this.socketPath, { force: true });
  }
}
