// The status page's parts joined for tandem-hb: the event list, the watch on the local tandemd,
// the HTTP server, and the actions (in-process requests to the runner for standby/takeover,
// tandemd's control socket for primary/secondary). Every action is written to the operational
// log with the user who asked for it.
import type { Logger } from 'pino';
import type client from 'prom-client';
import type { HbRequest, HbResponse } from '../cluster/hb-control.js';
import type { LogLevel } from '../cluster/membership.js';
import type { HbStatusSnapshot } from '../cluster/status-text.js';
import { controlSocketPath, sendControl } from '../daemon/control-protocol.js';
import type { ListenAddress } from '../net/metrics-server.js';
import { describeAction, type WebAction } from './actions.js';
import { EventLog } from './event-log.js';
import type { WebUsers } from './htpasswd.js';
import { pageModel, type PageModel } from './page-model.js';
import { StatusServer, type ActionResult } from './status-server.js';
import { TandemdWatch } from './tandemd-watch.js';

export interface WebStatusOptions {
  address: ListenAddress;
  users: WebUsers | null;
  /** tandemd's run dir: its events and control sockets */
  tandemdRunDir: string;
  snapshot: () => HbStatusSnapshot;
  request: (req: HbRequest) => Promise<HbResponse>;
  /** the operational log (ops-log.ts) */
  ops: (level: LogLevel, msg: string) => void;
  metrics?: client.Registry;
  logger: Logger;
  assetsDir?: string;
}

/** how often open pages hear from the server when nothing changes (app.js gives up after 3 silent ticks) */
export const TICK_MS = 2000;

const levelOf = (l: LogLevel): 'info' | 'warn' | 'error' => (l === 'fatal' || l === 'error' ? 'error' : l === 'warn' ? 'warn' : 'info');

export class WebStatus {
  readonly events = new EventLog();
  readonly server: StatusServer;
  private readonly watch: TandemdWatch;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly o: WebStatusOptions) {
    this.watch = new TandemdWatch({
      runDir: o.tandemdRunDir,
      onChange: () => this.server.publish(),
      onEvent: (line) => this.events.push({ atMs: Date.now(), source: 'tandemd', level: /StandAlone|Diskless|Failed|suspended:(?!no)/.test(line) ? 'warn' : 'info', text: line.replace(/^change /, '') }),
    });
    this.server = new StatusServer({
      address: o.address,
      users: o.users,
      model: () => this.model(),
      act: (a, user) => this.act(a, user),
      metrics: o.metrics,
      assetsDir: o.assetsDir,
    });
    this.events.onPush(() => this.server.publish());
  }

  model(): PageModel {
    return pageModel(this.o.snapshot(), this.watch.state, this.events.list(), this.o.users !== null);
  }

  /** an operational log line of tandem-hb, for the event list */
  opsLine(level: LogLevel, msg: string): void {
    if (level === 'debug') return;
    this.events.push({ atMs: Date.now(), source: 'tandem-hb', level: levelOf(level), text: msg });
  }

  async start(): Promise<void> {
    await this.server.listen();
    this.watch.start();
    // membership and group changes have no callback of their own: compare the model a few times
    // a second (publish sends nothing when it did not change)
    this.timers.push(setInterval(() => this.server.publish(), 200));
    this.timers.push(setInterval(() => this.server.tick(), TICK_MS));
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.watch.stop();
    await this.server.close();
  }

  private async act(a: WebAction, user: string): Promise<ActionResult> {
    const what = describeAction(a, this.o.snapshot().self);
    this.o.ops('info', `Operator ${user} (status page) asked for ${what}.`);
    this.o.logger.info({ user, action: a }, `status page action: ${what}`);
    let r: ActionResult;
    if (a.action === 'standby' || a.action === 'takeover') {
      const res = await this.o.request({ cmd: a.action, scope: 'all' });
      r = { ok: res.ok, message: res.ok ? `${what}: done` : res.message ?? 'refused', log: res.log };
    } else {
      try {
        const res = await sendControl(controlSocketPath(this.o.tandemdRunDir), { cmd: a.action, resource: a.resource });
        r = { ok: res.ok, message: res.ok ? `${what}: done` : res.message ?? 'refused' };
      } catch (e) {
        r = { ok: false, message: (e as Error).message };
      }
      void this.watch.refresh();
    }
    if (!r.ok) this.o.ops('warn', `Operator ${user} (status page): ${what} refused: ${r.message}`);
    return r;
  }
}
