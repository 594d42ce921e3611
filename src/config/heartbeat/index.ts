// heartbeat's three files and the checks that need more than one of them (heartbeat's
// init_config and parse_ha_resources run these after each file parsed on its own).

import { HaConfigError } from './errors.js';
import type { HaCf } from './ha-cf.js';
import type { HaResources } from './haresources.js';

export * from './errors.js';
export * from './ha-cf.js';
export * from './authkeys.js';
export * from './haresources.js';
export { parseHbTime, parseHbBoolean } from './values.js';

export interface HaSetup {
  haCf: HaCf;
  haresources: HaResources;
  /** this host's node name (`--node`, else `uname -n`); compared case-insensitively as heartbeat does */
  self: string;
}

/** The peer of `self` in a two-node ha.cf, or null for a one-node cluster. */
export function peerOf(haCf: HaCf, self: string): string | null {
  return haCf.nodes.find((n) => n !== self.toLowerCase()) ?? null;
}

export function checkHaSetup(setup: HaSetup): HaConfigError[] {
  const errors: HaConfigError[] = [];
  const self = setup.self.toLowerCase();
  const { haCf, haresources } = setup;
  if (!haCf.nodes.includes(self)) {
    errors.push(new HaConfigError(haCf.file, 0, 0,
      `Current node [${self}] not in configuration! Nodes are named by \`uname -n\` (or --node) and must be declared with a 'node' directive; ha.cf lists: ${haCf.nodes.join(', ')}`));
  }
  if (haCf.nodes.length > 2) {
    errors.push(new HaConfigError(haCf.file, 0, 0,
      `ha.cf lists ${haCf.nodes.length} nodes (${haCf.nodes.join(', ')}); Tandem's haresources controller runs two-node clusters`));
  }
  for (const g of haresources.groups) {
    if (!haCf.nodes.includes(g.node)) {
      errors.push(new HaConfigError(haresources.file, g.line, 1,
        `Bad nodename in haresources [${g.node}]: it is not a 'node' in ${haCf.file} (${haCf.nodes.join(', ')})`));
    }
  }
  return errors;
}
