// DRBD's handlers and fencing, as performed: running a configured handler (split-brain,
// fence-peer, before-resync-target, …) with DRBD's environment, the fence-peer run and what its exit
// code does to the peer's disk state, `outdate`, and the IO freeze of `fencing
// resource-and-stonith` (susp-fen) that the Primary's I/O waits on. The decisions are pure in
// fencing.ts; this file only calls into the shared context and the handler runner.
import type { DiskState } from './messages.js';
import { handlerEnv } from './handler-env.js';
import { checkOutdate, fencePeerOutcome, type FenceOutcome } from './fencing.js';
import { diskRank, type Verdict } from './state-rules.js';
import type { ResourceContext } from './resource-context.js';

/** Runs a configured handler; resolves with its exit code (null: not configured, failed to start or killed). */
export async function runHandler(ctx: ResourceContext, name: string): Promise<number | null> {
  ctx.deps.onHelper?.(ctx.owner, name);
  const cmd = ctx.cfg.handlers[name];
  if (!cmd) return null;
  ctx.log.info({ handler: name }, `helper command: ${name}`);
  return ctx.deps.runHandler(name, handlerEnv(ctx.cfg, name, { cs: ctx.state.cs }));
}

/** Handlers of one event run one after the other, in DRBD's order. */
export async function runHandlers(ctx: ResourceContext, names: readonly string[]): Promise<void> {
  for (const n of names) await runHandler(ctx, n);
}

export class Fencing {
  /**
   * DRBD's susp-fen: under `fencing resource-and-stonith` a Primary that loses its peer holds all
   * application IO until the fence-peer handler has fenced the peer, the peer is back, or the
   * administrator runs resume-io. Nothing is acknowledged meanwhile that the peer might not have.
   */
  private ioFreeze: { waiters: (() => void)[] } | null = null;
  private fencing: Promise<FenceOutcome | null> | null = null;

  constructor(private readonly ctx: ResourceContext) {}

  get frozen(): boolean {
    return this.ioFreeze !== null;
  }

  /** null when IO may run; else resolves when it may. Waiting requests count as application-pending (ap). */
  ioGate(): Promise<void> | null {
    const f = this.ioFreeze;
    if (!f) return null;
    this.ctx.counters.ap++;
    this.ctx.deps.onChange();
    return new Promise((resolve) =>
      f.waiters.push(() => {
        this.ctx.counters.ap--;
        resolve();
      }),
    );
  }

  freezeIo(): void {
    if (this.ioFreeze) return;
    this.ioFreeze = { waiters: [] };
    this.ctx.log.warn('IO suspended until the fence-peer handler fences the peer (fencing resource-and-stonith)');
    this.ctx.deps.onChange();
  }

  thawIo(why: string): void {
    const f = this.ioFreeze;
    if (!f) return;
    this.ioFreeze = null;
    this.ctx.log.info({ why, waiting: f.waiters.length }, 'IO resumed');
    for (const w of f.waiters) w();
    this.ctx.deps.onChange();
  }

  /** After every state change: a frozen Primary thaws once the peer is back or it is no longer Primary. */
  afterTransition(): void {
    const s = this.ctx.state;
    if (this.ioFreeze && (s.connected || s.role !== 'Primary')) this.thawIo(s.connected ? 'the peer is back' : 'no longer Primary');
  }

  /** A Primary that lost a peer with data asks the fence-peer handler to outdate it (and freezes IO under resource-and-stonith). */
  afterPeerLost(wasPeerData: boolean): void {
    const { cfg, state } = this.ctx;
    if (!(state.role === 'Primary' && cfg.disk.fencing !== 'dont-care' && state.peerDisk === 'DUnknown' && wasPeerData)) return;
    const freeze = cfg.disk.fencing === 'resource-and-stonith' && !!cfg.handlers['fence-peer'];
    if (freeze) this.freezeIo();
    void this.fencePeer().then((r) => {
      if (!freeze || !this.ioFreeze) return;
      if (r?.fenced) this.thawIo('the peer is fenced');
      else this.ctx.log.error('the fence-peer handler did not fence the peer: IO stays suspended until resume-io');
    });
  }

  /** Promotion refused because the peer is unknown (fencing), or our Consistent data needs the peer outdated. */
  mayFence(error: string): boolean {
    const { cfg, state } = this.ctx;
    if (cfg.disk.fencing === 'dont-care' || state.connected || !this.ctx.md) return false;
    if (error === 'SS_PRIMARY_NOP') return true;
    return error === 'SS_NO_UP_TO_DATE_DISK' && state.disk === 'Consistent' && state.peerDisk === 'DUnknown';
  }

  /**
   * Runs the fence-peer handler and applies what its exit code says (fencing.ts). Concurrent callers
   * share one run. A fenced peer becomes pdsk Outdated (persisted as peer-outdated), which makes
   * our Consistent data UpToDate.
   */
  fencePeer(): Promise<FenceOutcome | null> {
    if (this.fencing) return this.fencing;
    const ctx = this.ctx;
    if (!ctx.cfg.handlers['fence-peer']) {
      ctx.log.warn('fencing is on but no fence-peer handler is configured');
      return Promise.resolve(null);
    }
    this.fencing = (async () => {
      const code = await runHandler(ctx, 'fence-peer');
      const s = ctx.state;
      const r = fencePeerOutcome(code, { disk: s.disk, fencing: ctx.cfg.disk.fencing });
      if (r.error) ctx.log.error({ exitCode: code }, r.error);
      ctx.log.info({ exitCode: code }, `fence-peer helper returned ${code ?? 'nothing'} (${r.text})`);
      if (s.connected) return r; // the peer came back meanwhile: the handshake decides
      if (r.peerDisk) {
        const disk: DiskState = s.disk === 'Consistent' ? 'UpToDate' : s.disk;
        s.change({ peerDisk: r.peerDisk, disk });
      }
      if (r.localDisk && s.role !== 'Primary' && diskRank(s.disk) > diskRank('Outdated')) s.change({ disk: r.localDisk });
      if (ctx.md) await ctx.md.saveSuperblock().catch((err: Error) => ctx.onLocalIoError(err, 'metadata write'));
      return r;
    })().finally(() => {
      this.fencing = null;
    });
    return this.fencing;
  }

  /** `outdate`: mark this node's data Outdated (what the peer's fence-peer handler asks for). Persists. */
  async outdate(): Promise<Verdict> {
    const s = this.ctx.state;
    const v = checkOutdate({ role: s.role, disk: s.disk, cs: s.cs });
    if (!v.ok) return v;
    if (s.disk !== 'Outdated') {
      s.change({ disk: 'Outdated' });
      this.ctx.log.warn('data outdated on request (outdate)');
    }
    await this.ctx.md?.saveSuperblock();
    return { ok: true };
  }
}
