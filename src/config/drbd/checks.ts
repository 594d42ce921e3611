// Checks across resources, made once everything (includes too) is read: an IP:port or a minor
// used twice (drbdadm's "conflicting use of IP …" / "device-minor"), and the final list of
// what each resource needs that Tandem does not implement, including options it inherits from
// common.

import { fail, type SourceLoc } from './errors.js';
import { SECTION_NAMES, type OptionEntry, type ResourceConfig, type SectionName, type TandemConfig } from './model.js';
import { optionDef } from './options.js';

/** drbdadm scopes loopback and link-local addresses per host (addr_scope_local): two nodes
 * may both listen on 127.0.0.1:7789 on their own machines. */
function isHostLocal(host: string): boolean {
  return host.startsWith('127.') || host === '::1' || host.toLowerCase().startsWith('fe80:');
}

export function checkConfig(cfg: TandemConfig): void {
  const addrs = new Map<string, { res: string; loc: SourceLoc }>();
  const minors = new Map<string, { res: string; loc: SourceLoc }>();
  for (const r of cfg.resources) {
    for (const h of r.hosts) {
      if (h.address) {
        const a = h.address;
        const shown = a.family === 'ipv6' ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
        const keys = isHostLocal(a.host) ? h.names.map((n) => `${n}:${shown}`) : [shown];
        for (const k of keys) {
          const first = addrs.get(k);
          const at = h.addressLoc ?? h.loc;
          if (first && first.res !== r.name) {
            fail(at, `in resource ${r.name}, on ${h.names.join(' ')}: address ${shown} is already used by resource ${first.res} (${first.loc.file}:${first.loc.line})`);
          }
          if (first && first.res === r.name) fail(at, `in resource ${r.name}: two hosts use the same address ${shown}`);
          addrs.set(k, { res: r.name, loc: at });
        }
      }
      const dev = h.device ?? r.defaults.device;
      if (!dev) continue;
      for (const n of h.names) {
        const k = `${n}:${dev.minor}`;
        const first = minors.get(k);
        if (first) {
          fail(h.loc, `in resource ${r.name}: minor ${dev.minor} on host ${n} is already used by resource ${first.res} (${first.loc.file}:${first.loc.line})`);
        }
        minors.set(k, { res: r.name, loc: h.loc });
      }
    }
    r.unsupported.push(...unsupportedOptions(cfg, r));
    r.unsupported.sort((a, b) => (a.file === b.file ? a.line - b.line || a.col - b.col : 0));
  }
}

/** The entry that applies for each option: the resource's last, else common's last. */
export function effectiveEntries(cfg: TandemConfig, r: ResourceConfig, section: SectionName): Map<string, OptionEntry> {
  const m = new Map<string, OptionEntry>();
  for (const e of cfg.common[section]) m.set(e.name, e);
  for (const e of r.sections[section]) m.set(e.name, e);
  return m;
}

function unsupportedOptions(cfg: TandemConfig, r: ResourceConfig): ResourceConfig['unsupported'] {
  const out: ResourceConfig['unsupported'] = [];
  for (const section of SECTION_NAMES) {
    for (const e of effectiveEntries(cfg, r, section).values()) {
      const def = optionDef(section, e.name);
      if (def.support === 'no' && (!def.unsupportedIf || def.unsupportedIf(e.value))) {
        out.push({ option: e.name, file: e.loc.file, line: e.loc.line, col: e.loc.col });
      }
    }
  }
  return out;
}
