// fence-peer exit codes (UG84 internals#s-fence-peer, d84 conn_try_outdate_peer) and the outdate rule.
import { describe, it, expect } from 'vitest';
import { checkOutdate, fencePeerOutcome } from '../../../src/replication/fencing.js';
import type { ConnState, DiskState, Role } from '../../../src/replication/drbd-states.js';

describe('fencePeerOutcome', () => {
  it.each([
    // code, my disk, fencing, peer disk after, local disk after, fenced, text
    [3, 'UpToDate', 'resource-only', 'Inconsistent', undefined, true, 'peer is inconsistent or worse'],
    [4, 'UpToDate', 'resource-only', 'Outdated', undefined, true, 'peer was fenced'],
    [4, 'Consistent', 'resource-only', 'Outdated', undefined, true, 'peer was fenced'],
    [5, 'UpToDate', 'resource-only', 'Outdated', undefined, true, 'peer is unreachable, assumed to be dead'],
    [5, 'Consistent', 'resource-only', undefined, undefined, false, 'peer unreachable, doing nothing since disk != UpToDate'],
    [6, 'UpToDate', 'resource-only', undefined, 'Outdated', false, 'peer is active'],
    [7, 'UpToDate', 'resource-and-stonith', 'Outdated', undefined, true, 'peer was stonithed'],
    [7, 'UpToDate', 'resource-only', 'Outdated', undefined, true, 'peer was stonithed'],
    [0, 'UpToDate', 'resource-only', undefined, undefined, false, 'broken'],
    [1, 'UpToDate', 'resource-only', undefined, undefined, false, 'broken'],
    [null, 'UpToDate', 'resource-only', undefined, undefined, false, 'broken'],
  ] as const)('exit %s with disk %s (%s)', (code, disk, fencing, peerDisk, localDisk, fenced, text) => {
    const r = fencePeerOutcome(code, { disk: disk as DiskState, fencing });
    expect(r.peerDisk).toBe(peerDisk);
    expect(r.localDisk).toBe(localDisk);
    expect(r.fenced).toBe(fenced);
    expect(r.text).toBe(text);
  });

  it('logs an error for a broken script, for 6 and for 7 without stonith', () => {
    expect(fencePeerOutcome(1, { disk: 'UpToDate', fencing: 'resource-only' }).error).toBe('fence-peer helper broken, returned 1');
    expect(fencePeerOutcome(null, { disk: 'UpToDate', fencing: 'resource-only' }).error).toBe('fence-peer helper broken, returned no exit code');
    expect(fencePeerOutcome(6, { disk: 'UpToDate', fencing: 'resource-only' }).error).toBe('Peer is primary, outdating myself.');
    expect(fencePeerOutcome(7, { disk: 'UpToDate', fencing: 'resource-only' }).error).toBe('fence-peer() = 7 && fencing != Stonith !!!');
    expect(fencePeerOutcome(7, { disk: 'UpToDate', fencing: 'resource-and-stonith' }).error).toBeUndefined();
    expect(fencePeerOutcome(4, { disk: 'UpToDate', fencing: 'resource-only' }).error).toBeUndefined();
  });
});

describe('checkOutdate', () => {
  it.each([
    ['Secondary', 'UpToDate', 'StandAlone', 'ok'],
    ['Secondary', 'UpToDate', 'WFConnection', 'ok'],
    ['Secondary', 'Consistent', 'StandAlone', 'ok'],
    ['Secondary', 'Outdated', 'StandAlone', 'ok'],
    ['Secondary', 'UpToDate', 'Connected', 'SS_CONNECTED_OUTDATES'],
    ['Secondary', 'UpToDate', 'SyncSource', 'SS_CONNECTED_OUTDATES'],
    ['Secondary', 'Inconsistent', 'StandAlone', 'SS_LOWER_THAN_OUTDATED'],
    ['Secondary', 'Diskless', 'StandAlone', 'SS_LOWER_THAN_OUTDATED'],
    ['Primary', 'UpToDate', 'WFConnection', 'SS_NO_UP_TO_DATE_DISK'],
  ] as const)('%s %s %s → %s', (role, disk, cs, want) => {
    const v = checkOutdate({ role: role as Role, disk: disk as DiskState, cs: cs as ConnState });
    expect(v.ok ? 'ok' : v.error).toBe(want);
  });

  it('uses DRBD\'s wording and exit codes', () => {
    const v = checkOutdate({ role: 'Secondary', disk: 'UpToDate', cs: 'Connected' });
    expect(v).toMatchObject({ ok: false, message: 'State change failed: (-6) Refusing to be Outdated while Connected', exitCode: 11 });
    expect(checkOutdate({ role: 'Secondary', disk: 'Diskless', cs: 'StandAlone' })).toMatchObject({ exitCode: 5 });
  });
});
