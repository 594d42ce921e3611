// The status of one resource as the daemon shows it (status file, tandemadm status, events,
// Prometheus): state, flags, counters, resync or verify progress, size and UUIDs. Read-only.
import { uuidsToWire } from './uuid-engine.js';
import type { ResourceContext } from './resource-context.js';
import { IDLE_IO_FLAGS, type ResourceStatus, type SyncProgress as SyncProgressStatus } from '../daemon/status-types.js';
import { perMilleDone } from '../daemon/status-render.js';

export function resourceStatus(ctx: ResourceContext, o: { verifyNext: number | null; ioFrozen: boolean }): ResourceStatus {
  const s = ctx.state;
  const md = ctx.md;
  const left = md ? Math.min(md.bitmap.count() * md.bitmap.granularity, md.usableSize) : 0;
  const snap = ctx.progress?.snapshot(o.verifyNext !== null ? Math.max(0, ctx.size - o.verifyNext) : left, ctx.deps.now());
  const progress = (p: typeof snap): SyncProgressStatus | undefined =>
    p && {
      percent: p.totalKiB > 0 ? perMilleDone(p.leftKiB, p.totalKiB) / 10 : 100,
      totalKiB: p.totalKiB,
      leftKiB: p.leftKiB,
      speedKiBs: p.speedKiBs,
      avgSpeedKiBs: p.avgSpeedKiBs,
      etaSec: p.etaSec,
      paused: ctx.syncPaused,
      wantKiBs: s.cs === 'SyncTarget' ? Math.round(ctx.cfg.disk.resyncRateBytesPerSec / 1024) : undefined,
    };
  const syncing = s.syncRunning;
  const c = ctx.counters;
  return {
    minor: ctx.cfg.self.minor,
    name: ctx.name,
    peerName: ctx.cfg.peer.name,
    cs: s.cs,
    role: s.role,
    peerRole: s.peerRole,
    disk: s.disk,
    peerDisk: s.peerDisk,
    protocol: ctx.cfg.protocol,
    flags: { ...IDLE_IO_FLAGS, suspended: o.ioFrozen ? ['fencing'] : [], pausedByUser: ctx.userPaused && syncing, pausedByPeer: ctx.peerPaused && syncing },
    counters: {
      ns: Math.round(c.ns), nr: Math.round(c.nr), dw: Math.round(c.dw), dr: Math.round(c.dr),
      al: c.al, bm: c.bm + (md?.bitmapWrites ?? 0), lo: c.lo, pe: ctx.pending.size, ua: c.ua, ap: c.ap, ep: 1,
      wo: 'f', oos: ctx.oosKiB(),
    },
    sync: syncing ? progress(snap) : undefined,
    verify: s.verifying ? progress(snap) : undefined,
    sizeBytes: ctx.size,
    uuids: md ? uuidsToWire(md.uuids) : undefined,
    dirtyBits: md?.bitmap.count() ?? 0,
  };
}
