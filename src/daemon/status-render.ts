// Text forms of the status snapshot: the 8.3/8.4 /proc/drbd layout for <run-dir>/status
// (d83/d84 drbd_proc.c drbd_seq_show + drbd_syncer_progress, reference §7.1), the DRBD 9
// `drbdadm status` layout for `tandemadm status` (utils:user/v9/drbdsetup.c, §7.2) and JSON.
// Our states are 8.4's, so `status` follows what drbd-utils 9 prints for an 8.4 kernel
// (connection named after the peer, Connected shown as `replication:Established`), with
// DRBD 9's `done:` (share of the resync done) rather than 8.4's share of the device in sync.
// The arithmetic (per-mille, bar, M/K units, thousands grouping) is DRBD's integer arithmetic on
// 4 KiB bitmap bits, so the numbers match what a DRBD user would see for the same state.

import type { BlockedReason, IoFlags, ResourceStatus, StatusCounters, SuspendReason, SyncProgress } from './status-types.js';
import type { ConnState } from '../replication/drbd-states.js';
import { connRank } from '../replication/drbd-states.js';
import { PROTOCOL_VERSION } from '../replication/messages.js';

export const STATUS_API_VERSION = 1;
/** the peer link's protocol version, as /proc/drbd shows DRBD's network protocol */
export const STATUS_PROTO_VERSION = PROTOCOL_VERSION;

