// `tandemadm events [RES|all] [--now] [--timestamps]`: drbdsetup events2's stream from tandemd's
// events socket. Without --now it follows until interrupted; with --now it prints the current
// state (the `exists` lines) and exits.
import net from 'node:net';
import readline from 'node:readline';
import { eventsSocketPath } from '../daemon/events-server.js';

export interface EventsOptions {
  runDir: string;
  resource: string;
  now: boolean;
  timestamps: boolean;
  out?: NodeJS.WritableStream;
}

/** Resolves when the stream ends (--now: after `exists -`); rejects when tandemd is not running. */
export function followEvents(o: EventsOptions): Promise<void> {
  const out = o.out ?? process.stdout;
  const wanted = (line: string): boolean => o.resource === 'all' || line === 'exists -' || line.includes(` name:${o.resource} `);
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(eventsSocketPath(o.runDir));
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') reject(new Error(`tandemd is not running (no events socket at ${eventsSocketPath(o.runDir)})`));
      else reject(err);
    });
    // readline re-emits socket errors as its own: only read once connected
    sock.once('connect', () => {
      const rl = readline.createInterface({ input: sock });
      rl.on('error', () => undefined);
      rl.on('line', (line) => {
        if (!wanted(line)) return;
        out.write(`${o.timestamps ? `${new Date().toISOString()} ` : ''}${line}\n`);
        if (o.now && line === 'exists -') sock.end();
      });
      rl.on('close', () => resolve());
    });
  });
}
