// heartbeat's respawn rules (ha.cf(5), heartbeat.c ManagedChildDied): exit 100 is never restarted;
// deaths within 30 s of the start are fast, and more than 10 fast ones in a row give up.
import { describe, expect, it } from 'vitest';
import { MAX_FAST_RESPAWNS, respawnDecision } from '../../../src/cluster/respawn.js';

describe('respawnDecision', () => {
  it.each([
    ['a crash after a long run restarts and resets the count', { code: 1, signal: null }, 60_000, 5, { action: 'restart', fastDeaths: 0 }],
    ['a quick crash restarts and counts', { code: 1, signal: null }, 2_000, 0, { action: 'restart', fastDeaths: 1 }],
    ['killed by a signal restarts', { code: null, signal: 'SIGKILL' }, 60_000, 0, { action: 'restart', fastDeaths: 0 }],
    ['a clean exit 0 restarts too (heartbeat keeps clients running)', { code: 0, signal: null }, 40_000, 0, { action: 'restart', fastDeaths: 0 }],
    ['the tenth fast death still restarts', { code: 1, signal: null }, 100, MAX_FAST_RESPAWNS - 1, { action: 'restart', fastDeaths: MAX_FAST_RESPAWNS }],
  ] as const)('%s', (_n, exit, ranMs, fast, want) => expect(respawnDecision(exit, ranMs, fast)).toEqual(want));

  it('exit status 100 is never restarted', () => {
    expect(respawnDecision({ code: 100, signal: null }, 60_000, 0)).toMatchObject({ action: 'give-up', reason: 'exited with status 100: not respawning it' });
  });
  it('the eleventh fast death in a row gives up: "respawning too fast"', () => {
    let fast = 0;
    for (let i = 0; i < MAX_FAST_RESPAWNS; i++) {
      const d = respawnDecision({ code: 1, signal: null }, 500, fast);
      expect(d.action).toBe('restart');
      fast = d.fastDeaths;
    }
    expect(respawnDecision({ code: 1, signal: null }, 500, fast)).toMatchObject({ action: 'give-up', reason: 'respawning too fast: giving up on it' });
  });
});
