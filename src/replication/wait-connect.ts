// How long `wait-connect` and `wait-sync` wait, and when they stop: DRBD 8.4's init-script
// timeouts (startup { wfc-timeout; degr-wfc-timeout; outdated-wfc-timeout; wait-after-sb; }).
// drbdsetup chooses one of the three by what the kernel reports for the device (drbd_nl.c
// drbd_adm_get_timeout_type: the peer disk Outdated → outdated-wfc-timeout; the node came back
// from being a degraded Primary, i.e. PRIMARY_IND without CONNECTED_IND at attach →
// degr-wfc-timeout; otherwise wfc-timeout), after clamping them as its choose_timeout() does.
// It stops waiting once Connected or once the connection is below Unconnected (StandAlone,
// Disconnecting: a split brain or an auth failure refuses to connect), unless wait-after-sb.
// Pure: the daemon supplies the state; 0 seconds means wait forever.
import type { OptionValue } from '../config/index.js';
import { connRank, type ConnState, type DiskState } from './drbd-states.js';

export type WfcTimeoutType = 'default' | 'degraded' | 'peer-outdated';

export interface WfcTimeouts {
  wfcSec: number;
  degrWfcSec: number;
  outdatedWfcSec: number;
}

export interface WaitSettings extends WfcTimeouts {
  waitAfterSb: boolean;
}

/** The four startup options of a resolved resource (DRBD's defaults: 0, 0, 0, no). */
export function waitSettingsOf(startup: Readonly<Record<string, OptionValue>>): WaitSettings {
  const num = (name: string): number => {
    const v = startup[name];
    return v?.kind === 'number' ? v.value : 0;
  };
  const sb = startup['wait-after-sb'];
  return {
    wfcSec: num('wfc-timeout'),
    degrWfcSec: num('degr-wfc-timeout'),
    outdatedWfcSec: num('outdated-wfc-timeout'),
    waitAfterSb: sb?.kind === 'flag' ? sb.value : false,
  };
}

export function wfcTimeoutType(s: { peerDisk: DiskState; degradedAtAttach: boolean }): WfcTimeoutType {
  if (s.peerDisk === 'Outdated') return 'peer-outdated';
  if (s.degradedAtAttach) return 'degraded';
  return 'default';
}

export interface ChosenTimeout {
  /** 0: wait forever */
  seconds: number;
  type: WfcTimeoutType;
  /** what drbdsetup prints to stderr when it adjusts a value */
  notes: string[];
}

/**
 * drbdsetup 8.4's choose_timeout(), including its quirk: an outdated-wfc-timeout longer than
 * degr-wfc-timeout is replaced by wfc-timeout although the message names degr-wfc-timeout.
 */
export function chooseWfcTimeout(t: WfcTimeouts, type: WfcTimeoutType): ChosenTimeout {
  let { wfcSec, degrWfcSec, outdatedWfcSec } = t;
  const notes: string[] = [];
  if (wfcSec > 0 && (wfcSec < degrWfcSec || degrWfcSec === 0)) {
    degrWfcSec = wfcSec;
    notes.push(`degr-wfc-timeout has to be shorter than wfc-timeout\ndegr-wfc-timeout implicitly set to wfc-timeout (${degrWfcSec}s)`);
  }
  if (degrWfcSec > 0 && (degrWfcSec < outdatedWfcSec || outdatedWfcSec === 0)) {
    outdatedWfcSec = wfcSec;
    notes.push(`outdated-wfc-timeout has to be shorter than degr-wfc-timeout\noutdated-wfc-timeout implicitly set to degr-wfc-timeout (${degrWfcSec}s)`);
  }
  const seconds = type === 'degraded' ? degrWfcSec : type === 'peer-outdated' ? outdatedWfcSec : wfcSec;
  return { seconds, type, notes };
}

export type WaitConnectStep = 'connected' | 'refuses-to-connect' | 'waiting';

/** drbdsetup's w_connected_state(): done at Connected or beyond, or below Unconnected unless wait-after-sb. */
export function waitConnectStep(cs: ConnState, waitAfterSb: boolean): WaitConnectStep {
  if (connRank(cs) >= connRank('Connected')) return 'connected';
  if (connRank(cs) < connRank('Unconnected') && !waitAfterSb) return 'refuses-to-connect';
  return 'waiting';
}
