// The I/O edge of ipfail's rule: ICMP echo to each ping node through the system `ping` command
// (raw sockets would need CAP_NET_RAW in this process; ping has it already). One probe per host
// per keepalive, and never two in flight for the same host, so an unreachable host costs one
// waiting child process, not a pile of them.
import { execFile } from 'node:child_process';

/** Sends one echo request and resolves true when a reply came within timeoutS. Never rejects. */
export type PingOnce = (host: string, timeoutS: number) => Promise<PingResult>;
export type PingResult = { ok: true } | { ok: false; detail: string };

/** `ping -c 1 -W <s> -n HOST`: one request, wait up to s seconds, no reverse DNS. */
export function pingArgs(host: string, timeoutS: number): string[] {
  return ['-c', '1', '-W', String(timeoutS), '-n', host];
}

/** -W takes whole seconds on older iputils: the keepalive rounded up, at least 1. */
export function pingTimeoutS(keepaliveMs: number): number {
  return Math.max(1, Math.ceil(keepaliveMs / 1000));
}

export const systemPing: PingOnce = (host, timeoutS) => new Promise((resolve) => {
  execFile('ping', pingArgs(host, timeoutS), { timeout: (timeoutS + 2) * 1000, killSignal: 'SIGKILL' }, (err, _stdout, stderr) => {
    if (!err) { resolve({ ok: true }); return; }
    const e = err as NodeJS.ErrnoException & { code?: string | number };
    if (e.code === 'ENOENT') resolve({ ok: false, detail: "the 'ping' command is not installed (iputils-ping)" });
    else resolve({ ok: false, detail: String(stderr).trim() || `no reply (exit ${String(e.code ?? 'killed')})` });
  });
});

export class Pinger {
  private readonly inFlight = new Set<string>();
  private closed = false;

  constructor(
    private readonly hosts: readonly string[],
    private readonly timeoutS: number,
    private readonly onResult: (host: string, r: PingResult) => void,
    private readonly pingOnce: PingOnce = systemPing,
  ) {}

  /** keepalive timer: probe every host that has no probe outstanding */
  probe(): void {
    if (this.closed) return;
    for (const host of new Set(this.hosts)) {
      if (this.inFlight.has(host)) continue;
      this.inFlight.add(host);
      let p: Promise<PingResult>;
      try {
        p = this.pingOnce(host, this.timeoutS);
      } catch (e) {
        p = Promise.resolve({ ok: false, detail: (e as Error).message });
      }
      void p.catch((e: Error): PingResult => ({ ok: false, detail: e.message })).then((r) => {
        this.inFlight.delete(host);
        if (!this.closed) this.onResult(host, r);
      });
    }
  }

  get pending(): number { return this.inFlight.size; }

  close(): void { this.closed = true; }
}
