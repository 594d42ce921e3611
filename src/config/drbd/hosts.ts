// `on HOST { … }` sections and the device/disk/meta-disk statements that may also stand at
// resource level (inherited by every `on` section) or inside a `volume N { }`.

import { Args, expectBlock } from './args.js';
import type { Stmt } from './ast.js';
import { locOf, toRaw } from './ast.js';
import { fail, type SourceLoc } from './errors.js';
import type { Token } from './lexer.js';
import type { HostSection, VolumeSpec } from './model.js';
import { show } from './parser.js';
import { parseOptionBlock, type OptionSink } from './sections.js';
import { parseAddress, parseDevice, parseMetaDisk } from './values.js';

export interface HostContext {
  resource: string;
  unsupported(at: SourceLoc, option: string, why: string): void;
  warn(at: Token, message: string): void;
}

type VolumeKey = 'device' | 'disk' | 'metaDisk';

/** device / disk PATH / meta-disk / flexible-meta-disk. Returns the key set, or null if `s` is none of them. */
export function volumeStatement(s: Stmt, into: VolumeSpec): VolumeKey | null {
  const kw = s.keyword.text;
  if (kw === 'device') {
    into.device = parseDevice(new Args(s));
    return 'device';
  }
  if (kw === 'disk' && !s.block) {
    const a = new Args(s);
    into.disk = a.text('a backing device path').text;
    a.end();
    return 'disk';
  }
  if (kw === 'meta-disk' || kw === 'flexible-meta-disk') {
    into.metaDisk = parseMetaDisk(new Args(s), kw === 'flexible-meta-disk');
    return 'metaDisk';
  }
  return null;
}

const KEY_WORD: Record<VolumeKey, string> = { device: 'device', disk: 'disk', metaDisk: 'meta-disk' };
const HOST_KEYWORDS = 'device, disk, address, meta-disk, flexible-meta-disk, volume, proxy, node-id';

/** Names after `on`: one or more words or strings. */
export function hostNames(s: Stmt): string[] {
  if (!s.args.length) fail(s.end, `'on' needs a host name (on HOST { … })`);
  return s.args.map((t) => {
    if (t.kind !== 'word' && t.kind !== 'string') fail(t, `expected a host name after 'on', but got ${show(t)}`);
    return t.text;
  });
}

export function parseHost(s: Stmt, ctx: HostContext): HostSection {
  const names = hostNames(s);
  const body = s.block;
  if (!body) fail(s.end, `'on ${names.join(' ')}' must be followed by a { … } block`);
  const host: HostSection = { names, loc: locOf(s.keyword), extras: [] };
  const seen = new Map<string, Token>();
  const once = (kw: Token, key: string) => {
    const first = seen.get(key);
    if (first) fail(kw, `'${key}' given twice in 'on ${names.join(' ')}' of resource ${ctx.resource} (first at line ${first.line})`);
    seen.set(key, kw);
  };
  for (const st of body) {
    const kw = st.keyword;
    const key = volumeStatement(st, host);
    if (key) {
      once(kw, KEY_WORD[key]);
      if (key === 'disk' && host.disk === 'none') ctx.unsupported(kw, 'disk none', 'diskless nodes are not implemented by Tandem');
      continue;
    }
    switch (kw.text) {
      case 'address': {
        once(kw, 'address');
        const a = new Args(st);
        host.address = parseAddress(a);
        host.addressLoc = locOf(kw);
        a.end();
        if (host.address.family !== 'ipv4' && host.address.family !== 'ipv6') {
          ctx.unsupported(kw, `address ${host.address.family}`, `the '${host.address.family}' address family is not implemented by Tandem (use ipv4 or ipv6)`);
        }
        break;
      }
      case 'node-id': {
        once(kw, 'node-id');
        const a = new Args(st);
        const t = a.text('a node id');
        if (!/^\d+$/.test(t.text) || Number(t.text) > 31) fail(t, `invalid node-id '${t.text}' (expected 0..31)`);
        a.end();
        host.nodeId = Number(t.text);
        ctx.unsupported(kw, 'node-id', "'node-id' is DRBD 9 (multi-peer) syntax; Tandem runs two-node DRBD 8.4-style resources");
        break;
      }
      case 'volume':
        parseVolume(st, ctx);
        host.extras.push(toRaw(st));
        break;
      case 'proxy':
        parseProxyOn(st);
        host.extras.push(toRaw(st));
        ctx.unsupported(kw, 'proxy', 'DRBD Proxy is not implemented by Tandem');
        break;
      case 'disk': // `disk { … }` inside `on`: per-host disk options of the implicit volume
        parseOptionBlock(expectBlock(st), 'disk', discardSink(ctx));
        host.extras.push(toRaw(st));
        ctx.unsupported(kw, 'per-host disk options', "per-host 'disk { }' options are not implemented by Tandem; set them at resource level");
        break;
      case 'options':
        parseOptionBlock(expectBlock(st), 'options', discardSink(ctx));
        host.extras.push(toRaw(st));
        ctx.unsupported(kw, 'per-host options', "per-host 'options { }' are not implemented by Tandem; set them at resource level");
        break;
      default:
        fail(kw, `unknown keyword '${kw.text}' in 'on ${names.join(' ')}' (expected one of: ${HOST_KEYWORDS})`);
    }
  }
  return host;
}

/** `volume N { device …; disk …; meta-disk …; disk { … } }` — validated, kept verbatim. */
export function parseVolume(s: Stmt, ctx: HostContext): void {
  const a = new Args(s);
  const n = a.text('a volume number');
  if (!/^\d+$/.test(n.text) || Number(n.text) > 65535) fail(n, `invalid volume number '${n.text}' (expected 0..65535)`);
  a.endBlock();
  const spec: VolumeSpec = {};
  const seen = new Set<string>();
  for (const st of s.block!) {
    const key = volumeStatement(st, spec);
    if (key) {
      if (seen.has(key)) fail(st.keyword, `'${KEY_WORD[key]}' given twice in 'volume ${n.text}'`);
      seen.add(key);
      continue;
    }
    if (st.keyword.text === 'disk') {
      parseOptionBlock(expectBlock(st), 'disk', discardSink(ctx));
      continue;
    }
    fail(st.keyword, `unknown keyword '${st.keyword.text}' in 'volume ${n.text}' (expected one of: device, disk, meta-disk, flexible-meta-disk)`);
  }
  ctx.unsupported(s.keyword, 'volume', "explicit 'volume' sections are not implemented by Tandem (one implicit volume per resource)");
}

/** `proxy on HOST… { inside ADDR; outside ADDR; options { … } }` */
export function parseProxyOn(s: Stmt): void {
  const on = s.args[0];
  if (!on || on.text !== 'on' || s.args.length < 2) fail(on ?? s.keyword, `expected 'proxy on HOST { inside …; outside …; }'`);
  const body = s.block;
  if (!body) fail(s.end, `'proxy on …' must be followed by a { … } block`);
  for (const st of body) {
    if (st.keyword.text === 'inside' || st.keyword.text === 'outside') {
      const a = new Args(st);
      parseAddress(a);
      a.end();
    } else if (st.keyword.text === 'options') {
      expectBlock(st); // proxy options are free-form plugin settings
    } else {
      fail(st.keyword, `unknown keyword '${st.keyword.text}' in 'proxy on …' (expected one of: inside, outside, options)`);
    }
  }
}

/** Options inside constructs Tandem keeps verbatim are validated, then dropped. */
export function discardSink(ctx: HostContext): OptionSink {
  return { option: () => undefined, warn: (at, m) => ctx.warn(at, m) };
}
