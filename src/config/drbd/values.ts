// Values of option statements and of the host statements (device, disk, meta-disk, address),
// validated the way DRBD reads them — stricter than drbdadm where drbdadm lets a wrong value
// through to the kernel (`protocol D` with drbdadm-83, `after-sb-0pri banana` with drbdadm-84,
// an IPv4 octet of 300).

import { isIPv6 } from 'node:net';
import { Args } from './args.js';
import { fail } from './errors.js';
import type { Token } from './lexer.js';
import type { AddressFamily, AddressSpec, DeviceSpec, MetaDisk, OptionValue } from './model.js';
import type { Spelling, ValueSpec } from './options.js';
import { parseNumber, withUnit } from './units.js';

export function parseOptionValue(a: Args, sp: Spelling): OptionValue {
  const spec: ValueSpec = sp.def.value;
  const kw = a.keyword.text;
  switch (spec.kind) {
    case 'flag': {
      if (sp.negated || a.done()) {
        a.end();
        return { kind: 'flag', value: !sp.negated };
      }
      const t = a.take('yes or no');
      if (t.kind !== 'word' || (t.text !== 'yes' && t.text !== 'no')) {
        fail(t, `invalid value '${t.text}' for '${kw}': it is a flag, write '${kw};', '${kw} yes;' or '${kw} no;'`);
      }
      a.end();
      return { kind: 'flag', value: t.text === 'yes' };
    }
    case 'number': {
      const t = a.text(`a number`);
      const r = parseNumber(t.text, spec.unit);
      if (!r.ok) fail(t, `invalid value for '${kw}': ${r.reason}`);
      if (r.value < spec.min || r.value > spec.max) {
        fail(t, `'${kw} ${t.text}' is out of range: ${withUnit(r.value, spec.unit)} (allowed ${spec.min}..${withUnit(spec.max, spec.unit)})`);
      }
      a.end();
      return { kind: 'number', value: r.value, text: t.text };
    }
    case 'enum': {
      const t = a.text('a value');
      const v = spec.upper ? t.text.toUpperCase() : t.text;
      const ok = spec.values.includes(v) || (spec.prefix !== undefined && v.startsWith(spec.prefix) && v.length > spec.prefix.length);
      if (!ok) {
        const allowed = [...spec.values, ...(spec.prefix ? [`${spec.prefix}NAME`] : [])].join(', ');
        fail(t, `invalid value '${t.text}' for '${kw}' (expected one of: ${allowed})`);
      }
      a.end();
      return { kind: 'enum', value: v };
    }
    case 'string': {
      const t = a.text('a value');
      if (spec.maxLength !== undefined && t.text.length > spec.maxLength) {
        fail(t, `'${kw}' is ${t.text.length} characters long; DRBD allows at most ${spec.maxLength}`);
      }
      if (spec.pattern && !spec.pattern.test(t.text)) fail(t, `invalid value '${t.text}' for '${kw}' (expected ${spec.patternHint})`);
      a.end();
      return { kind: 'string', value: t.text };
    }
    case 'list': {
      const words: string[] = [];
      while (!a.done()) words.push(a.text('a name').text);
      if (!words.length) a.text('at least one name');
      a.end();
      return { kind: 'list', value: words };
    }
    case 'words': {
      const words = a.rest.map((t) => t.text);
      while (!a.done()) a.take('');
      a.end();
      return { kind: 'list', value: words };
    }
  }
}

const MINOR_MAX = (1 << 20) - 1;

export function parseMinor(t: Token): number {
  if (!/^\d+$/.test(t.text) || Number(t.text) > MINOR_MAX) fail(t, `invalid minor number '${t.text}' (expected 0..${MINOR_MAX})`);
  return Number(t.text);
}

