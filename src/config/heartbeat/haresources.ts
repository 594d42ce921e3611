// haresources: heartbeat v1 resource groups, read as ResourceManager reads them (sed: strip `#`
// comments, join `\` continuations, squeeze blanks; awk: lower-case the node). Each line is
// `NODE res1 res2 …`; the first resource names the group and must be unique; resources start
// left to right and stop right to left. `Agent::a::b` passes arguments (`Agent a b ACTION`);
// anything spelled like an IPv4 address means IPaddr::that.

import { HaConfigError, type HaDiagnostic, type HaParseResult, warning } from './errors.js';
import { tokenizeLines, type Token } from './tokens.js';
import { parseIpv4 } from './values.js';

interface ResourceBase {
  /** the resource as written in haresources (what logs and status show) */
  text: string;
  /** script or agent name after canonicalisation (a bare IP becomes IPaddr) */
  name: string;
  /** the `::`-separated arguments, passed before the action: `name arg1 arg2 start` */
  args: string[];
  line: number;
  col: number;
}

export interface IpAddrResource extends ResourceBase {
  kind: 'ipaddr';
  agent: 'IPaddr' | 'IPaddr2';
  ip: string;
  cidr: number | null;
  iface: string | null;
  /** the `:label` of `eth0:1` */
  label: string | null;
  broadcast: string | null;
}

export interface FilesystemResource extends ResourceBase {
  kind: 'filesystem';
  device: string;
  directory: string;
  fstype: string | null;
  options: string | null;
}

export interface TandemDiskResource extends ResourceBase {
  kind: 'tandemdisk';
  agent: 'tandemdisk' | 'drbddisk';
  /** null: no argument, which drbddisk reads as "all resources" */
  resource: string | null;
}

/** Anything else: a script in <ha-dir>/resource.d/ or an init script. */
export interface ScriptResource extends ResourceBase {
  kind: 'script';
}

export type HaResource = IpAddrResource | FilesystemResource | TandemDiskResource | ScriptResource;

export interface HaResourceGroup {
  /** preferred node, lower-cased like heartbeat */
  node: string;
  /** the first resource's text: names the group, unique in the file */
  key: string;
  resources: HaResource[];
  line: number;
}

export interface HaResources { file: string; groups: HaResourceGroup[] }

export interface HaResourcesOptions { file?: string }

/** ResourceManager's isip(): the shell pattern [0-9]*.[0-9]*.[0-9]*.[0-9]* */
function looksLikeIp(text: string): boolean {
  return /^[0-9].*\.[0-9].*\.[0-9].*\.[0-9].*$/.test(text);
}

type Parsed = { ok: true; resource: HaResource } | { ok: false; col: number; reason: string };

function parseIpSpec(base: ResourceBase, agent: 'IPaddr' | 'IPaddr2'): Parsed {
  const fail = (reason: string): Parsed => ({ ok: false, col: base.col, reason });
  const usage = `${agent}::IP[/CIDR[/IFACE[:LABEL][/BROADCAST]]]`;
  if (base.args.length !== 1 || base.args[0] === '') return fail(`${agent} takes one argument: ${usage}`);
  const parts = base.args[0]!.split('/');
  if (parts.length > 4) return fail(`'${base.args[0]}' has too many '/' fields: ${usage}`);
  const [ip, cidrText, third, fourth] = parts as [string, string?, string?, string?];
  if (!parseIpv4(ip)) return fail(`'${ip}' is not an IPv4 address (${usage})`);
  let cidr: number | null = null;
  if (cidrText !== undefined) {
    if (/^\d{1,2}$/.test(cidrText) && Number(cidrText) >= 1 && Number(cidrText) <= 32) cidr = Number(cidrText);
    else {
      const mask = parseIpv4(cidrText);
      const bits = mask ? mask.reduce((acc, o) => acc * 256 + o, 0).toString(2).padStart(32, '0') : '';
      if (!mask || !/^1+0*$/.test(bits)) return fail(`'${cidrText}' is not a netmask length (1-32) in '${base.args[0]}'`);
      cidr = bits.indexOf('0') === -1 ? 32 : bits.indexOf('0');
    }
  }
  let iface: string | null = null;
  let label: string | null = null;
  let broadcast: string | null = null;
  // heartbeat's IPaddr: a dotted third field is the broadcast address, otherwise the interface
  if (third !== undefined) {
    if (parseIpv4(third)) {
      if (fourth !== undefined) return fail(`'${base.args[0]}': nothing may follow the broadcast address`);
      broadcast = third;
    } else {
      if (!/^[A-Za-z0-9_.@-]+(:[A-Za-z0-9_.-]+)?$/.test(third)) return fail(`'${third}' is not an interface name in '${base.args[0]}'`);
      const colon = third.indexOf(':');
      iface = colon >= 0 ? third.slice(0, colon) : third;
      label = colon >= 0 ? third.slice(colon + 1) : null;
      if (fourth !== undefined) {
        if (!parseIpv4(fourth)) return fail(`'${fourth}' is not a broadcast IPv4 address in '${base.args[0]}'`);
        broadcast = fourth;
      }
    }
  }
  return { ok: true, resource: { ...base, kind: 'ipaddr', agent, ip, cidr, iface, label, broadcast } };
}

