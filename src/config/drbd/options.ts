// Keyword tables per section: value kind, range, DRBD 8.4 default and whether Tandem implements
// the option. Ranges and defaults are drbd_limits.h of DRBD 8.4 (drbd-utils user/v84/linux/);
// enum lists are drbd-utils' config_flags.c; spellings are drbdadm's scanner
// (user/v84/drbdadm_scanner.fl). See ../shared/reference/drbd.md §8.
//
// support:
//   'yes'        Tandem implements it (it shows up in ResolvedResource).
//   'tuning'     a performance knob with no effect on what Tandem guarantees (use-rle,
//                sndbuf-size, disk-flushes…); accepted, kept in dump, never refused.
//   'no'         a real DRBD option Tandem does not implement: parsed, kept in dump with a
//                warning, listed in resource.unsupported so that `up` refuses naming it.
//                `unsupportedIf` narrows this to the values that change behaviour
//                (`allow-two-primaries no` is what Tandem does anyway).
//   'deprecated' accepted and ignored with a warning, as drbdadm-84 does.

import type { OptionValue, SectionName } from './model.js';
import type { Unit } from './units.js';

export type ValueSpec =
  | { kind: 'flag' }
  | { kind: 'number'; unit: Unit; min: number; max: number }
  | { kind: 'enum'; values: readonly string[]; prefix?: string; upper?: boolean }
  | { kind: 'string'; maxLength?: number; pattern?: RegExp; patternHint?: string }
  | { kind: 'list' } // one or more words (become-primary-on)
  | { kind: 'words' }; // free-form

export type Support = 'yes' | 'tuning' | 'no' | 'deprecated';
export type OptionSection = SectionName | 'global';

export interface OptionDef {
  name: string;
  section: OptionSection;
  value: ValueSpec;
  /** DRBD 8.4 default, in the option's unit (see units.ts). */
  default?: number | string | boolean;
  support: Support;
  unsupportedIf?: (v: OptionValue) => boolean;
  drbd9?: true;
}

export const AFTER_SB_0PRI = [
  'disconnect',
  'discard-younger-primary',
  'discard-older-primary',
  'discard-zero-changes',
  'discard-least-changes',
] as const;
export const AFTER_SB_1PRI = ['disconnect', 'consensus', 'violently-as0p', 'discard-secondary', 'call-pri-lost-after-sb'] as const;
export const AFTER_SB_2PRI = ['disconnect', 'violently-as0p', 'call-pri-lost-after-sb'] as const;
export const RR_CONFLICT = ['disconnect', 'call-pri-lost', 'violently'] as const;
export const ON_IO_ERROR = ['pass_on', 'call-local-io-error', 'detach'] as const;
export const FENCING = ['dont-care', 'resource-only', 'resource-and-stonith'] as const;
export const PROTOCOLS = ['A', 'B', 'C'] as const;
const ON_CONGESTION = ['block', 'pull-ahead', 'disconnect'] as const;
const READ_BALANCING = [
  'prefer-local',
  'prefer-remote',
  'round-robin',
  'least-pending',
  'when-congested-remote',
  '32K-striping',
  '64K-striping',
  '128K-striping',
  '256K-striping',
  '512K-striping',
  '1M-striping',
] as const;

const num = (unit: Unit, min: number, max: number): ValueSpec => ({ kind: 'number', unit, min, max });
const oneOf = (values: readonly string[]): ValueSpec => ({ kind: 'enum', values });
const FLAG: ValueSpec = { kind: 'flag' };
// Kernel crypto API names: sha1, md5, crc32c, hmac(sha256), …
const ALG: ValueSpec = { kind: 'string', pattern: /^[A-Za-z0-9][A-Za-z0-9_()-]*$/, patternHint: 'a kernel digest name such as sha1, md5 or crc32c' };
const STR: ValueSpec = { kind: 'string' };
const isTrue = (v: OptionValue): boolean => v.kind === 'flag' && v.value;
const isFalse = (v: OptionValue): boolean => v.kind === 'flag' && !v.value;
const not = (want: string) => (v: OptionValue) => v.kind === 'enum' && v.value !== want;
const positive = (v: OptionValue): boolean => v.kind === 'number' && v.value > 0;

type Def = Omit<OptionDef, 'section'>;
const section = (s: OptionSection, defs: Def[]): OptionDef[] => defs.map((d) => ({ ...d, section: s }));

