// STONITH through an external command, in the spirit of heartbeat's `stonith_host` with an
// external plugin: `stonith_host <from|*> <command> [params…]`. Tandem runs
// `<command> [params…] <node>` (env STONITH_ACTION=reset, STONITH_NODE=<node>); exit 0 means the
// node was reset. A relative command is looked up in <ha-dir>. Like heartbeat, only one device is
// kept: the last line for `*` or for this node.
import path from 'node:path';
import type { StonithHost } from '../config/heartbeat/ha-cf.js';
import { describeExit, type Exec } from './agents/exec.js';

export interface StonithPlan { command: string; params: string[] }

export function planStonith(hosts: readonly StonithHost[], self: string, haDir: string): StonithPlan | null {
  const mine = hosts.filter((h) => h.from === '*' || h.from === self.toLowerCase());
  const h = mine[mine.length - 1];
  if (!h) return null;
  return { command: path.isAbsolute(h.type) ? h.type : path.join(haDir, h.type), params: [...h.params] };
}

export function stonithArgv(p: StonithPlan, node: string): string[] {
  return [p.command, ...p.params, node];
}

export async function runStonith(exec: Exec, p: StonithPlan, node: string, timeoutMs: number): Promise<{ ok: boolean; message: string }> {
  const r = await exec(stonithArgv(p, node), { timeoutMs, env: { STONITH_ACTION: 'reset', STONITH_NODE: node } });
  return { ok: r.code === 0 && !r.timedOut, message: describeExit(r) };
}
