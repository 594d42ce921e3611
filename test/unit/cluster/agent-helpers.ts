// A scripted AgentContext: commands answer from a table, the clock moves only when agents sleep.
import type { ExecResult } from '../../../src/cluster/agents/exec.js';
import type { AgentContext } from '../../../src/cluster/agents/types.js';

export type Reply = Partial<ExecResult> | ((argv: readonly string[]) => Partial<ExecResult>);

export class FakeSystem {
  now = 0;
  calls: string[][] = [];
  files = new Map<string, string>();
  logs: string[] = [];
  dirs: string[] = [];
  onPath = new Set<string>(['arping', 'fuser']);
  private rules: Array<{ match: (argv: readonly string[]) => boolean; reply: Reply }> = [];

  /** the first rule whose prefix (words joined by spaces) starts the command line wins; later rules first */
  on(prefix: string, reply: Reply): this {
    this.rules.unshift({ match: (argv) => argv.join(' ').startsWith(prefix), reply });
    return this;
  }

  ctx(timeouts = { start: 10_000, stop: 10_000, status: 5_000 }): AgentContext {
    return {
      exec: async (argv) => {
        this.calls.push([...argv]);
        const rule = this.rules.find((r) => r.match(argv));
        const r = rule ? (typeof rule.reply === 'function' ? rule.reply(argv) : rule.reply) : { code: 0 };
        return { code: 0, signal: null, stdout: '', stderr: '', timedOut: false, error: null, ...r };
      },
      timeoutsMs: timeouts,
      sleep: async (ms) => { this.now += ms; },
      now: () => this.now,
      readFile: async (p) => {
        const t = this.files.get(p);
        if (t === undefined) throw new Error(`ENOENT ${p}`);
        return t;
      },
      which: (name) => (this.onPath.has(name) ? `/usr/bin/${name}` : null),
      mkdirp: async (d) => { this.dirs.push(d); },
      log: (level, msg) => { this.logs.push(`${level}: ${msg}`); },
    };
  }

  commandLines(): string[] {
    return this.calls.map((c) => c.join(' '));
  }
}
