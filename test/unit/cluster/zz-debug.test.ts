import { it } from 'vitest';
import { parseHaresources, unwrap } from '../../../src/config/heartbeat/index.js';
import { Controller, type ControllerAction, type ControllerEvent } from '../../../src/cluster/controller.js';
const GROUPS = unwrap(parseHaresources(`alpha IPaddr::10.0.0.10/24 drbddisk::r0 Filesystem::/dev/drbd0::/srv::ext4 httpd\nbeta IPaddr::10.0.0.20/24 mysqld\n`)).groups;
it('trace', () => {
  const c = { alpha: new Controller({ self: 'alpha', peer: 'beta', groups: GROUPS, autoFailback: 'on', stonith: false }, 0), beta: new Controller({ self: 'beta', peer: 'alpha', groups: GROUPS, autoFailback: 'on', stonith: false }, 0) };
  const q: Array<['alpha' | 'beta', ControllerEvent]> = [];
  const run = () => { while (q.length) { const [n, e] = q.shift()!; const acts = c[n].handle(e, 0); for (const a of acts) { const o = n === 'alpha' ? 'beta' : 'alpha';
    if (a.type === 'send-control') { console.log(`${n} -> ${JSON.stringify(a.msg)}`); q.push([o, { type: 'control', from: n, msg: a.msg }]); }
    else if (a.type === 'start-resource' || a.type === 'stop-resource') { console.log(`${n} ${a.type} ${a.resource.text}`); q.push([n, { type: 'resource-result', group: a.group, index: a.index, op: a.type === 'start-resource' ? 'start' : 'stop', ok: true }]); }
    else if (a.type === 'log') console.log(`${n} log ${a.msg}`); } } };
  q.push(['alpha', { type: 'membership', node: 'beta', state: 'up' }], ['beta', { type: 'membership', node: 'alpha', state: 'up' }]); run();
  console.log('----- takeover');
  q.push(['beta', { type: 'takeover-request', scope: 'all' }]); run();
});
