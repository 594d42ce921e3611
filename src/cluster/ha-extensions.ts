// Tandem's own ha.cf directives, all named `tandem_*` so they never clash with heartbeat's and a
// real heartbeat would only warn about them. Every one is optional; without them Tandem behaves
// like heartbeat v1.
//
//   tandem_config FILE             tandem.conf passed to tandemadm by the tandemdisk/drbddisk agent
//                                  (else tandemadm's default, env TANDEM_CONFIG is not read by it)
//   tandem_run_dir DIR             tandemd's run dir passed to tandemadm (else env TANDEM_RUN_DIR, then /run/tandem)
//   tandem_timeout ACTION TIME     ACTION: start|stop|status|stonith; defaults 120s, 120s, 30s, 60s
//   tandem_stop_retries N [DELAY]  retries of a failed stop before the group is FAILED (heartbeat: 10, 1 s apart)
//   tandem_stonith_retry TIME      delay between STONITH attempts (heartbeat: 5 s)
//   tandem_monitor INTERVAL [MAX]  run each started resource's status every INTERVAL; a stopped one is
//                                  restarted in place up to MAX times (default 3), then the group moves
//   tandem_isolation on|off        release the groups while all of this node's cluster links are down (default on)
//   tandem_metrics ADDR            serve Prometheus metrics at http://ADDR/metrics (PORT = 127.0.0.1:PORT; off by default)
//   tandem_web ADDR                serve the live status page at http://ADDR/ (PORT = 127.0.0.1:PORT; off by default)
//   tandem_web_auth FILE           enable the page's actions for the users of FILE (htpasswd -B format, mode 0600)
//
// TIME is heartbeat's syntax: seconds, or NNNms.

import { HaConfigError, type HaParseResult, type HaDiagnostic, warning } from '../config/heartbeat/errors.js';
import type { HaCf, HaExtension } from '../config/heartbeat/ha-cf.js';
import { parseHbBoolean, parseHbTime } from '../config/heartbeat/index.js';
import { parseListenAddress, type ListenAddress } from '../net/metrics-server.js';

export type AgentAction = 'start' | 'stop' | 'status';

export interface HbExtensions {
  tandemConfig: string | null;
  tandemRunDir: string | null;
  timeoutsMs: Record<AgentAction | 'stonith', number>;
  stopRetries: number;
  stopRetryMs: number;
  stonithRetryMs: number;
  monitor: { intervalMs: number; maxRestarts: number } | null;
  isolation: boolean;
  metrics: ListenAddress | null;
  /** the status page (src/web/); actions only with an htpasswd file */
  web: ListenAddress | null;
  webAuthFile: string | null;
}

export const DEFAULT_EXTENSIONS: HbExtensions = {
  tandemConfig: null,
  tandemRunDir: null,
  timeoutsMs: { start: 120_000, stop: 120_000, status: 30_000, stonith: 60_000 },
  stopRetries: 10,
  stopRetryMs: 1000,
  stonithRetryMs: 5000,
  monitor: null,
  isolation: true,
  metrics: null,
  web: null,
  webAuthFile: null,
};