/** `device /dev/drbd0;` | `device minor 4;` | `device /dev/drbd_x minor 0;` */
export function parseDevice(a: Args): DeviceSpec {
  const first = a.text("a device path or 'minor N'");
  if (first.kind === 'word' && first.text === 'minor') {
    const minor = parseMinor(a.text('a minor number'));
    a.end();
    return { path: null, minor };
  }
  // drbdadm accepts `device drbd0;` for /dev/drbd0.
  const path = first.text.startsWith('drbd') ? `/dev/${first.text}` : first.text;
  if (!a.done() && a.peek()!.kind === 'word' && a.peek()!.text === 'minor') {
    a.take('minor');
    const minor = parseMinor(a.text('a minor number'));
    a.end();
    return { path, minor };
  }
  a.end();
  const digits = /(\d+)$/.exec(path);
  if (!digits) fail(first, `device '${path}' has no minor number: its name must end in digits, or write 'device ${path} minor N;'`);
  const minor = Number(digits[1]);
  if (minor > MINOR_MAX) fail(first, `device '${path}': minor ${minor} is out of range (0..${MINOR_MAX})`);
  return { path, minor };
}

/** `meta-disk internal;` | `meta-disk /dev/x;` (flexible) | `meta-disk /dev/x [N];` (indexed). */
export function parseMetaDisk(a: Args, flexibleKeyword: boolean): MetaDisk {
  const t = a.text("'internal' or a device path");
  if (t.text === 'internal') {
    if (!a.done() && a.peek()!.kind === '[') fail(a.peek()!, `internal meta data takes no index`);
    a.end();
    return { kind: 'internal' };
  }
  if (flexibleKeyword || a.done() || a.peek()!.kind !== '[') {
    a.end();
    return { kind: 'flexible', path: t.text };
  }
  a.punct('[', 'before the meta-disk index');
  const idx = a.text('an index');
  if (!/^\d+$/.test(idx.text) || Number(idx.text) > 255) fail(idx, `invalid meta-disk index '${idx.text}' (expected a number 0..255)`);
  a.punct(']', 'after the meta-disk index');
  a.end();
  return { kind: 'external', path: t.text, index: Number(idx.text) };
}

const FAMILIES: Record<string, AddressFamily> = { ipv4: 'ipv4', ipv6: 'ipv6', ssocks: 'ssocks', sci: 'ssocks', sdp: 'sdp' };
const ADDRESS_SYNTAX = 'expected [ipv4|ssocks|sdp] A.B.C.D:PORT or ipv6 [ADDRESS]:PORT';

export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/** `[family] A.B.C.D:PORT` or `ipv6 [ADDR]:PORT`, as in `address`, `inside`, `outside`, `floating`. */
export function parseAddress(a: Args): AddressSpec {
  let first = a.take('an address');
  let family: AddressFamily = 'ipv4';
  const named = first.kind === 'word' ? FAMILIES[first.text] : undefined;
  if (named) {
    family = named;
    first = a.take('an address');
  }
  let host: string;
  if (family === 'ipv6') {
    if (first.kind !== '[') fail(first, `expected '[' before an IPv6 address (write 'ipv6 [ADDRESS]:PORT'), but got '${first.text}'`);
    const parts: string[] = [];
    while (!a.done() && a.peek()!.kind !== ']') parts.push(a.take('').text);
    a.punct(']', 'after the IPv6 address');
    host = parts.join('');
    const plain = host.replace(/%[A-Za-z0-9_.-]+$/, '');
    if (!isIPv6(plain)) fail(first, `'${host}' is not a valid IPv6 address`);
  } else {
    if (first.kind === '[') fail(first, `an IPv6 address needs its family: write 'ipv6 [ADDRESS]:PORT'`);
    if (first.kind !== 'word' || !isIPv4(first.text)) {
      const why = /^\d+(\.\d+){3}$/.test(first.text) ? 'each part of an IPv4 address must be 0..255' : 'host names are not allowed here';
      fail(first, `'${first.text}' is not an IPv4 address (${why}; ${ADDRESS_SYNTAX})`);
    }
    host = first.text;
  }
  a.punct(':', 'between address and port');
  const p = a.text('a port number');
  if (!/^\d+$/.test(p.text) || Number(p.text) < 1 || Number(p.text) > 65535) fail(p, `invalid port '${p.text}' (expected 1..65535)`);
  return { family, host, port: Number(p.text) };
}
