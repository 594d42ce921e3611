// When DRBD's state-driven handlers run: pri-on-incon-degr (after_state_ch, 8.3/8.4) and the
// exit codes of before-resync-source / before-resync-target (drbd_start_resync).
import { describe, expect, it } from 'vitest';
import { DISK_STATES, ROLES, type DiskState, type Role } from '../../../src/replication/drbd-states.js';
import { entersPrimaryWithoutGoodData, resyncHandlerVerdict } from '../../../src/replication/state-rules.js';

type S = { role: Role; disk: DiskState; peerDisk: DiskState };
const s = (role: Role, disk: DiskState, peerDisk: DiskState): S => ({ role, disk, peerDisk });

describe('pri-on-incon-degr', () => {
  it.each<[string, S, S, boolean]>([
    ['a Primary on Inconsistent data loses its UpToDate peer', s('Primary', 'Inconsistent', 'UpToDate'), s('Primary', 'Inconsistent', 'DUnknown'), true],
    ['a Diskless Primary loses its peer', s('Primary', 'Diskless', 'UpToDate'), s('Primary', 'Diskless', 'DUnknown'), true],
    ['an UpToDate Primary loses its peer: degraded but its data is good', s('Primary', 'UpToDate', 'UpToDate'), s('Primary', 'UpToDate', 'DUnknown'), false],
    ['already in that state: not again', s('Primary', 'Inconsistent', 'DUnknown'), s('Primary', 'Inconsistent', 'Outdated'), false],
    ['a Secondary never', s('Secondary', 'Inconsistent', 'UpToDate'), s('Secondary', 'Inconsistent', 'DUnknown'), false],
    ['promoted onto Inconsistent data without a good peer', s('Secondary', 'Inconsistent', 'Outdated'), s('Primary', 'Inconsistent', 'Outdated'), true],
  ])('%s → %s', (_n, before, after, want) => expect(entersPrimaryWithoutGoodData(before, after)).toBe(want));

  it('matches the rule over every role and disk pair', () => {
    const bad = (x: S) => x.role === 'Primary' && DISK_STATES.indexOf(x.disk) < 8 && DISK_STATES.indexOf(x.peerDisk) < 8;
    for (const role of ROLES) for (const disk of DISK_STATES) for (const peerDisk of DISK_STATES) {
      const after = s(role, disk, peerDisk);
      expect(entersPrimaryWithoutGoodData(s('Secondary', 'UpToDate', 'UpToDate'), after)).toBe(bad(after));
    }
  });
});

describe('before-resync handler exit codes', () => {
  it.each<[Parameters<typeof resyncHandlerVerdict>[0], number | null, 'go' | 'disconnect']>([
    ['before-resync-target', 0, 'go'],
    ['before-resync-target', null, 'go'],
    ['before-resync-target', 1, 'disconnect'],
    ['before-resync-target', 3, 'disconnect'],
    ['before-resync-source', 0, 'go'],
    ['before-resync-source', 3, 'go'], // "returned 3, ignoring. Old userland tools?"
    ['before-resync-source', 1, 'disconnect'],
    ['before-resync-source', 20, 'disconnect'],
  ])('%s exit %s → %s', (h, code, want) => expect(resyncHandlerVerdict(h, code)).toBe(want));
});
