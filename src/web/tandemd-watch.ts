// tandem-hb's view of the local tandemd for the status page: it follows tandemd's events socket
// (what `tandemadm events` reads) and re-reads `status --json` over the control socket at every
// change line, and once a second for the counters and the resync progress that change lines do
// not carry. When tandemd is not running the page says so and the watch retries.
import net from 'node:net';
import readline from 'node:readline';
import { controlSocketPath, sendControl } from '../daemon/control-protocol.js';
import { eventsSocketPath } from '../daemon/events-server.js';
import type { ResourceStatus } from '../daemon/status-types.js';
import type { TandemdState } from './page-model.js';

export interface TandemdWatchOptions {
  runDir: string;
  /** the state shown changed */
  onChange: () => void;
  /** an events2 `change` line, as tandemd sent it */
  onEvent: (line: string) => void;
  pollMs?: number;
  retryMs?: number;
}

export class TandemdWatch {
  state: TandemdState = { ok: false, error: 'not read yet' };
  private sock: net.Socket | null = null;
  private timers: NodeJS.Timeout[] = [];
  private retry: NodeJS.Timeout | null = null;
  private reading = false;
  private again = false;
  private stopped = false;
  private lastJson = '';

  constructor(private readonly o: TandemdWatchOptions) {}

  start(): void {
    this.follow();
    this.timers.push(setInterval(() => void this.refresh(), this.o.pollMs ?? 1000));
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.retry) clearTimeout(this.retry);
    this.sock?.destroy();
  }

  private follow(): void {
    if (this.stopped) return;
    const sock = net.createConnection(eventsSocketPath(this.o.runDir));
    this.sock = sock;
    const again = () => {
      if (this.sock !== sock || this.stopped) return;
      this.sock = null;
      this.retry = setTimeout(() => this.follow(), this.o.retryMs ?? 2000);
      void this.refresh();
    };
    sock.once('error', () => sock.destroy());
    sock.once('close', again);
    sock.once('connect', () => {
      const rl = readline.createInterface({ input: sock });
      rl.on('error', () => undefined);
      rl.on('line', (line) => {
        if (line.startsWith('change ')) this.o.onEvent(line);
        if (line.startsWith('change ') || line === 'exists -') void this.refresh();
      });
    });
  }

  /** Reads every resource's status; overlapping calls collapse into one more read. */
  async refresh(): Promise<void> {
    if (this.reading) { this.again = true; return; }
    this.reading = true;
    try {
      do {
        this.again = false;
        this.set(await this.read());
      } while (this.again && !this.stopped);
    } finally {
      this.reading = false;
    }
  }

  private async read(): Promise<TandemdState> {
    try {
      const r = await sendControl(controlSocketPath(this.o.runDir), { cmd: 'status', resource: 'all' });
      if (!r.ok) return { ok: false, error: r.message ?? 'tandemd refused the status request' };
      const data = (r.data ?? {}) as Record<string, ResourceStatus>;
      return { ok: true, resources: Object.values(data).sort((a, b) => a.minor - b.minor) };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  }

  private set(s: TandemdState): void {
    if (this.stopped) return;
    const json = JSON.stringify(s);
    this.state = s;
    if (json === this.lastJson) return;
    this.lastJson = json;
    this.o.onChange();
  }
}
