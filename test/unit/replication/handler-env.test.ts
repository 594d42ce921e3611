// The environment of a handler: DRBD's variable names, so DRBD's notify and fencing scripts work.
import { describe, it, expect } from 'vitest';
import { handlerEnv } from '../../../src/replication/handler-env.js';
import type { ResolvedResource } from '../../../src/config/index.js';

const cfg = {
  name: 'r0',
  self: { name: 'alpha', minor: 3, disk: '/dev/vg/data', address: { family: 'ipv4', host: '10.0.0.1', port: 7789 } },
  peer: { name: 'beta', minor: 3, disk: '/dev/vg/data', address: { family: 'ipv6', host: 'fd00::2', port: 7789 } },
} as unknown as ResolvedResource;

describe('handlerEnv', () => {
  it('sets DRBD 8.4 and 9 names and Tandem extras', () => {
    expect(handlerEnv(cfg, 'split-brain', { cs: 'WFReportParams', configPath: '/etc/tandem.conf' })).toEqual({
      DRBD_RESOURCE: 'r0',
      DRBD_MINOR: '3',
      DRBD_MINOR_0: '3',
      DRBD_VOLUME: '0',
      DRBD_CONF: '/etc/tandem.conf',
      DRBD_PEER: 'beta',
      DRBD_PEERS: 'beta',
      DRBD_PEER_ADDRESS: 'fd00::2',
      DRBD_PEER_AF: 'ipv6',
      DRBD_MY_ADDRESS: '10.0.0.1',
      DRBD_MY_AF: 'ipv4',
      DRBD_BACKING_DEV: '/dev/vg/data',
      DRBD_LL_DISK: '/dev/vg/data',
      DRBD_CSTATE: 'WFReportParams',
      TANDEM_RESOURCE: 'r0',
      TANDEM_NODE: 'alpha',
      TANDEM_PEER: 'beta',
      TANDEM_HANDLER: 'split-brain',
    });
  });

  it('leaves DRBD_CONF empty when the daemon does not say', () => {
    expect(handlerEnv(cfg, 'fence-peer', { cs: 'StandAlone' }).DRBD_CONF).toBe('');
  });
});
