// Normalised printing: 8.4 spelling (syncer options in disk/net, protocol in net, no-* flags as
// `flag no`), one statement per line, 4-space indent. The output parses back to the same model
// (`parse(dump(parse(x)))` equals `parse(x)` apart from source positions). Constructs Tandem
// does not implement are printed as written, with a comment saying so.

import type { RawArg, RawNode } from './ast.js';
import type { DeviceSpec, HostSection, MetaDisk, OptionEntry, OptionValue, ResourceConfig, SectionName, SectionSet, TandemConfig, VolumeSpec } from './model.js';
import { SECTION_NAMES } from './model.js';
import { optionDef } from './options.js';

const IND = '    ';
const BARE = /^[A-Za-z0-9/._-]+$/;

export function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function word(s: string): string {
  return BARE.test(s) ? s : quote(s);
}

export function dumpConfig(cfg: TandemConfig, resource?: string): string {
  if (resource !== undefined) {
    const r = cfg.resources.find((x) => x.name === resource);
    if (!r) throw new Error(`unknown resource '${resource}' (defined: ${cfg.resources.map((x) => x.name).join(', ') || 'none'})`);
    return dumpResource(r).join('\n') + '\n';
  }
  const out: string[] = [`# ${cfg.files.join(', ')} (normalised by tandem)`];
  const globals = Object.entries(cfg.global);
  if (globals.length) {
    out.push('global {', ...globals.map(([k, v]) => `${IND}${k} ${valueText(k, 'global', v)};`), '}', '');
  }
  const common = sections(cfg.common, IND);
  if (common.length) out.push('common {', ...common, '}', '');
  for (const r of cfg.resources) out.push(...dumpResource(r), '');
  return out.join('\n').replace(/\n+$/, '') + '\n';
}

function dumpResource(r: ResourceConfig): string[] {
  return [
    `resource ${word(r.name)} {`,
    ...sections(r.sections, IND),
    ...volumeLines(r.defaults, IND),
    ...r.hosts.flatMap((h) => hostLines(h, IND)),
    ...r.extras.flatMap((x) => rawLines(x, IND, true)),
    '}',
  ];
}

function sections(set: SectionSet, ind: string): string[] {
  const out: string[] = [];
  for (const s of SECTION_NAMES) {
    if (!set[s].length) continue;
    out.push(`${ind}${s} {`, ...set[s].map((e) => entryLine(e, s, ind + IND)), `${ind}}`);
  }
  return out;
}

function entryLine(e: OptionEntry, section: SectionName, ind: string): string {
  const def = optionDef(section, e.name);
  const unsupported = def.support === 'no' && (!def.unsupportedIf || def.unsupportedIf(e.value));
  const note = unsupported ? ' # not implemented by Tandem' : '';
  return `${ind}${e.name} ${valueText(e.name, section, e.value)};${note}`;
}

function valueText(name: string, section: SectionName | 'global', v: OptionValue): string {
  switch (v.kind) {
    case 'flag':
      return v.value ? 'yes' : 'no';
    case 'number':
      return v.text;
    case 'enum':
      return v.value;
    case 'string':
      return section === 'handlers' || name === 'shared-secret' ? quote(v.value) : word(v.value);
    case 'list':
      return v.value.map(word).join(' ');
  }
}

function deviceText(d: DeviceSpec): string {
  if (d.path === null) return `minor ${d.minor}`;
  const trailing = /(\d+)$/.exec(d.path);
  return trailing && Number(trailing[1]) === d.minor ? word(d.path) : `${word(d.path)} minor ${d.minor}`;
}

function metaDiskText(m: MetaDisk): string {
  if (m.kind === 'internal') return 'internal';
  if (m.kind === 'flexible' || m.index === null) return word(m.path);
  return `${word(m.path)} [${m.index}]`;
}

function volumeLines(v: VolumeSpec, ind: string): string[] {
  const out: string[] = [];
  if (v.device) out.push(`${ind}device ${deviceText(v.device)};`);
  if (v.disk !== undefined) out.push(`${ind}disk ${word(v.disk)};`);
  if (v.metaDisk) out.push(`${ind}meta-disk ${metaDiskText(v.metaDisk)};`);
  return out;
}

function hostLines(h: HostSection, ind: string): string[] {
  const out = [`${ind}on ${h.names.map(word).join(' ')} {`, ...volumeLines(h, ind + IND)];
  if (h.address) {
    const a = h.address;
    const addr = a.family === 'ipv6' ? `[${a.host}]` : a.host;
    out.push(`${ind}${IND}address ${a.family} ${addr}:${a.port};${a.family === 'ipv4' || a.family === 'ipv6' ? '' : ' # not implemented by Tandem'}`);
  }
  if (h.nodeId !== undefined) out.push(`${ind}${IND}node-id ${h.nodeId}; # DRBD 9, not implemented by Tandem`);
  out.push(...h.extras.flatMap((x) => rawLines(x, ind + IND, true)), `${ind}}`);
  return out;
}

function rawArgs(args: readonly RawArg[]): string {
  let s = '';
  args.forEach((a, i) => {
    const prev = args[i - 1];
    const glued = prev && !prev.quoted && (prev.text === '[' || prev.text === ':');
    const punct = !a.quoted && (a.text === ']' || a.text === ':');
    s += (i === 0 || glued || punct ? '' : ' ') + (a.quoted ? quote(a.text) : a.text);
  });
  // `meta-disk /dev/x [7]` and `device … minor` read better with the space drbdadm prints.
  return s;
}

function rawLines(n: RawNode, ind: string, top: boolean): string[] {
  const args = n.args.length ? ` ${rawArgs(n.args)}` : '';
  const note = top ? ' # not implemented by Tandem' : '';
  if (!n.block) return [`${ind}${n.keyword}${args};`];
  return [`${ind}${n.keyword}${args} {${note}`, ...n.block.flatMap((c) => rawLines(c, ind + IND, false)), `${ind}}`];
}
