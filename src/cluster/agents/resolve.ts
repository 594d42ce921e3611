// Which agent runs a haresources resource: the built-ins first (IPaddr, IPaddr2, Filesystem,
// tandemdisk/drbddisk), then scripts in <ha-dir>/resource.d, then init scripts.
import type { HaResource } from '../../config/heartbeat/haresources.js';
import { FilesystemAgent } from './filesystem.js';
import { IpAddrAgent } from './ipaddr.js';
import { ScriptAgent, locateScript } from './script.js';
import { TandemDiskAgent, type TandemAdmOptions } from './tandemdisk.js';
import type { AgentContext, ResourceAgent } from './types.js';

export interface ResolveOptions {
  haDir: string;
  tandemAdm: TandemAdmOptions;
}

export function agentFor(r: HaResource, ctx: AgentContext, o: ResolveOptions): ResourceAgent {
  switch (r.kind) {
    case 'ipaddr': return new IpAddrAgent(r, ctx);
    case 'filesystem': return new FilesystemAgent(r, ctx);
    case 'tandemdisk': return new TandemDiskAgent(r, ctx, o.tandemAdm);
    case 'script': return new ScriptAgent(r, ctx, () => locateScript(r.name, o.haDir));
  }
}