function parseResource(tok: Token): Parsed {
  const canon = looksLikeIp(tok.text) ? `IPaddr::${tok.text}` : tok.text;
  const sep = canon.indexOf('::');
  const name = sep >= 0 ? canon.slice(0, sep) : canon;
  const args = sep >= 0 ? canon.slice(sep + 2).split('::') : [];
  const base: ResourceBase = { text: tok.text, name, args, line: tok.line, col: tok.col };
  const fail = (reason: string): Parsed => ({ ok: false, col: tok.col, reason });
  if (name === '') return fail(`'${tok.text}' has no resource name before '::'`);
  if (name.includes('/')) return fail(`'${name}' must be a plain script name (looked up in <ha-dir>/resource.d and the init script directory), not a path`);
  switch (name) {
    case 'IPaddr':
    case 'IPaddr2':
      return parseIpSpec(base, name);
    case 'Filesystem': {
      const [device, directory, fstype, opts, extra] = args;
      if (!device || !directory) return fail('Filesystem needs a device and a mount point: Filesystem::DEVICE::DIR[::FSTYPE[::OPTIONS]]');
      if (extra !== undefined) return fail(`Filesystem takes at most four arguments: DEVICE::DIR::FSTYPE::OPTIONS; unexpected '${extra}'`);
      if (!directory.startsWith('/')) return fail(`Filesystem mount point '${directory}' must be an absolute path`);
      if (fstype === '') return fail('Filesystem: empty file system type');
      return { ok: true, resource: { ...base, kind: 'filesystem', device, directory, fstype: fstype ?? null, options: opts ?? null } };
    }
    case 'tandemdisk':
    case 'drbddisk': {
      if (args.length > 1) return fail(`${name} takes one argument, the resource name: ${name}::r0`);
      if (args[0] === '') return fail(`${name}:: needs a resource name after '::'`);
      return { ok: true, resource: { ...base, kind: 'tandemdisk', agent: name, resource: args[0] ?? null } };
    }
    default:
      return { ok: true, resource: { ...base, kind: 'script' } };
  }
}

export function parseHaresources(text: string, options: HaResourcesOptions = {}): HaParseResult<HaResources> {
  const file = options.file ?? 'haresources';
  const errors: HaConfigError[] = [];
  const warnings: HaDiagnostic[] = [];
  const groups: HaResourceGroup[] = [];
  const keys = new Map<string, number>();

  // Join `\` continuations into logical lines, keeping each token's own position.
  const logical: Token[][] = [];
  let pending: Token[] | null = null;
  const lines = tokenizeLines(text, 'anywhere');
  for (const l of lines) {
    const cur: Token[] = pending ?? [];
    cur.push(...l.tokens);
    if (l.continues) { pending = cur; continue; }
    pending = null;
    if (cur.length > 0) logical.push(cur);
  }
  if (pending) {
    const last = lines[lines.length - 1];
    warnings.push(warning(file, last?.line ?? 0, 1, "the file ends with a '\\' continuation"));
    if (pending.length > 0) logical.push(pending);
  }

  for (const toks of logical) {
    const [nodeTok, ...resTokens] = toks as [Token, ...Token[]];
    if (nodeTok.text.includes('::') || looksLikeIp(nodeTok.text)) {
      errors.push(new HaConfigError(file, nodeTok.line, nodeTok.col, `a line must start with the preferred node's name, not a resource ('${nodeTok.text}')`));
      continue;
    }
    if (resTokens.length === 0) {
      errors.push(new HaConfigError(file, nodeTok.line, nodeTok.col, `node '${nodeTok.text}' has no resources on this line`));
      continue;
    }
    const resources: HaResource[] = [];
    let bad = false;
    for (const t of resTokens) {
      const r = parseResource(t);
      if (!r.ok) { errors.push(new HaConfigError(file, t.line, r.col, r.reason)); bad = true; continue; }
      resources.push(r.resource);
    }
    if (bad) continue;
    const key = resources[0]!.text;
    const firstLine = keys.get(key);
    if (firstLine !== undefined) {
      errors.push(new HaConfigError(file, resTokens[0]!.line, resTokens[0]!.col, `the first resource of a line names its group and must be unique: '${key}' already starts the group on line ${firstLine}`));
      continue;
    }
    keys.set(key, nodeTok.line);
    groups.push({ node: nodeTok.text.toLowerCase(), key, resources, line: nodeTok.line });
  }

  if (errors.length > 0) return { ok: false, errors, warnings };
  return { ok: true, value: { file, groups }, warnings };
}
