// Statement tree → TandemConfig: the top level (global, common, resource, include), resource
// bodies, and the bookkeeping of warnings and of what Tandem does not implement.

import { Args, expectBlock } from './args.js';
import type { Stmt } from './ast.js';
import { locOf, toRaw } from './ast.js';
import { ConfigError, fail, type ConfigWarning, type SourceLoc } from './errors.js';
import { parseHost, parseProxyOn, parseVolume, volumeStatement, type HostContext } from './hosts.js';
import type { IncludeResolver } from './include.js';
import type { Token } from './lexer.js';
import { emptySections, type OptionEntry, type ResourceConfig, type SectionSet, type TandemConfig } from './model.js';
import type { OptionDef } from './options.js';
import { parseStatements } from './parser.js';
import { parseOptionBlock, parseOptionStmt, type OptionSink } from './sections.js';
import { parseAddress } from './values.js';

const MAX_INCLUDE_DEPTH = 10; // as drbdadm

interface State {
  cfg: TandemConfig;
  globalAt?: SourceLoc;
  commonAt?: SourceLoc;
  resourceAt: Map<string, SourceLoc>;
  resolver: IncludeResolver;
  depth: number;
}

export function buildConfig(text: string, file: string, resolver: IncludeResolver): TandemConfig {
  const st: State = {
    cfg: { global: {}, common: emptySections(), resources: [], warnings: [], files: [file] },
    resourceAt: new Map(),
    resolver,
    depth: 0,
  };
  topLevel(parseStatements(text, file, (at, m) => warn(st, at, m)), st);
  return st.cfg;
}

const TOP_KEYWORDS = 'global, common, resource, include, skip';

function topLevel(stmts: readonly Stmt[], st: State): void {
  for (const s of stmts) {
    switch (s.keyword.text) {
      case 'global':
        global(s, st);
        break;
      case 'common':
        common(s, st);
        break;
      case 'resource':
        st.cfg.resources.push(resource(s, st));
        break;
      case 'include':
        include(s, st);
        break;
      default:
        fail(s.keyword, `unknown keyword '${s.keyword.text}' at top level (expected one of: ${TOP_KEYWORDS})`);
    }
  }
}

function warn(st: State, at: SourceLoc, message: string): void {
  const w: ConfigWarning = { file: at.file, line: at.line, col: at.col, message };
  st.cfg.warnings.push(w);
}

function global(s: Stmt, st: State): void {
  if (st.globalAt) fail(s.keyword, `a second 'global' section (the first is at line ${st.globalAt.line}); only one is allowed`);
  st.globalAt = locOf(s.keyword);
  if (st.cfg.resources.length) warn(st, s.keyword, "the 'global' section should come before any resource");
  const seen = new Map<string, SourceLoc>();
  parseOptionBlock(expectBlock(s), 'global', {
    option: (e) => {
      const first = seen.get(e.name);
      if (first) warn(st, e.loc, `'${e.name}' given again in 'global' (first at line ${first.line}); the last value is used`);
      seen.set(e.name, e.loc);
      st.cfg.global[e.name] = e.value;
    },
    warn: (at, m) => warn(st, at, m),
  });
}

function isUnsupportedValue(def: OptionDef, e: OptionEntry): boolean {
  return def.support === 'no' && (!def.unsupportedIf || def.unsupportedIf(e.value));
}

/** Stores options into a SectionSet, warning on duplicates and on what Tandem does not implement. */
function sectionSink(st: State, into: SectionSet, scope: string): OptionSink {
  return {
    option: (e, def) => {
      if (def.section === 'global') fail(e.loc, `'${e.name}' belongs in the 'global' section`);
      const list = into[def.section];
      const first = list.find((x) => x.name === e.name);
      if (first) warn(st, e.loc, `'${e.name}' is set twice in ${scope} (first at line ${first.loc.line}); the last value is used`);
      list.push(e);
      if (isUnsupportedValue(def, e)) {
        const what = def.drbd9 ? `'${e.name}' is a DRBD 9 option that Tandem does not implement` : `'${e.name}' is not implemented by Tandem`;
        warn(st, e.loc, `${what}; 'up' refuses ${scope === 'common' ? 'every resource that inherits it' : scope}`);
      }
    },
    warn: (at, m) => warn(st, at, m),
  };
}

/** net, disk { }, startup, handlers, options, syncer and the 8.3 `protocol X;` — shared by common and resource. */
function sectionStatement(s: Stmt, sink: OptionSink): boolean {
  const kw = s.keyword.text;
  switch (kw) {
    case 'net':
    case 'startup':
    case 'handlers':
    case 'options':
    case 'syncer':
      parseOptionBlock(expectBlock(s), kw, sink);
      return true;
    case 'disk':
      if (!s.block) return false;
      parseOptionBlock(expectBlock(s), 'disk', sink);
      return true;
    case 'protocol': // 8.3: at resource or common level; 8.4 has it in net
      parseOptionStmt(s, 'net', sink);
      return true;
    default:
      return false;
  }
}