/** A non-negative integer for a counter, whatever arrived (NaN, negative, fractional). */
function n(v: number): number {
  return Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

/** 4 KiB bitmap bits in an amount of KiB, rounded down as DRBD's counts are. */
function kibToBits(kib: number): number {
  return Math.floor(n(kib) / 4);
}

/**
 * Per-mille done, exactly as `drbd_get_syncer_progress`: both counts shifted right by 10 bits (16 on
 * huge devices) to avoid overflow, +1 against division by zero, integer division. A left count larger
 * than the total gives 0, as in DRBD.
 */
export function perMilleDone(leftKiB: number, totalKiB: number): number {
  const left = kibToBits(leftKiB);
  const total = kibToBits(totalKiB);
  if (left > total) return 0;
  const div = total >= 2 ** 32 ? 2 ** 16 : 2 ** 10;
  const l = Math.floor(left / div);
  const t = 1 + Math.floor(total / div);
  return 1000 - Math.floor((l * 1000) / t);
}

/**
 * The bar between `[` and `]`: x = perMille/50, then x−1 `=`, `>`, 20−x `.`. That is 20 characters
 * from 5.0% on; below 5% (x = 0) DRBD prints `>` and 20 dots, 21 characters, and so do we.
 */
export function progressBar(perMille: number): string {
  const res = Math.min(1000, n(perMille));
  const x = Math.floor(res / 50);
  return '='.repeat(Math.max(0, x - 1)) + '>' + '.'.repeat(20 - x);
}

/** `seq_printf_with_thousands_grouping`: 999, 1,000, 11,640, 1,234,567 (only two groups are split off). */
export function groupThousands(value: number): string {
  const v = n(value);
  if (v >= 1_000_000) {
    const rest = v % 1_000_000;
    return `${Math.floor(v / 1_000_000)},${pad3(Math.floor(rest / 1000))},${pad3(rest % 1000)}`;
  }
  if (v >= 1000) return `${Math.floor(v / 1000)},${pad3(v % 1000)}`;
  return String(v);
}

function pad3(v: number): string {
  return String(v).padStart(3, '0');
}

function pad2(v: number): string {
  return String(v).padStart(2, '0');
}

/** `%lu:%02lu:%02lu` — hours are not wrapped. */
export function formatFinish(etaSec: number): string {
  const rt = n(etaSec);
  return `${Math.floor(rt / 3600)}:${pad2(Math.floor((rt % 3600) / 60))}:${pad2(rt % 60)}`;
}

const BLOCKED_CHAR: Record<BlockedReason, string> = {
  none: '-',
  'io-frozen': 'd',
  helper: 'c',
  backing: 'b',
  network: 'n',
  'backing-and-network': 'a',
};

/** The six flag characters after the protocol letter, e.g. `r-----`, `s---d-`, `r--u--`. */
export function formatIoFlags(f: IoFlags): string {
  return (
    (f.suspended.length > 0 ? 's' : 'r') +
    (f.pausedByDependency ? 'a' : '-') +
    (f.pausedByPeer ? 'p' : '-') +
    (f.pausedByUser ? 'u' : '-') +
    (BLOCKED_CHAR[f.blocked] ?? '-') +
    (f.alSuspended ? 's' : '-')
  );
}

function formatCounters(c: StatusCounters): string {
  const wo = ['b', 'f', 'd', 'n'].includes(c.wo) ? c.wo : 'n';
  return (
    `    ns:${n(c.ns)} nr:${n(c.nr)} dw:${n(c.dw)} dr:${n(c.dr)} al:${n(c.al)} bm:${n(c.bm)} ` +
    `lo:${n(c.lo)} pe:${n(c.pe)} ua:${n(c.ua)} ap:${n(c.ap)} ep:${n(c.ep)} wo:${wo} oos:${n(c.oos)}`
  );
}

/** More than 4 GiB worth of bits is shown in MiB, else in KiB (both DRBD's Bit2KB of bit counts). */
function formatAmounts(leftKiB: number, totalKiB: number): string {
  const left = kibToBits(leftKiB);
  const total = kibToBits(totalKiB);
  if (total > 4 << (30 - 12)) return `(${Math.floor(left / 1024) * 4}/${Math.floor(total / 1024) * 4})M`;
  return `(${left * 4}/${total * 4})K`;
}

/** The two progress lines of `drbd_syncer_progress`, each ending in a newline. */
export function formatProgress(cs: ConnState, p: SyncProgress): string {
  const verifying = cs === 'VerifyS' || cs === 'VerifyT';
  const res = perMilleDone(p.leftKiB, p.totalKiB);
  const pct = `${String(Math.floor(res / 10)).padStart(3, ' ')}.${res % 10}%`;
  const line1 = `\t[${progressBar(res)}] ${verifying ? 'verified:' : "sync'ed:"}${pct} ${formatAmounts(p.leftKiB, p.totalKiB)}\n`;
  const want =
    (cs === 'SyncTarget' || cs === 'VerifyS') && p.wantKiBs !== undefined ? ` want: ${groupThousands(p.wantKiBs)}` : '';
  const line2 =
    `\tfinish: ${formatFinish(p.etaSec)} speed: ${groupThousands(p.speedKiBs)} (${groupThousands(p.avgSpeedKiBs)})` +
    `${want} K/sec${p.stalled === true ? ' (stalled)' : ''}\n`;
  return line1 + line2;
}

function isUnconfigured(r: ResourceStatus): boolean {
  return r.cs === 'StandAlone' && r.disk === 'Diskless' && r.role === 'Secondary';
}

function progressFor(r: ResourceStatus): SyncProgress | undefined {
  switch (r.cs) {
    case 'SyncSource':
    case 'SyncTarget':
      return r.sync;
    case 'VerifyS':
    case 'VerifyT':
      return r.verify ?? r.sync;
    default:
      // DRBD prints no progress while paused or in any other state
      return undefined;
  }
}

function renderMinor(r: ResourceStatus): string {
  const minor = String(Number.isInteger(r.minor) ? r.minor : 0).padStart(2, ' ');
  if (isUnconfigured(r)) return `${minor}: cs:Unconfigured\n`;
  const proto = r.protocol ?? ' ';
  let out =
    `${minor}: cs:${r.cs} ro:${r.role}/${r.peerRole} ds:${r.disk}/${r.peerDisk} ${proto} ${formatIoFlags(r.flags)}\n` +
    `${formatCounters(r.counters)}\n`;
  const p = progressFor(r);
  if (p !== undefined) out += formatProgress(r.cs, p);
  return out;
}

/**
 * The status file: `version: …` and, per minor in ascending order, the device line, the counters
 * line and during resync/verify the two progress lines. A gap in the minor numbers prints one empty
 * line, as DRBD does for minors that do not exist.
 */
export function renderProcDrbd(version: string, resources: readonly ResourceStatus[]): string {
  let out = `version: ${version} (api:${STATUS_API_VERSION}/proto:${STATUS_PROTO_VERSION})\n`;
  const sorted = [...resources].sort((a, b) => a.minor - b.minor);
  let expected = 0;
  for (const r of sorted) {
    if (r.minor > expected) out += '\n';
    out += renderMinor(r);
    expected = Math.max(expected, r.minor + 1);
  }
  return out;
}

const SUSPEND_ORDER: SuspendReason[] = ['user', 'no-data', 'fencing'];

/** DRBD 9's connection-state names for our 8.4-style states (drbdsetup's compat mapping). */
function connectionName(cs: ConnState): string {
  return cs === 'WFConnection' ? 'Connecting' : cs;
}

/** DRBD 9's replication-state name: Connected is "Established"; the sync states keep their names. */
function replicationName(cs: ConnState): string {
  return cs === 'Connected' ? 'Established' : cs;
}

function resyncSuspended(f: IoFlags): string {
  const parts: string[] = [];
  if (f.pausedByUser) parts.push('user');
  if (f.pausedByPeer) parts.push('peer');
  if (f.pausedByDependency) parts.push('dependency');
  return parts.join(',');
}

function progressForDone(r: ResourceStatus): SyncProgress | undefined {
  if (r.cs === 'VerifyS' || r.cs === 'VerifyT') return r.verify ?? r.sync;
  if (r.cs === 'SyncSource' || r.cs === 'SyncTarget' || r.cs === 'PausedSyncS' || r.cs === 'PausedSyncT') return r.sync;
  return undefined;
}

function renderResourceText(r: ResourceStatus): string {
  const suspended = SUSPEND_ORDER.filter((s) => r.flags.suspended.includes(s));
  let out = `${r.name} role:${r.role}${suspended.length > 0 ? ` suspended:${suspended.join(',')}` : ''}\n`;
  out += `  disk:${r.disk}\n`;
  const peer = r.peerName ?? 'peer';
  // below WFReportParams there is no socket: show the connection state instead of the peer's role
  if (connRank(r.cs) < connRank('WFReportParams')) {
    out += `  ${peer} connection:${connectionName(r.cs)}\n`;
  } else {
    out += `  ${peer} role:${r.peerRole}\n`;
    const fields: string[] = [];
    // drbdsetup's 8.4 mode shows the replication state from Connected ("Established") on
    if (connRank(r.cs) > connRank('WFReportParams')) fields.push(`replication:${replicationName(r.cs)}`);
    if (r.cs !== 'WFReportParams' || r.peerDisk !== 'DUnknown') {
      fields.push(`peer-disk:${r.peerDisk}`);
      const p = progressForDone(r);
      if (p !== undefined && n(p.totalKiB) > 0) {
        const done = (100 * (n(p.totalKiB) - Math.min(n(p.leftKiB), n(p.totalKiB)))) / n(p.totalKiB);
        fields.push(`done:${done.toFixed(2)}`);
      }
      const rs = resyncSuspended(r.flags);
      if (rs !== '') fields.push(`resync-suspended:${rs}`);
    }
    if (fields.length > 0) out += `    ${fields.join(' ')}\n`;
  }
  return out + '\n';
}

/** `tandemadm status`: the DRBD 9 `drbdadm status` layout, one block per resource, each followed by an empty line. */
export function renderStatusText(resources: readonly ResourceStatus[]): string {
  return resources.map(renderResourceText).join('');
}

/** `tandemadm status --json`: the snapshot objects themselves. */
export function renderStatusJson(resources: readonly ResourceStatus[]): string {
  return JSON.stringify(resources, null, 2) + '\n';
}