export const OPTIONS: readonly OptionDef[] = [
  ...section('global', [
    { name: 'usage-count', value: oneOf(['yes', 'no', 'ask']), default: 'ask', support: 'tuning' },
    { name: 'minor-count', value: num('count', 1, 255), default: 32, support: 'tuning' },
    { name: 'dialog-refresh', value: num('seconds', 0, 600), default: 1, support: 'tuning' },
    { name: 'disable-ip-verification', value: FLAG, default: false, support: 'tuning' },
    { name: 'udev-always-use-vnr', value: FLAG, default: false, support: 'tuning' },
    { name: 'cmd-timeout-short', value: num('seconds', 0, 900), default: 5, support: 'tuning' },
    { name: 'cmd-timeout-medium', value: num('seconds', 0, 900), default: 121, support: 'tuning' },
    { name: 'cmd-timeout-long', value: num('seconds', 0, 900), default: 600, support: 'tuning' },
  ]),
  ...section('net', [
    { name: 'protocol', value: { kind: 'enum', values: PROTOCOLS, upper: true }, default: 'C', support: 'yes' },
    { name: 'timeout', value: num('deciseconds', 1, 600), default: 60, support: 'yes' },
    { name: 'connect-int', value: num('seconds', 1, 120), default: 10, support: 'yes' },
    { name: 'ping-int', value: num('seconds', 1, 120), default: 10, support: 'yes' },
    { name: 'ping-timeout', value: num('deciseconds', 1, 300), default: 5, support: 'yes' },
    { name: 'max-buffers', value: num('count', 32, 131072), default: 2048, support: 'yes' },
    { name: 'max-epoch-size', value: num('count', 1, 20000), default: 2048, support: 'tuning' },
    { name: 'ko-count', value: num('count', 0, 200), default: 7, support: 'yes' },
    { name: 'sndbuf-size', value: num('bytes', 0, 10 << 20), default: 0, support: 'tuning' },
    { name: 'rcvbuf-size', value: num('bytes', 0, 10 << 20), default: 0, support: 'tuning' },
    { name: 'unplug-watermark', value: num('count', 1, 131072), default: 128, support: 'tuning' },
    { name: 'cram-hmac-alg', value: ALG, support: 'yes' },
    // SHARED_SECRET_MAX in drbd.h
    { name: 'shared-secret', value: { kind: 'string', maxLength: 64 }, support: 'yes' },
    { name: 'after-sb-0pri', value: { kind: 'enum', values: AFTER_SB_0PRI, prefix: 'discard-node-' }, default: 'disconnect', support: 'yes' },
    { name: 'after-sb-1pri', value: oneOf(AFTER_SB_1PRI), default: 'disconnect', support: 'yes' },
    { name: 'after-sb-2pri', value: oneOf(AFTER_SB_2PRI), default: 'disconnect', support: 'yes' },
    { name: 'rr-conflict', value: oneOf(RR_CONFLICT), default: 'disconnect', support: 'yes' },
    { name: 'always-asbp', value: FLAG, default: false, support: 'no', unsupportedIf: isTrue },
    { name: 'allow-two-primaries', value: FLAG, default: false, support: 'no', unsupportedIf: isTrue },
    { name: 'data-integrity-alg', value: ALG, support: 'no' },
    { name: 'tcp-cork', value: FLAG, default: true, support: 'tuning' },
    { name: 'on-congestion', value: oneOf(ON_CONGESTION), default: 'block', support: 'no', unsupportedIf: not('block') },
    { name: 'congestion-fill', value: num('sectors', 0, 10 << 21), default: 0, support: 'tuning' },
    { name: 'congestion-extents', value: num('count', 67, 0xfffe), default: 1237, support: 'tuning' },
    { name: 'csums-alg', value: ALG, support: 'yes' },
    { name: 'verify-alg', value: ALG, support: 'yes' },
    { name: 'use-rle', value: FLAG, default: true, support: 'tuning' },
    { name: 'csums-after-crash-only', value: FLAG, default: false, support: 'no', unsupportedIf: isTrue },
    { name: 'socket-check-timeout', value: num('deciseconds', 0, 300), default: 0, support: 'tuning' },
  ]),
  ...section('disk', [
    { name: 'size', value: num('sectors', 0, 2 ** 41), default: 0, support: 'yes' },
    { name: 'on-io-error', value: oneOf(ON_IO_ERROR), default: 'detach', support: 'yes' },
    { name: 'fencing', value: oneOf(FENCING), default: 'dont-care', support: 'yes' },
    { name: 'disk-barrier', value: FLAG, default: false, support: 'tuning' },
    { name: 'disk-flushes', value: FLAG, default: true, support: 'tuning' },
    { name: 'disk-drain', value: FLAG, default: true, support: 'tuning' },
    { name: 'md-flushes', value: FLAG, default: true, support: 'tuning' },
    { name: 'max-bio-bvecs', value: num('count', 0, 128), default: 0, support: 'tuning' },
    { name: 'resync-rate', value: num('KiB', 1, 4 << 20), default: 250, support: 'yes' },
    { name: 'resync-after', value: STR, support: 'no' },
    { name: 'al-extents', value: num('count', 67, 0xfffe), default: 1237, support: 'yes' },
    { name: 'al-updates', value: FLAG, default: true, support: 'no', unsupportedIf: isFalse },
    { name: 'c-plan-ahead', value: num('deciseconds', 0, 300), default: 20, support: 'yes' },
    { name: 'c-delay-target', value: num('deciseconds', 1, 100), default: 10, support: 'yes' },
    { name: 'c-fill-target', value: num('sectors', 0, 1 << 20), default: 100, support: 'yes' },
    { name: 'c-max-rate', value: num('KiB', 250, 4 << 20), default: 102400, support: 'yes' },
    { name: 'c-min-rate', value: num('KiB', 0, 4 << 20), default: 250, support: 'yes' },
    { name: 'disk-timeout', value: num('deciseconds', 0, 6000), default: 0, support: 'no', unsupportedIf: positive },
    { name: 'read-balancing', value: oneOf(READ_BALANCING), default: 'prefer-local', support: 'no', unsupportedIf: not('prefer-local') },
    { name: 'discard-zeroes-if-aligned', value: FLAG, default: true, support: 'tuning' },
    { name: 'rs-discard-granularity', value: num('bytes', 0, 1 << 20), default: 0, support: 'tuning' },
    { name: 'use-bmbv', value: FLAG, default: false, support: 'tuning' },
  ]),
  ...section('startup', [
    { name: 'wfc-timeout', value: num('seconds', 0, 300000), default: 0, support: 'yes' },
    { name: 'degr-wfc-timeout', value: num('seconds', 0, 300000), default: 0, support: 'yes' },
    { name: 'outdated-wfc-timeout', value: num('seconds', 0, 300000), default: 0, support: 'yes' },
    { name: 'wait-after-sb', value: FLAG, default: false, support: 'yes' },
    { name: 'become-primary-on', value: { kind: 'list' }, support: 'no' },
    { name: 'stacked-timeouts', value: FLAG, default: false, support: 'no', unsupportedIf: isTrue },
  ]),
  ...section('options', [
    { name: 'cpu-mask', value: { kind: 'string', pattern: /^(0x)?[0-9a-fA-F,]+$/, patternHint: 'a hexadecimal CPU mask' }, default: '0', support: 'tuning' },
    { name: 'on-no-data-accessible', value: oneOf(['io-error', 'suspend-io']), default: 'io-error', support: 'no', unsupportedIf: not('io-error') },
    { name: 'auto-promote', value: FLAG, support: 'no', drbd9: true },
    { name: 'quorum', value: STR, support: 'no', drbd9: true },
    { name: 'on-no-quorum', value: oneOf(['io-error', 'suspend-io']), support: 'no', drbd9: true },
  ]),
  ...section(
    'handlers',
    (
      [
        ['pri-on-incon-degr', 'yes'],
        ['pri-lost-after-sb', 'yes'],
        ['pri-lost', 'yes'],
        ['initial-split-brain', 'yes'],
        ['split-brain', 'yes'],
        ['fence-peer', 'yes'],
        ['local-io-error', 'yes'],
        ['before-resync-target', 'yes'],
        ['after-resync-target', 'yes'],
        ['out-of-sync', 'yes'],
        ['unfence-peer', 'no'],
        ['before-resync-source', 'yes'],
      ] as const
    ).map(([name, support]): Def => ({ name, value: STR, support })),
  ),
];