function common(s: Stmt, st: State): void {
  if (st.commonAt) fail(s.keyword, `a second 'common' section (the first is at line ${st.commonAt.line}); only one is allowed`);
  st.commonAt = locOf(s.keyword);
  if (st.cfg.resources.length) warn(st, s.keyword, "the 'common' section should come before any resource");
  const sink = sectionSink(st, st.cfg.common, 'common');
  for (const c of expectBlock(s)) {
    if (sectionStatement(c, sink)) continue;
    if (c.keyword.text === 'on') fail(c.keyword, `'on' sections are not allowed in 'common' (only in a resource)`);
    if (['disk', 'device', 'meta-disk', 'flexible-meta-disk'].includes(c.keyword.text)) {
      fail(c.keyword, `'${c.keyword.text} …;' is not allowed in 'common'; give it in a resource or its 'on' sections`);
    }
    fail(c.keyword, `unknown keyword '${c.keyword.text}' in 'common' (expected one of: net, disk, startup, handlers, options, syncer, protocol)`);
  }
}

const RESOURCE_KEYWORDS =
  'net, disk, startup, handlers, options, syncer, protocol, on, device, meta-disk, flexible-meta-disk, volume, stacked-on-top-of, floating, proxy, connection-mesh';

function resourceName(s: Stmt): Token {
  const a = new Args(s);
  const name = a.text('a resource name');
  a.endBlock();
  if (!/^[A-Za-z0-9_.\-/:]+$/.test(name.text)) fail(name, `invalid resource name '${name.text}' (letters, digits, '_', '-', '.')`);
  return name;
}

function resource(s: Stmt, st: State): ResourceConfig {
  const nameTok = resourceName(s);
  const name = nameTok.text;
  const first = st.resourceAt.get(name);
  if (first) fail(s.keyword, `resource '${name}' is defined twice (first at ${first.file}:${first.line}:${first.col})`);
  st.resourceAt.set(name, locOf(s.keyword));
  const res: ResourceConfig = {
    name,
    loc: locOf(s.keyword),
    sections: emptySections(),
    defaults: {},
    hosts: [],
    extras: [],
    unsupported: [],
  };
  const scope = `resource ${name}`;
  const sink = sectionSink(st, res.sections, scope);
  const ctx: HostContext = {
    resource: name,
    unsupported: (at, option, why) => {
      res.unsupported.push({ option, file: at.file, line: at.line, col: at.col });
      warn(st, at, `${why}; 'up' refuses ${scope}`);
    },
    warn: (at, m) => warn(st, at, m),
  };
  const defaultsAt = new Map<string, Token>();
  const meshHosts: Token[] = [];
  for (const c of s.block!) {
    if (sectionStatement(c, sink)) continue;
    const kw = c.keyword;
    const key = volumeStatement(c, res.defaults);
    if (key) {
      const prev = defaultsAt.get(key);
      if (prev) warn(st, kw, `'${kw.text}' is set twice in ${scope} (first at line ${prev.line}); the last value is used`);
      defaultsAt.set(key, kw);
      continue;
    }
    switch (kw.text) {
      case 'on': {
        const host = parseHost(c, ctx);
        for (const n of host.names) {
          const dup = res.hosts.find((h) => h.names.includes(n));
          if (dup) fail(kw, `host '${n}' has two 'on' sections in ${scope} (first at line ${dup.loc.line})`);
        }
        res.hosts.push(host);
        break;
      }
      case 'volume':
        parseVolume(c, ctx);
        res.extras.push(toRaw(c));
        break;
      case 'stacked-on-top-of':
        stacked(c);
        res.extras.push(toRaw(c));
        ctx.unsupported(kw, 'stacked-on-top-of', 'stacked resources are not implemented by Tandem');
        break;
      case 'floating': {
        const a = new Args(c);
        parseAddress(a);
        if (c.block) a.endBlock();
        else a.end();
        res.extras.push(toRaw(c));
        ctx.unsupported(kw, 'floating', "'floating' host sections are not implemented by Tandem; use 'on HOST { }'");
        break;
      }
      case 'proxy':
        expectBlock(c); // DRBD Proxy settings: free-form plugin lines
        res.extras.push(toRaw(c));
        ctx.unsupported(kw, 'proxy', 'DRBD Proxy is not implemented by Tandem');
        break;
      case 'connection-mesh':
        meshHosts.push(...connectionMesh(c, ctx));
        res.extras.push(toRaw(c));
        ctx.unsupported(kw, 'connection-mesh', "'connection-mesh' is DRBD 9 (multi-peer) syntax; Tandem runs two-node resources");
        break;
      case 'ignore-on':
        warn(st, kw, "'ignore-on' is deprecated and ignored (as by drbdadm)");
        break;
      case 'include':
        fail(kw, `'include' is only allowed at top level, not inside ${scope}`);
        break;
      case 'connection':
      case 'path':
        fail(kw, `'${kw.text}' sections are DRBD 9 (multi-peer) syntax, which Tandem does not accept; describe the two nodes with 'on HOST { address …; }'`);
        break;
      default:
        fail(kw, `unknown keyword '${kw.text}' in ${scope} (expected one of: ${RESOURCE_KEYWORDS})`);
    }
  }
  completeHosts(res);
  // drbdadm refuses a mesh naming a host that has no section; so does Tandem, before refusing
  // the mesh itself at `up`, so that the user fixes the typo first
  for (const h of meshHosts) {
    if (!res.hosts.some((x) => x.names.includes(h.text))) {
      const known = res.hosts.map((x) => x.names.join(' ')).join(', ') || 'none';
      fail(h, `connection-mesh names host '${h.text}', which has no 'on ${h.text} { … }' section in resource ${res.name} (its hosts: ${known})`);
    }
  }
  return res;
}

