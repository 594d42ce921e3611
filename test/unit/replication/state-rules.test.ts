import { describe, it, expect } from 'vitest';
import { checkDemote, checkInvalidate, checkPromote, checkVerify, checkDisconnect, type RoleView } from '../../../src/replication/state-rules.js';

const base: RoleView = {
  role: 'Secondary', peerRole: 'Secondary', disk: 'UpToDate', peerDisk: 'UpToDate', cs: 'Connected',
  deviceOpen: false, fencing: 'dont-care', allowTwoPrimaries: false,
};
const v = (p: Partial<RoleView>): RoleView => ({ ...base, ...p });

// DRBD 8.4 is_valid_state / is_valid_soft_transition, reference §6.2
describe('checkPromote (drbdadm primary)', () => {
  const table: [string, Partial<RoleView>, boolean, string | null][] = [
    ['connected, both UpToDate', {}, false, null],
    ['peer already Primary', { peerRole: 'Primary' }, false, 'State change failed: (-1) Multiple primaries not allowed by config'],
    ['peer Primary even with --force', { peerRole: 'Primary' }, true, 'State change failed: (-1) Multiple primaries not allowed by config'],
    ['StandAlone and Inconsistent', { cs: 'StandAlone', disk: 'Inconsistent', peerDisk: 'DUnknown', peerRole: 'Unknown' }, false, 'State change failed: (-2) Need access to UpToDate data'],
    ['StandAlone and Inconsistent with --force', { cs: 'StandAlone', disk: 'Inconsistent', peerDisk: 'DUnknown', peerRole: 'Unknown' }, true, null],
    ['both Inconsistent connected', { disk: 'Inconsistent', peerDisk: 'Inconsistent' }, false, 'State change failed: (-2) Need access to UpToDate data'],
    ['Inconsistent with UpToDate peer (reads through the peer)', { disk: 'Inconsistent', peerDisk: 'UpToDate' }, false, null],
    ['Outdated alone', { cs: 'WFConnection', disk: 'Outdated', peerDisk: 'DUnknown', peerRole: 'Unknown' }, false, 'State change failed: (-2) Need access to UpToDate data'],
    ['Outdated with --force', { cs: 'WFConnection', disk: 'Outdated', peerDisk: 'DUnknown', peerRole: 'Unknown' }, true, null],
    ['UpToDate alone, fencing dont-care', { cs: 'WFConnection', peerDisk: 'DUnknown', peerRole: 'Unknown' }, false, null],
    ['UpToDate alone, fencing resource-only, peer unknown', { cs: 'WFConnection', peerDisk: 'DUnknown', peerRole: 'Unknown', fencing: 'resource-only' }, false, 'State change failed: (-7) Refusing to be Primary while peer is not outdated'],
    ['UpToDate alone, fencing resource-only, peer Outdated', { cs: 'WFConnection', peerDisk: 'Outdated', peerRole: 'Unknown', fencing: 'resource-only' }, false, null],
    ['handshake running', { cs: 'WFReportParams' }, false, 'State change failed: (-18) In transient state, retry after next state change'],
    ['Diskless with UpToDate peer', { disk: 'Diskless' }, false, null],
    ['Diskless alone', { disk: 'Diskless', cs: 'StandAlone', peerDisk: 'DUnknown', peerRole: 'Unknown' }, true, 'State change failed: (-2) Need access to UpToDate data'],
  ];
  for (const [name, patch, force, msg] of table) {
    it(name, () => {
      const r = checkPromote(v(patch), force);
      if (msg === null) expect(r.ok).toBe(true);
      else expect(r).toMatchObject({ ok: false, message: msg });
    });
  }
  it('exit code 17 for SS_NO_UP_TO_DATE_DISK as drbdsetup', () => {
    expect(checkPromote(v({ disk: 'Inconsistent', peerDisk: 'Inconsistent' }), false)).toMatchObject({ exitCode: 17 });
  });
});

describe('checkDemote (drbdadm secondary)', () => {
  it('refuses while the device is open', () => {
    expect(checkDemote(v({ role: 'Primary', deviceOpen: true }))).toMatchObject({ ok: false, message: 'State change failed: (-12) Device is held open by someone' });
  });
  it('allows when closed, and is a no-op for a Secondary', () => {
    expect(checkDemote(v({ role: 'Primary' })).ok).toBe(true);
    expect(checkDemote(v({ deviceOpen: true })).ok).toBe(true);
  });
});

describe('other admin checks', () => {
  it('invalidate needs an UpToDate peer when connected and refuses during resync', () => {
    expect(checkInvalidate(v({}), false).ok).toBe(true);
    expect(checkInvalidate(v({ peerDisk: 'Inconsistent' }), false).ok).toBe(false);
    expect(checkInvalidate(v({ cs: 'SyncSource' }), false)).toMatchObject({ error: 'SS_RESYNC_RUNNING' });
    expect(checkInvalidate(v({ cs: 'StandAlone' }), true)).toMatchObject({ error: 'SS_NEED_CONNECTION' });
  });
  it('verify needs a connection and an algorithm', () => {
    expect(checkVerify(v({ cs: 'WFConnection' }), 'crc32c')).toMatchObject({ error: 'SS_NEED_CONNECTION' });
    expect(checkVerify(v({}), undefined)).toMatchObject({ error: 'SS_NO_VERIFY_ALG' });
    expect(checkVerify(v({}), 'crc32c').ok).toBe(true);
  });
  it('disconnect of a StandAlone device is refused', () => {
    expect(checkDisconnect(v({ cs: 'StandAlone' }))).toMatchObject({ message: 'State change failed: (-9) Can not disconnect a StandAlone device' });
  });
});