export function parseHbExtensions(haCf: Pick<HaCf, 'file' | 'extensions'>): HaParseResult<HbExtensions> {
  const file = haCf.file;
  const errors: HaConfigError[] = [];
  const warnings: HaDiagnostic[] = [];
  const out: HbExtensions = { ...DEFAULT_EXTENSIONS, timeoutsMs: { ...DEFAULT_EXTENSIONS.timeoutsMs } };
  const err = (x: HaExtension['at'], reason: string) => errors.push(new HaConfigError(file, x.line, x.col, reason));
  const time = (e: HaExtension, i: number): number | null => {
    const t = e.args[i];
    if (!t) { err(e.at, `${e.name} needs a time value`); return null; }
    const v = parseHbTime(t.text);
    if (!v.ok) { err(t, `${e.name}: ${v.reason}`); return null; }
    if (v.ms <= 0) { err(t, `${e.name} must be more than 0`); return null; }
    return v.ms;
  };
  const count = (e: HaExtension, i: number, what: string): number | null => {
    const t = e.args[i];
    if (!t || !/^\d{1,4}$/.test(t.text)) { err(t ?? e.at, `${e.name} needs ${what} (a whole number)`); return null; }
    return Number(t.text);
  };
  const arity = (e: HaExtension, min: number, max: number, usage: string): boolean => {
    if (e.args.length < min || e.args.length > max) { err(e.args[max] ?? e.at, `usage: ${usage}`); return false; }
    return true;
  };

  for (const e of haCf.extensions) {
    switch (e.name) {
      case 'tandem_config':
      case 'tandem_run_dir': {
        if (!arity(e, 1, 1, `${e.name} PATH`)) break;
        const p = e.args[0]!.text;
        if (!p.startsWith('/')) { err(e.args[0]!, `${e.name}: '${p}' must be an absolute path`); break; }
        if (e.name === 'tandem_config') out.tandemConfig = p; else out.tandemRunDir = p;
        break;
      }
      case 'tandem_timeout': {
        if (!arity(e, 2, 2, 'tandem_timeout start|stop|status|stonith TIME')) break;
        const action = e.args[0]!.text;
        if (action !== 'start' && action !== 'stop' && action !== 'status' && action !== 'stonith') {
          err(e.args[0]!, `tandem_timeout: '${action}' is not start, stop, status or stonith`);
          break;
        }
        const ms = time(e, 1);
        if (ms !== null) out.timeoutsMs[action] = ms;
        break;
      }
      case 'tandem_stop_retries': {
        if (!arity(e, 1, 2, 'tandem_stop_retries N [DELAY]')) break;
        const n = count(e, 0, 'the number of retries');
        if (n !== null) out.stopRetries = n;
        if (e.args.length === 2) { const ms = time(e, 1); if (ms !== null) out.stopRetryMs = ms; }
        break;
      }
      case 'tandem_stonith_retry': {
        if (!arity(e, 1, 1, 'tandem_stonith_retry TIME')) break;
        const ms = time(e, 0);
        if (ms !== null) out.stonithRetryMs = ms;
        break;
      }
      case 'tandem_monitor': {
        if (!arity(e, 1, 2, 'tandem_monitor INTERVAL [MAX_RESTARTS]')) break;
        const ms = time(e, 0);
        const max = e.args.length === 2 ? count(e, 1, 'the most restarts in place') : 3;
        if (ms !== null && max !== null) out.monitor = { intervalMs: ms, maxRestarts: max };
        break;
      }
      case 'tandem_isolation': {
        if (!arity(e, 1, 1, 'tandem_isolation on|off')) break;
        const b = parseHbBoolean(e.args[0]!.text);
        if (b === null) { err(e.args[0]!, `tandem_isolation: '${e.args[0]!.text}' is not on or off`); break; }
        out.isolation = b;
        break;
      }
      case 'tandem_metrics':
      case 'tandem_web': {
        if (!arity(e, 1, 1, `${e.name} PORT|HOST:PORT|[IPV6]:PORT`)) break;
        try {
          const a = parseListenAddress(e.args[0]!.text, e.name === 'tandem_metrics' ? 'metrics' : 'web');
          if (e.name === 'tandem_metrics') out.metrics = a; else out.web = a;
        } catch (x) {
          err(e.args[0]!, `${e.name}: ${(x as Error).message}`);
        }
        break;
      }
      case 'tandem_web_auth': {
        if (!arity(e, 1, 1, 'tandem_web_auth FILE')) break;
        const p = e.args[0]!.text;
        if (!p.startsWith('/')) { err(e.args[0]!, `tandem_web_auth: '${p}' must be an absolute path`); break; }
        out.webAuthFile = p;
        break;
      }
      default:
        warnings.push(warning(file, e.at.line, e.at.col, `unknown Tandem directive '${e.name}' ignored`));
    }
  }
  const auth = haCf.extensions.find((e) => e.name === 'tandem_web_auth');
  if (auth && out.webAuthFile && !out.web) errors.push(new HaConfigError(file, auth.at.line, auth.at.col, 'tandem_web_auth needs tandem_web: there is no status page to enable actions on'));
  if (errors.length > 0) return { ok: false, errors, warnings };
  return { ok: true, value: out, warnings };
}
