// The environment a DRBD handler (user-mode helper) sees. drbdadm sets these names before it runs a
// handler (reference §2.3: DRBD_RESOURCE, DRBD_MINOR, DRBD_CONF, DRBD_PEER_AF, DRBD_PEER_ADDRESS,
// DRBD_PEERS; DRBD 9 adds DRBD_MY_ADDRESS/DRBD_MY_AF, DRBD_VOLUME, DRBD_BACKING_DEV, DRBD_LL_DISK,
// DRBD_CSTATE), so notify and fencing scripts written for DRBD work unchanged. Pure.
import type { ResolvedResource } from '../config/index.js';

export interface HandlerContext {
  /** the connection state when the handler is started (DRBD_CSTATE) */
  cs: string;
  /** the config file, if the daemon knows it (DRBD_CONF) */
  configPath?: string;
}

export function handlerEnv(cfg: ResolvedResource, handler: string, ctx: HandlerContext): Record<string, string> {
  const minor = String(cfg.self.minor);
  return {
    DRBD_RESOURCE: cfg.name,
    DRBD_MINOR: minor,
    [`DRBD_MINOR_0`]: minor,
    DRBD_VOLUME: '0',
    DRBD_CONF: ctx.configPath ?? '',
    // 8.3 scripts read DRBD_PEER (one host name); 8.4 renamed it DRBD_PEERS (a list)
    DRBD_PEER: cfg.peer.name,
    DRBD_PEERS: cfg.peer.name,
    DRBD_PEER_ADDRESS: cfg.peer.address.host,
    DRBD_PEER_AF: cfg.peer.address.family,
    DRBD_MY_ADDRESS: cfg.self.address.host,
    DRBD_MY_AF: cfg.self.address.family,
    DRBD_BACKING_DEV: cfg.self.disk,
    DRBD_LL_DISK: cfg.self.disk,
    DRBD_CSTATE: ctx.cs,
    TANDEM_RESOURCE: cfg.name,
    TANDEM_NODE: cfg.self.name,
    TANDEM_PEER: cfg.peer.name,
    TANDEM_HANDLER: handler,
  };
}
