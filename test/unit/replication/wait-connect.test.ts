// wait-connect's timeout choice and stop rule, from drbdsetup 8.4 (choose_timeout,
// w_connected_state) and drbd_nl.c (drbd_adm_get_timeout_type).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CONN_STATES, type ConnState } from '../../../src/replication/drbd-states.js';
import { chooseWfcTimeout, waitConnectStep, waitSettingsOf, wfcTimeoutType, type WfcTimeoutType } from '../../../src/replication/wait-connect.js';
import { parse, res } from '../config/helpers.js';
import { resolveResource } from '../../../src/config/index.js';

describe('which timeout applies (drbd_adm_get_timeout_type)', () => {
  it.each([
    ['peer disk Outdated', { peerDisk: 'Outdated', degradedAtAttach: false }, 'peer-outdated'],
    ['peer Outdated wins over degraded', { peerDisk: 'Outdated', degradedAtAttach: true }, 'peer-outdated'],
    ['came back from a degraded Primary', { peerDisk: 'DUnknown', degradedAtAttach: true }, 'degraded'],
    ['a normal boot', { peerDisk: 'DUnknown', degradedAtAttach: false }, 'default'],
    ['peer UpToDate', { peerDisk: 'UpToDate', degradedAtAttach: false }, 'default'],
  ] as const)('%s → %s', (_n, state, want) => expect(wfcTimeoutType(state)).toBe(want));
});

describe('choose_timeout: values and clamping', () => {
  const T = (wfcSec: number, degrWfcSec: number, outdatedWfcSec: number) => ({ wfcSec, degrWfcSec, outdatedWfcSec });
  it.each<[string, ReturnType<typeof T>, WfcTimeoutType, number, number]>([
    ['all unset: wait forever', T(0, 0, 0), 'default', 0, 0],
    ['wfc only', T(15, 0, 0), 'default', 15, 2],
    ['degraded with wfc 0 and degr 120 (the common setup)', T(0, 120, 0), 'degraded', 120, 1],
    ['degraded: degr longer than wfc is cut to wfc', T(15, 60, 0), 'degraded', 15, 2],
    ['degraded: degr shorter than wfc is kept', T(60, 15, 5), 'degraded', 15, 0],
    ['peer outdated: outdated 0 (forever) becomes wfc (drbdsetup quirk)', T(60, 15, 0), 'peer-outdated', 60, 1],
    ['peer outdated: shorter outdated is kept', T(60, 15, 5), 'peer-outdated', 5, 0],
    ['peer outdated with nothing set', T(0, 0, 0), 'peer-outdated', 0, 0],
  ])('%s', (_n, t, type, seconds, notes) => {
    const c = chooseWfcTimeout(t, type);
    expect(c.seconds).toBe(seconds);
    expect(c.type).toBe(type);
    expect(c.notes).toHaveLength(notes);
  });
  it("prints drbdsetup's words when it adjusts degr-wfc-timeout", () => {
    expect(chooseWfcTimeout(T(15, 60, 0), 'default').notes[0]).toBe('degr-wfc-timeout has to be shorter than wfc-timeout\ndegr-wfc-timeout implicitly set to wfc-timeout (15s)');
  });
  it('property: with wfc-timeout set, the degraded wait is never longer than wfc-timeout', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 300000 }), fc.integer({ min: 0, max: 300000 }), fc.integer({ min: 0, max: 300000 }), (w, d, o) => {
      const s = chooseWfcTimeout(T(w, d, o), 'degraded').seconds;
      expect(s).toBeGreaterThan(0);
      expect(s).toBeLessThanOrEqual(w);
    }));
  });
});

describe('when waiting stops (w_connected_state)', () => {
  const at = (cs: ConnState) => CONN_STATES.indexOf(cs);
  it.each(CONN_STATES.map((cs) => [cs]))('%s', (cs) => {
    const without = waitConnectStep(cs, false);
    const withSb = waitConnectStep(cs, true);
    if (at(cs) >= at('Connected')) {
      expect([without, withSb]).toEqual(['connected', 'connected']);
    } else if (cs === 'StandAlone' || cs === 'Disconnecting') {
      expect([without, withSb]).toEqual(['refuses-to-connect', 'waiting']);
    } else {
      expect([without, withSb]).toEqual(['waiting', 'waiting']);
    }
  });
});

describe('the startup section', () => {
  it("reads wfc-timeout, degr-wfc-timeout, outdated-wfc-timeout and wait-after-sb, DRBD's defaults otherwise", () => {
    const r = resolveResource(parse(res('  startup { wfc-timeout 15; degr-wfc-timeout 60; outdated-wfc-timeout 5; wait-after-sb; }\n')), 'r0', 'alice');
    expect(waitSettingsOf(r.startup)).toEqual({ wfcSec: 15, degrWfcSec: 60, outdatedWfcSec: 5, waitAfterSb: true });
    const d = resolveResource(parse(res('')), 'r0', 'alice');
    expect(waitSettingsOf(d.startup)).toEqual({ wfcSec: 0, degrWfcSec: 0, outdatedWfcSec: 0, waitAfterSb: false });
  });
});
