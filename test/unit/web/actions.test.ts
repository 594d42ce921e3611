// What the status page may ask for, and the request checks that keep other sites from asking.
import { describe, expect, it } from 'vitest';
import { describeAction, parseAction, requestCheck } from '../../../src/web/actions.js';

describe('parseAction', () => {
  it.each<[unknown, string]>([
    [{ action: 'standby' }, 'ok'],
    [{ action: 'takeover' }, 'ok'],
    [{ action: 'primary', resource: 'r0' }, 'ok'],
    [{ action: 'secondary', resource: 'r0' }, 'ok'],
    [{ action: 'primary' }, 'primary needs a resource'],
    [{ action: 'primary', resource: 'r9' }, "'r9' is not a resource of this node (known: r0)"],
    [{ action: 'standby', resource: 'r0' }, 'standby applies to the whole node: no resource'],
    [{ action: 'down', resource: 'r0' }, 'unknown action "down" (standby, takeover, primary, secondary)'],
    [{ action: 'standby', scope: 'foreign' }, "unknown field 'scope'"],
    [[{ action: 'standby' }], 'expected a JSON object {"action": …}'],
    [null, 'expected a JSON object {"action": …}'],
  ])('%j → %s', (body, want) => {
    const r = parseAction(body, ['r0']);
    expect(r.ok ? 'ok' : r.message).toBe(want);
  });

  it('describes what it does for the operational log', () => {
    expect(describeAction({ action: 'standby' }, 'node2')).toBe('standby: node2 gives its resource groups to the peer');
    expect(describeAction({ action: 'secondary', resource: 'r0' }, 'node1')).toBe('secondary r0 on node1');
  });
});

describe('requestCheck', () => {
  const good = { method: 'POST', contentType: 'application/json', marker: '1', host: '127.0.0.1:9944' };
  it.each<[Record<string, string | undefined>, string | null]>([
    [{}, null],
    [{ origin: 'http://127.0.0.1:9944' }, null],
    [{ origin: 'http://evil.example' }, 'cross-origin request from http://evil.example refused'],
    [{ marker: undefined }, 'missing the X-Tandem-Action: 1 header'],
    [{ contentType: 'application/x-www-form-urlencoded' }, 'actions are sent as application/json'],
    [{ method: 'GET' }, 'actions are POST requests'],
  ])('%j → %s', (over, want) => {
    expect(requestCheck({ ...good, ...over })).toBe(want);
  });
});
