// Resource scripts called as heartbeat's ResourceManager calls them: looked up in
// <ha-dir>/resource.d, then the init script directories; run as `script arg1 arg2 ACTION` (the
// action last); `status` judged by what it prints, not its exit code ("not running" before
// "running"/"OK"); start skipped when status already says running.
import path from 'node:path';
import type { ScriptResource } from '../../config/heartbeat/haresources.js';
import { describeExit, isExecutableFile } from './exec.js';
import { failed, ok, type AgentContext, type HeldState, type OpResult, type ResourceAgent, type StatusResult } from './types.js';

export const INIT_DIRS = ['/etc/init.d', '/etc/rc.d/init.d', '/etc/rc.d'] as const;

/** ResourceManager's we_own_resource: `*[Nn][Oo][Tt] *[Rr]unning*` is not held; `*[Rr]unning*` or `*OK*` is. */
export function judgeStatusText(text: string): HeldState {
  if (/[Nn][Oo][Tt] *[Rr]unning/.test(text)) return 'stopped';
  if (/[Rr]unning/.test(text) || text.includes('OK')) return 'running';
  return 'stopped';
}

/** The script for a resource name, or null ("Cannot locate resource script"). */
export function locateScript(name: string, haDir: string, isExec: (p: string) => boolean = isExecutableFile, initDirs: readonly string[] = INIT_DIRS): string | null {
  for (const dir of [path.join(haDir, 'resource.d'), ...initDirs]) {
    const p = path.join(dir, name);
    if (isExec(p)) return p;
  }
  return null;
}

export function scriptArgv(script: string, args: readonly string[], action: string): string[] {
  return [script, ...args, action];
}

export class ScriptAgent implements ResourceAgent {
  readonly agent: string;
  constructor(private readonly r: ScriptResource, private readonly ctx: AgentContext, private readonly locate: () => string | null) {
    this.agent = r.name;
  }

  private missing(): string {
    return `Cannot locate resource script ${this.r.name} (looked in resource.d and ${INIT_DIRS.join(', ')})`;
  }

  async status(): Promise<StatusResult> {
    const script = this.locate();
    if (!script) return { state: 'stopped', detail: this.missing() };
    const res = await this.ctx.exec(scriptArgv(script, this.r.args, 'status'), { timeoutMs: this.ctx.timeoutsMs.status });
    const text = res.stdout.trim();
    return { state: res.timedOut ? 'stopped' : judgeStatusText(res.stdout), detail: text || describeExit(res) };
  }

  private async action(action: 'start' | 'stop', timeoutMs: number): Promise<OpResult> {
    const script = this.locate();
    if (!script) return failed(this.missing());
    const res = await this.ctx.exec(scriptArgv(script, this.r.args, action), { timeoutMs });
    const output = (res.stdout + res.stderr).trim();
    if (res.code === 0 && !res.timedOut) return ok(output);
    return failed(describeExit(res), res.code, output);
  }

  async start(): Promise<OpResult> {
    const s = await this.status();
    if (s.state === 'running') return ok(`already running: ${s.detail}`);
    return this.action('start', this.ctx.timeoutsMs.start);
  }

  stop(): Promise<OpResult> {
    return this.action('stop', this.ctx.timeoutsMs.stop);
  }
}
