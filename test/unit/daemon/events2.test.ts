// drbdsetup events2's lines from status snapshots: DRBD 9's split of the 8.4 connection state
// into connection + replication, exists lines, and change lines carrying only what changed.
import { describe, expect, it } from 'vitest';
import { changeLines, connectionOf, existsLines, replicationOf, viewOf } from '../../../src/daemon/events2.js';
import { IDLE_IO_FLAGS, type ResourceStatus } from '../../../src/daemon/status-types.js';
import { CONN_STATES, type ConnState } from '../../../src/replication/drbd-states.js';

function status(p: Partial<ResourceStatus> = {}): ResourceStatus {
  return {
    minor: 0, name: 'r0', peerName: 'node2', cs: 'Connected', role: 'Secondary', peerRole: 'Secondary', disk: 'UpToDate', peerDisk: 'UpToDate',
    protocol: 'C', flags: { ...IDLE_IO_FLAGS },
    counters: { ns: 0, nr: 0, dw: 0, dr: 0, al: 0, bm: 0, lo: 0, pe: 0, ua: 0, ap: 0, ep: 1, wo: 'f', oos: 0 },
    ...p,
  } as ResourceStatus;
}

describe('8.4 connection state → DRBD 9 connection and replication', () => {
  it.each<[ConnState, string, string]>([
    ['StandAlone', 'StandAlone', 'Off'],
    ['WFConnection', 'Connecting', 'Off'],
    ['WFReportParams', 'Connecting', 'Off'],
    ['NetworkFailure', 'NetworkFailure', 'Off'],
    ['Timeout', 'Timeout', 'Off'],
    ['Connected', 'Connected', 'Established'],
    ['SyncSource', 'Connected', 'SyncSource'],
    ['PausedSyncT', 'Connected', 'PausedSyncT'],
    ['VerifyS', 'Connected', 'VerifyS'],
    ['WFBitMapT', 'Connected', 'WFBitMapT'],
  ])('%s → %s / %s', (cs, conn, repl) => {
    expect(connectionOf(cs)).toBe(conn);
    expect(replicationOf(cs)).toBe(repl);
  });
  it('every state maps to a connection state, and replication is Off exactly when not Connected', () => {
    for (const cs of CONN_STATES) expect(replicationOf(cs) === 'Off').toBe(connectionOf(cs) !== 'Connected');
  });
});

describe('lines', () => {
  it('exists lines name every object of the resource', () => {
    expect(existsLines(status())).toEqual([
      'exists resource name:r0 role:Secondary suspended:no',
      'exists connection name:r0 conn-name:node2 connection:Connected role:Secondary',
      'exists device name:r0 volume:0 minor:0 disk:UpToDate',
      'exists peer-device name:r0 conn-name:node2 volume:0 replication:Established peer-disk:UpToDate resync-suspended:no',
    ]);
  });
  it('change lines carry only the fields that changed', () => {
    const before = viewOf(status());
    expect(changeLines(status({ role: 'Primary' }), before)).toEqual(['change resource name:r0 role:Primary']);
    expect(changeLines(status({ cs: 'SyncSource', peerDisk: 'Inconsistent' }), before)).toEqual([
      'change peer-device name:r0 conn-name:node2 volume:0 replication:SyncSource peer-disk:Inconsistent',
    ]);
    expect(changeLines(status({ cs: 'WFConnection', peerRole: 'Unknown', peerDisk: 'DUnknown' }), before)).toEqual([
      'change connection name:r0 conn-name:node2 connection:Connecting role:Unknown',
      'change peer-device name:r0 conn-name:node2 volume:0 replication:Off peer-disk:DUnknown',
    ]);
    expect(changeLines(status({ cs: 'PausedSyncS', flags: { ...IDLE_IO_FLAGS, pausedByPeer: true } }), viewOf(status({ cs: 'SyncSource' })))).toEqual([
      'change peer-device name:r0 conn-name:node2 volume:0 replication:PausedSyncS resync-suspended:peer',
    ]);
    expect(changeLines(status(), before)).toEqual([]);
  });
});