function stacked(s: Stmt): void {
  const a = new Args(s);
  a.text('the lower resource name');
  a.endBlock();
  for (const c of s.block!) {
    const kw = c.keyword.text;
    if (kw === 'device') volumeStatement(c, {});
    else if (kw === 'address') {
      const b = new Args(c);
      parseAddress(b);
      b.end();
    } else if (kw === 'proxy') parseProxyOn(c);
    else if (kw === 'volume') expectBlock(c, 'volume');
    else fail(c.keyword, `unknown keyword '${kw}' in 'stacked-on-top-of' (expected one of: device, address, proxy, volume)`);
  }
}

/** Returns the host names of `hosts …;`, with their positions. */
function connectionMesh(s: Stmt, ctx: HostContext): Token[] {
  const hosts: Token[] = [];
  for (const c of expectBlock(s)) {
    if (c.keyword.text === 'hosts') {
      if (!c.args.length) fail(c.end, `'hosts' needs host names`);
      hosts.push(...c.args);
      continue;
    }
    if (c.keyword.text === 'net') {
      parseOptionBlock(expectBlock(c), 'net', { option: () => undefined, warn: ctx.warn });
      continue;
    }
    fail(c.keyword, `unknown keyword '${c.keyword.text}' in 'connection-mesh' (expected one of: hosts, net)`);
  }
  return hosts;
}

/** drbdadm's "in resource r0, on alice { … }: 'disk' keyword missing", checked once the whole resource is read. */
function completeHosts(res: ResourceConfig): void {
  const usesVolumes = res.extras.some((x) => x.keyword === 'volume');
  for (const h of res.hosts) {
    const on = `in resource ${res.name}, on ${h.names.join(' ')} { … }`;
    if (!h.address) fail(h.loc, `${on}: 'address' missing`);
    if (usesVolumes || h.extras.some((x) => x.keyword === 'volume')) continue;
    if (!h.device && !res.defaults.device) fail(h.loc, `${on}: 'device' missing (give it here or at resource level)`);
    if (!h.disk && !res.defaults.disk) fail(h.loc, `${on}: 'disk' missing (give it here or at resource level)`);
    if (!h.metaDisk && !res.defaults.metaDisk) fail(h.loc, `${on}: 'meta-disk' missing (give it here or at resource level)`);
  }
  // DRBD 9: once one host has a node-id, all need one (drbdadm 9: "'node-id' keyword missing").
  if (res.hosts.some((h) => h.nodeId !== undefined)) {
    const missing = res.hosts.find((h) => h.nodeId === undefined);
    if (missing) fail(missing.loc, `in resource ${res.name}, on ${missing.names.join(' ')} { … }: 'node-id' missing (the other hosts have one)`);
  }
}

function include(s: Stmt, st: State): void {
  const a = new Args(s);
  const pat = a.text('a file name or glob in quotes');
  a.end();
  if (st.depth >= MAX_INCLUDE_DEPTH) fail(s.keyword, `includes nested more than ${MAX_INCLUDE_DEPTH} deep (an include loop?)`);
  let files;
  try {
    files = st.resolver(pat.text, s.keyword.file);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const why = e instanceof Error ? e.message : String(e);
    fail(s.keyword, `failed to open include file '${pat.text}': ${why}`);
  }
  for (const f of files) {
    if (st.cfg.files.includes(f.file)) {
      warn(st, s.keyword, `'${f.file}' is already included; not reading it again`);
      continue;
    }
    st.cfg.files.push(f.file);
    st.depth++;
    try {
      topLevel(parseStatements(f.text, f.file, (at, m) => warn(st, at, m)), st);
    } finally {
      st.depth--;
    }
  }
}
