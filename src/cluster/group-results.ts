// What the controller does with a resource agent's answer: the next resource of the group in
// start order (left to right) or stop order (right to left), a failed start rolled back, a failed
// stop retried and then FAILED (heartbeat's ResourceManager). Pure: it changes the group record
// and appends actions; the controller supplies what it knows through ResultContext.
import type { ControllerAction } from './controller-types.js';
import type { Group } from './group-record.js';
import type { LogLevel } from './membership.js';

export interface ResourceResult {
  group: string;
  index: number;
  op: 'start' | 'stop';
  ok: boolean;
  message?: string;
}

/** The controller's side of a result: its settings, the peer, and the steps it takes next. */
export interface ResultContext {
  readonly self: string;
  readonly peer: string | null;
  readonly peerUp: boolean;
  readonly stopRetries: number;
  readonly stopRetryMs: number;
  shouldRelease(g: Group): boolean;
  beginStop(g: Group, fromIndex: number, out: ControllerAction[]): void;
  issueStart(g: Group, out: ControllerAction[]): void;
  issueStop(g: Group, out: ControllerAction[]): void;
  checkFailoverDone(out: ControllerAction[]): void;
}

export function log(level: LogLevel, msg: string, fields: Record<string, unknown>): ControllerAction {
  return { type: 'log', level, msg, fields };
}

/** A start result for resource `e.index` of `g` (a start of it was out). */
export function onStartResult(c: ResultContext, g: Group, e: ResourceResult, out: ControllerAction[]): void {
  const r = g.def.resources[e.index]!;
  if (e.ok) {
    g.resources[e.index] = 'started';
    out.push(log('info', `Resource ${r.text} started. (rc=0)`, { group: g.key, resource: r.text }));
    if (c.shouldRelease(g)) return c.beginStop(g, e.index, out);
    if (e.index + 1 < g.def.resources.length) { g.index = e.index + 1; return c.issueStart(g, out); }
    g.local = 'started';
    g.claim = 'none';
    g.forced = false;
    g.failbackArmed = false;
    out.push(log('info', `Resource group ${g.key} started on ${c.self}.`, { group: g.key, transition: 'started' }));
    c.checkFailoverDone(out);
    return;
  }
  g.resources[e.index] = 'failed';
  out.push(log('error', `Resource ${r.text} failed to start.${e.message ? ` ${e.message}` : ''}`, { group: g.key, resource: r.text, message: e.message ?? '' }));
  out.push(log('error', `Giving up resources due to failure of ${r.text}`, { group: g.key }));
  g.rollback = true;
  g.claim = 'none';
  g.forced = false;
  c.beginStop(g, e.index, out);
}

/** A stop result for resource `e.index` of `g` (a stop of it was out). */
export function onStopResult(c: ResultContext, g: Group, e: ResourceResult, nowMs: number, out: ControllerAction[]): void {
  const r = g.def.resources[e.index]!;
  const detail = e.message ? ` ${e.message}` : '';
  if (e.ok) {
    g.resources[e.index] = 'stopped';
    g.stopAttempts = 0;
    out.push(log('info', `Resource ${r.text} stopped. (rc=0)`, { group: g.key, resource: r.text }));
    if (g.restartAt !== null && e.index <= g.restartAt && !c.shouldRelease(g) && !g.rollback) {
      g.restartAt = null;
      g.local = 'starting';
      g.index = e.index;
      return c.issueStart(g, out);
    }
    if (e.index > 0) { g.index = e.index - 1; return c.issueStop(g, out); }
    g.restartAt = null;
    g.local = 'stopped';
    if (g.rollback) {
      g.rollback = false;
      g.declined = 'start-failed';
      out.push(log('warn', `Resource group ${g.key} released after a failed start; ${c.peer ?? 'no peer'} may try it`, { group: g.key }));
    } else out.push(log('info', `Resource group ${g.key} stopped on ${c.self}.`, { group: g.key, transition: 'stopped' }));
    if (g.grantAfterStop) {
      g.grantAfterStop = false;
      if (c.peerUp) {
        g.grantedToPeer = true;
        out.push({ type: 'send-control', msg: { type: 'grant', groups: [g.key] } });
      }
    }
    return;
  }
  g.stopAttempts += 1;
  if (g.stopAttempts <= c.stopRetries) {
    g.stopRetryAtMs = nowMs + c.stopRetryMs;
    out.push(log('warn', `Retrying failed stop operation [${r.text}]${detail}`, { group: g.key, resource: r.text, attempt: g.stopAttempts }));
    return;
  }
  g.local = 'failed';
  g.resources[e.index] = 'failed';
  g.rollback = false;
  out.push(log('fatal', `Resource ${r.text} failed to stop.${detail}`, { group: g.key, resource: r.text }));
  out.push(log('fatal', `Resource group ${g.key} is FAILED on ${c.self}: it may still hold ${r.text}, so neither node will start it. Stop it by hand, then run 'tandem-hb cleanup ${g.key}'.`, { group: g.key, transition: 'failed' }));
  if (g.grantAfterStop) {
    g.grantAfterStop = false;
    if (c.peerUp) out.push({ type: 'send-control', msg: { type: 'deny', groups: [g.key], reason: 'failed' } });
  }
}
