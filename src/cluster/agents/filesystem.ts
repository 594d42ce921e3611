// Filesystem: mount on start, umount on stop. A busy file system is retried for a grace period,
// then its users are killed (`fuser -km`, psmisc) and the umount retried until the stop timeout,
// as heartbeat's Filesystem agent does; status comes from /proc/self/mountinfo, never from mount(8).
import type { FilesystemResource } from '../../config/heartbeat/haresources.js';
import { describeExit } from './exec.js';
import { mountArgv, mountsAt, normaliseDir, parseMountinfo } from './mountinfo.js';
import { failed, ok, type AgentContext, type OpResult, type ResourceAgent, type StatusResult } from './types.js';

const MOUNTINFO = '/proc/self/mountinfo';
const RETRY_MS = 500;

export interface FilesystemOptions {
  /** how long a busy umount is retried before the holders are killed; default min(5 s, stop timeout / 4) */
  killAfterMs?: number;
}

export class FilesystemAgent implements ResourceAgent {
  readonly agent = 'Filesystem';
  private readonly dir: string;
  constructor(private readonly r: FilesystemResource, private readonly ctx: AgentContext, private readonly opts: FilesystemOptions = {}) {
    this.dir = normaliseDir(r.directory);
  }

  private async mounted(): Promise<boolean> {
    return mountsAt(parseMountinfo(await this.ctx.readFile(MOUNTINFO)), this.dir).length > 0;
  }

  async status(): Promise<StatusResult> {
    const m = mountsAt(parseMountinfo(await this.ctx.readFile(MOUNTINFO)), this.dir);
    return m.length > 0
      ? { state: 'running', detail: `${m[0]!.source} is mounted on ${this.dir} (${m[0]!.fstype})` }
      : { state: 'stopped', detail: `nothing is mounted on ${this.dir}` };
  }

  async start(): Promise<OpResult> {
    if (await this.mounted()) return ok(`${this.dir} already mounted`);
    try {
      await this.ctx.mkdirp(this.dir);
    } catch (e) {
      return failed(`cannot create mount point ${this.dir}: ${(e as Error).message}`);
    }
    const res = await this.ctx.exec(mountArgv(this.r.device, this.dir, this.r.fstype, this.r.options), { timeoutMs: this.ctx.timeoutsMs.start });
    if (res.code !== 0) return failed(`mount ${this.r.device} on ${this.dir} failed ${describeExit(res)}`, res.code, res.stderr);
    if (!(await this.mounted())) return failed(`mount ${this.r.device} on ${this.dir} said it worked, but ${this.dir} is not in ${MOUNTINFO}`);
    return ok();
  }

  async stop(): Promise<OpResult> {
    const start = this.ctx.now();
    const deadline = start + this.ctx.timeoutsMs.stop;
    const killAfter = start + (this.opts.killAfterMs ?? Math.min(5000, this.ctx.timeoutsMs.stop / 4));
    let killed = false;
    let last = '';
    while (await this.mounted()) {
      const res = await this.ctx.exec(['umount', this.dir], { timeoutMs: Math.max(1000, deadline - this.ctx.now()) });
      if (res.code === 0) continue; // stacked mounts: loop until none is left
      last = describeExit(res);
      const now = this.ctx.now();
      if (now >= deadline) return failed(`umount ${this.dir} failed until the stop timeout ${last}`, res.code, res.stderr);
      if (now >= killAfter && !killed) {
        killed = true;
        const fuser = this.ctx.which('fuser');
        if (fuser) {
          this.ctx.log('warn', `${this.dir} is busy: killing the processes that use it (fuser -km)`, { dir: this.dir });
          const k = await this.ctx.exec([fuser, '-km', this.dir], { timeoutMs: 10_000 });
          this.ctx.log('info', `fuser -km ${this.dir} ${describeExit(k)}`, { dir: this.dir, output: k.stderr.trim() });
        } else this.ctx.log('error', `${this.dir} is busy and fuser (psmisc) is not installed: cannot kill its users`, { dir: this.dir });
      }
      await this.ctx.sleep(RETRY_MS);
    }
    return ok(last);
  }
}