/** Where a keyword written in a given section lands. */
export interface Spelling {
  def: OptionDef;
  /** `no-disk-flushes;` means `disk-flushes no` and takes no value. */
  negated?: true;
  /** Written this way in an older or newer dialect; kept for messages and warnings. */
  spelledAs?: string;
  deprecatedNote?: string;
}

export type WrittenSection = OptionSection | 'syncer';

const byName = new Map(OPTIONS.map((d) => [`${d.section}:${d.name}`, d]));
export function optionDef(section: OptionSection, name: string): OptionDef {
  const d = byName.get(`${section}:${name}`);
  if (!d) throw new Error(`no option ${section}:${name}`);
  return d;
}

// Options that drbdadm accepts in any options section and ignores.
const DEPRECATED_ANYWHERE = ['delay-probe-volume', 'delay-probe-interval', 'throttle-threshold', 'hold-off-threshold'];
const DEPRECATED_DEF: OptionDef = { name: 'deprecated', section: 'disk', value: { kind: 'words' }, support: 'deprecated' };

function buildSpellings(): Map<WrittenSection, Map<string, Spelling>> {
  const m = new Map<WrittenSection, Map<string, Spelling>>();
  const put = (s: WrittenSection, kw: string, sp: Spelling) => {
    if (!m.has(s)) m.set(s, new Map());
    m.get(s)!.set(kw, sp);
  };
  for (const d of OPTIONS) put(d.section, d.name, { def: d });
  for (const f of ['disk-barrier', 'disk-flushes', 'disk-drain', 'md-flushes']) {
    put('disk', `no-${f}`, { def: optionDef('disk', f), negated: true, spelledAs: `no-${f}` });
  }
  put('net', 'no-tcp-cork', { def: optionDef('net', 'tcp-cork'), negated: true, spelledAs: 'no-tcp-cork' });
  // drbdadm-84 accepts the 8.3 names inside disk { } too (check_and_change_deprecated_alias).
  put('disk', 'rate', { def: optionDef('disk', 'resync-rate'), spelledAs: 'rate' });
  put('disk', 'after', { def: optionDef('disk', 'resync-after'), spelledAs: 'after' });
  put('handlers', 'outdate-peer', {
    def: optionDef('handlers', 'fence-peer'),
    spelledAs: 'outdate-peer',
    deprecatedNote: "the 'outdate-peer' handler is the pre-8.3 name of 'fence-peer'",
  });
  // DRBD 9 moved fencing from disk to net; drbd-utils ≥ 9.29 maps either way, and so do we.
  put('net', 'fencing', { def: optionDef('disk', 'fencing'), spelledAs: 'net fencing' });
  // The 8.3 syncer section, distributed as drbdadm-84 does (parse_options_syncer).
  const syncer: [string, OptionSection, string][] = [
    ['rate', 'disk', 'resync-rate'],
    ['after', 'disk', 'resync-after'],
    ['al-extents', 'disk', 'al-extents'],
    ['c-plan-ahead', 'disk', 'c-plan-ahead'],
    ['c-delay-target', 'disk', 'c-delay-target'],
    ['c-fill-target', 'disk', 'c-fill-target'],
    ['c-max-rate', 'disk', 'c-max-rate'],
    ['c-min-rate', 'disk', 'c-min-rate'],
    ['verify-alg', 'net', 'verify-alg'],
    ['csums-alg', 'net', 'csums-alg'],
    ['use-rle', 'net', 'use-rle'],
    ['cpu-mask', 'options', 'cpu-mask'],
    ['on-no-data-accessible', 'options', 'on-no-data-accessible'],
  ];
  for (const [kw, sec, name] of syncer) put('syncer', kw, { def: optionDef(sec, name), spelledAs: `syncer ${kw}` });
  for (const s of ['net', 'disk', 'syncer'] as const) {
    for (const kw of DEPRECATED_ANYWHERE) {
      put(s, kw, { def: DEPRECATED_DEF, spelledAs: kw, deprecatedNote: `'${kw}' is obsolete and ignored (as by drbdadm)` });
    }
  }
  return m;
}

export const SPELLINGS: ReadonlyMap<WrittenSection, ReadonlyMap<string, Spelling>> = buildSpellings();

/** Keywords known from other DRBD versions, to explain a refusal better than "unknown". */
export const FOREIGN_KEYWORDS: Record<string, string> = {
  'on-disconnect': 'a DRBD 0.7/8.0 net option, removed in 8.3 (connection loss handling is fixed now)',
  group: "a DRBD 0.7 syncer option, replaced by 'resync-after' in 8.x",
  transport: 'a DRBD 9 net option',
  'max-requests': 'a DRBD 9 option',
  'allow-remote-read': 'a DRBD 9 net option',
  'load-balance-paths': 'a DRBD 9 net option',
  'on-suspended-primary-outdated': 'a DRBD 9 option',
  tiebreaker: 'a DRBD 9 option',
  'discard-my-data': "a command-line option (`tandemadm connect --discard-my-data`), not a config keyword",
};
