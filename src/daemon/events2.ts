// `tandemadm events`: drbdsetup events2's lines, from the status snapshots tandemd already makes.
// DRBD 9 splits the 8.4 state into four objects, and so do these lines: the resource (role,
// suspended), the connection to the peer (connection state, peer role), the device (minor, disk)
// and the peer device (replication state, peer disk, resync suspended). `exists` lines describe
// the state when a listener connects, `exists -` ends them, then `change` lines carry only the
// fields that changed. Tandem has no node ids, so a connection is named by `conn-name` only.
// Pure: the daemon keeps the last view per resource and broadcasts what changeLines returns.
import type { ConnState, ResourceStatus } from './status-types.js';

export interface EventView {
  resource: { role: string; suspended: string };
  connection: { connection: string; role: string };
  device: { disk: string };
  peerDevice: { replication: string; 'peer-disk': string; 'resync-suspended': string };
}

type ObjectKind = keyof EventView;

/** DRBD 9's connection state for an 8.4 cs: the waiting states are Connecting, all past them Connected. */
export function connectionOf(cs: ConnState): string {
  switch (cs) {
    case 'WFConnection':
    case 'WFReportParams':
      return 'Connecting';
    case 'StandAlone': case 'Disconnecting': case 'Unconnected': case 'Timeout': case 'BrokenPipe':
    case 'NetworkFailure': case 'ProtocolError': case 'TearDown':
      return cs;
    default:
      return 'Connected';
  }
}

/** DRBD 9's replication state: Off without a connection, Established when connected and idle. */
export function replicationOf(cs: ConnState): string {
  if (connectionOf(cs) !== 'Connected') return 'Off';
  return cs === 'Connected' ? 'Established' : cs;
}

export function viewOf(s: ResourceStatus): EventView {
  const suspended = s.flags.suspended.length > 0 ? s.flags.suspended.join(',') : 'no';
  const resyncSuspended = [s.flags.pausedByUser && 'user', s.flags.pausedByPeer && 'peer', s.flags.pausedByDependency && 'dependency'].filter(Boolean).join(',') || 'no';
  return {
    resource: { role: s.role, suspended },
    connection: { connection: connectionOf(s.cs), role: s.peerRole },
    device: { disk: s.disk },
    peerDevice: { replication: replicationOf(s.cs), 'peer-disk': s.peerDisk, 'resync-suspended': resyncSuspended },
  };
}

const KIND_WORD: Record<ObjectKind, string> = { resource: 'resource', connection: 'connection', device: 'device', peerDevice: 'peer-device' };

function ids(kind: ObjectKind, s: ResourceStatus): string {
  const peer = `conn-name:${s.peerName ?? 'peer'}`;
  switch (kind) {
    case 'resource': return `name:${s.name}`;
    case 'connection': return `name:${s.name} ${peer}`;
    case 'device': return `name:${s.name} volume:0 minor:${s.minor}`;
    case 'peerDevice': return `name:${s.name} ${peer} volume:0`;
  }
}

const fields = (o: Record<string, string>, only?: Set<string>): string =>
  Object.entries(o).filter(([k]) => !only || only.has(k)).map(([k, v]) => `${k}:${v}`).join(' ');

export function existsLines(s: ResourceStatus): string[] {
  const v = viewOf(s);
  return (Object.keys(KIND_WORD) as ObjectKind[]).map((k) => `exists ${KIND_WORD[k]} ${ids(k, s)} ${fields(v[k])}`);
}

/** The `change` lines from one view of a resource to the next; none when nothing shown changed. */
export function changeLines(s: ResourceStatus, before: EventView): string[] {
  const after = viewOf(s);
  const out: string[] = [];
  for (const k of Object.keys(KIND_WORD) as ObjectKind[]) {
    const a = after[k] as Record<string, string>;
    const b = before[k] as Record<string, string>;
    const changed = new Set(Object.keys(a).filter((f) => a[f] !== b[f]));
    if (changed.size > 0) out.push(`change ${KIND_WORD[k]} ${ids(k, s)} ${fields(a, changed)}`);
  }
  return out;
}
