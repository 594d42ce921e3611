// One resource as seen from one node: common settings inherited, DRBD 8.4 defaults filled in,
// units converted to what the daemon uses (bytes, bytes/s, milliseconds), and the two `on`
// sections turned into `self` and `peer`.

import { effectiveEntries } from './checks.js';
import { ConfigError } from './errors.js';
import type { HostSection, MetaDisk, OptionEntry, OptionValue, ResourceConfig, SectionName, TandemConfig } from './model.js';
import { AFTER_SB_1PRI, AFTER_SB_2PRI, FENCING, ON_IO_ERROR, OPTIONS, PROTOCOLS, RR_CONFLICT, optionDef } from './options.js';
import { toBase, type Unit } from './units.js';
import { verifyAlgSupported } from './digests.js';

export type Protocol = (typeof PROTOCOLS)[number];
export type AfterSb0pri =
  | 'disconnect'
  | 'discard-younger-primary'
  | 'discard-older-primary'
  | 'discard-zero-changes'
  | 'discard-least-changes'
  | `discard-node-${string}`;
export type AfterSb1pri = (typeof AFTER_SB_1PRI)[number];
export type AfterSb2pri = (typeof AFTER_SB_2PRI)[number];
export type RrConflict = (typeof RR_CONFLICT)[number];
export type OnIoError = (typeof ON_IO_ERROR)[number];
export type Fencing = (typeof FENCING)[number];

export interface HostConfig {
  name: string;
  device: string; // `device minor N` → /dev/drbdN
  minor: number;
  disk: string;
  address: { family: 'ipv4' | 'ipv6'; host: string; port: number };
  metaDisk: MetaDisk;
}

export interface NetConfig {
  cramHmacAlg?: string;
  sharedSecret?: string;
  pingIntSec: number;
  pingTimeoutMs: number;
  connectIntSec: number;
  timeoutMs: number;
  afterSb0pri: AfterSb0pri;
  afterSb1pri: AfterSb1pri;
  afterSb2pri: AfterSb2pri;
  rrConflict: RrConflict;
  maxBuffers: number;
  maxEpochSize: number;
  koCount: number;
  sndbufSizeBytes: number; // 0 = kernel autotuning
  rcvbufSizeBytes: number;
  allowTwoPrimaries: boolean;
  dataIntegrityAlg?: string;
}

export interface DiskConfig {
  onIoError: OnIoError;
  fencing: Fencing;
  resyncRateBytesPerSec: number;
  alExtents: number;
  cPlanAheadMs: number; // 0 = fixed-rate resync at resyncRate
  cDelayTargetMs: number;
  cFillTargetBytes: number;
  cMaxRateBytesPerSec: number;
  cMinRateBytesPerSec: number;
  sizeBytes: number; // 0 = the whole backing device
  csumsAlg?: string;
  verifyAlg?: string;
  resyncAfter?: string;
  diskBarrier: boolean;
  diskFlushes: boolean;
  diskDrain: boolean;
  mdFlushes: boolean;
  alUpdates: boolean;
  diskTimeoutMs: number;
}

export interface ResolvedResource {
  name: string;
  protocol: Protocol;
  self: HostConfig;
  peer: HostConfig;
  net: NetConfig;
  disk: DiskConfig;
  handlers: Record<string, string>;
  startup: Record<string, OptionValue>;
  unsupported: ResourceConfig['unsupported'];
}

export function resolveResource(cfg: TandemConfig, resource: string, node: string): ResolvedResource {
  const r = cfg.resources.find((x) => x.name === resource);
  if (!r) {
    const known = cfg.resources.map((x) => x.name);
    throw new Error(`unknown resource '${resource}' (${known.length ? `defined: ${known.join(', ')}` : 'no resources are defined'})`);
  }
  const hostList = r.hosts.map((h) => h.names.join(' ')).join(', ') || 'none';
  const selfSec = r.hosts.find((h) => h.names.includes(node));
  if (!selfSec) throw new ConfigError(r.loc, `resource ${r.name} has no 'on ${node}' section (its hosts: ${hostList})`);
  if (r.hosts.length !== 2) {
    throw new ConfigError(r.loc, `resource ${r.name} needs exactly one peer: Tandem wants two 'on' sections, this one has ${r.hosts.length} (${hostList})`);
  }
  const peerSec = r.hosts.find((h) => h !== selfSec)!;

  const eff = (section: SectionName) => effectiveEntries(cfg, r, section);
  const net = eff('net');
  const disk = eff('disk');
  const get = (m: Map<string, OptionEntry>, section: SectionName, name: string): OptionValue | undefined => {
    const e = m.get(name);
    if (e) return e.value;
    const d = optionDef(section, name).default;
    if (d === undefined) return undefined;
    if (typeof d === 'boolean') return { kind: 'flag', value: d };
    if (typeof d === 'number') return { kind: 'number', value: d, text: String(d) };
    return { kind: 'enum', value: d };
  };
  const number = (m: Map<string, OptionEntry>, section: SectionName, name: string): number => {
    const v = get(m, section, name);
    return v && v.kind === 'number' ? v.value : 0;
  };
  const base = (m: Map<string, OptionEntry>, section: SectionName, name: string): number => {
    const spec = optionDef(section, name).value as { unit: Unit };
    return toBase(number(m, section, name), spec.unit);
  };
  const text = (m: Map<string, OptionEntry>, section: SectionName, name: string): string | undefined => {
    const v = get(m, section, name);
    return v && (v.kind === 'enum' || v.kind === 'string') ? v.value : undefined;
  };
  const flag = (m: Map<string, OptionEntry>, section: SectionName, name: string): boolean => {
    const v = get(m, section, name);
    return v?.kind === 'flag' ? v.value : false;
  };

  const self = hostConfig(r, selfSec, node);
  const peer = hostConfig(r, peerSec, peerSec.names[0]!);
  const afterSb0pri = text(net, 'net', 'after-sb-0pri') as AfterSb0pri;
  if (afterSb0pri.startsWith('discard-node-')) {
    const target = afterSb0pri.slice('discard-node-'.length);
    if (![...selfSec.names, ...peerSec.names].includes(target)) {
      throw new ConfigError(net.get('after-sb-0pri')!.loc, `after-sb-0pri ${afterSb0pri}: '${target}' is not a host of resource ${r.name} (${hostList})`);
    }
  }
  const netCfg: NetConfig = {
    pingIntSec: number(net, 'net', 'ping-int'),
    pingTimeoutMs: base(net, 'net', 'ping-timeout'),
    connectIntSec: number(net, 'net', 'connect-int'),
    timeoutMs: base(net, 'net', 'timeout'),
    afterSb0pri,
    afterSb1pri: text(net, 'net', 'after-sb-1pri') as AfterSb1pri,
    afterSb2pri: text(net, 'net', 'after-sb-2pri') as AfterSb2pri,
    rrConflict: text(net, 'net', 'rr-conflict') as RrConflict,
    maxBuffers: number(net, 'net', 'max-buffers'),
    maxEpochSize: number(net, 'net', 'max-epoch-size'),
    koCount: number(net, 'net', 'ko-count'),
    sndbufSizeBytes: base(net, 'net', 'sndbuf-size'),
    rcvbufSizeBytes: base(net, 'net', 'rcvbuf-size'),
    allowTwoPrimaries: flag(net, 'net', 'allow-two-primaries'),
  };
  const cram = net.get('cram-hmac-alg');
  if (cram && !text(net, 'net', 'shared-secret')) {
    // DRBD would run the challenge-response with an empty key, which any host answers: refuse
    throw new ConfigError(cram.loc, `cram-hmac-alg ${text(net, 'net', 'cram-hmac-alg')} without a shared-secret: peer authentication would use an empty secret, which any host can answer; set shared-secret in the same net section (or remove cram-hmac-alg)`);
  }
  assignDefined(netCfg, {
    cramHmacAlg: text(net, 'net', 'cram-hmac-alg'),
    sharedSecret: text(net, 'net', 'shared-secret'),
    dataIntegrityAlg: text(net, 'net', 'data-integrity-alg'),
  });

  const diskCfg: DiskConfig = {
    onIoError: text(disk, 'disk', 'on-io-error') as OnIoError,
    fencing: text(disk, 'disk', 'fencing') as Fencing,
    resyncRateBytesPerSec: base(disk, 'disk', 'resync-rate'),
    alExtents: number(disk, 'disk', 'al-extents'),
    // c-plan-ahead: DRBD 8.4's default (20, the dynamic controller) unless the resource gives its
    // rate in 8.3's spelling (`syncer { rate … }`) without a c-plan-ahead: 8.3's default was 0, and
    // an 8.3 config's rate means the resync speed, not the controller's first step
    cPlanAheadMs: !disk.get('c-plan-ahead') && disk.get('resync-rate')?.spelledAs === 'syncer rate' ? 0 : base(disk, 'disk', 'c-plan-ahead'),
    cDelayTargetMs: base(disk, 'disk', 'c-delay-target'),
    cFillTargetBytes: base(disk, 'disk', 'c-fill-target'),
    cMaxRateBytesPerSec: base(disk, 'disk', 'c-max-rate'),
    cMinRateBytesPerSec: base(disk, 'disk', 'c-min-rate'),
    sizeBytes: base(disk, 'disk', 'size'),
    diskBarrier: flag(disk, 'disk', 'disk-barrier'),
    diskFlushes: flag(disk, 'disk', 'disk-flushes'),
    diskDrain: flag(disk, 'disk', 'disk-drain'),
    mdFlushes: flag(disk, 'disk', 'md-flushes'),
    alUpdates: flag(disk, 'disk', 'al-updates'),
    diskTimeoutMs: base(disk, 'disk', 'disk-timeout'),
  };
  // In 8.4 the checksum algorithms live in net; the 8.3 spelling put them in syncer.
  assignDefined(diskCfg, {
    csumsAlg: checkedAlg('csums-alg', net.get('csums-alg'), text(net, 'net', 'csums-alg')),
    verifyAlg: checkedAlg('verify-alg', net.get('verify-alg'), text(net, 'net', 'verify-alg')),
    resyncAfter: text(disk, 'disk', 'resync-after'),
  });

  const handlers: Record<string, string> = {};
  for (const e of eff('handlers').values()) if (e.value.kind === 'string') handlers[e.name] = e.value.value;
  const startup: Record<string, OptionValue> = {};
  const st = eff('startup');
  for (const d of OPTIONS.filter((o) => o.section === 'startup')) {
    const v = get(st, 'startup', d.name);
    if (v) startup[d.name] = v;
  }

  return {
    name: r.name,
    protocol: text(net, 'net', 'protocol') as Protocol,
    self,
    peer,
    net: netCfg,
    disk: diskCfg,
    handlers,
    startup,
    unsupported: r.unsupported,
  };
}

function assignDefined<T extends object>(target: T, values: Partial<T>): void {
  for (const [k, v] of Object.entries(values)) if (v !== undefined) (target as Record<string, unknown>)[k] = v;
}

function hostConfig(r: ResourceConfig, h: HostSection, name: string): HostConfig {
  const on = `resource ${r.name}, on ${h.names.join(' ')}`;
  const device = h.device ?? r.defaults.device;
  const disk = h.disk ?? r.defaults.disk;
  const metaDisk = h.metaDisk ?? r.defaults.metaDisk;
  if (!device || !disk || !metaDisk) {
    const missing = [!device && 'device', !disk && 'disk', !metaDisk && 'meta-disk'].filter(Boolean).join(', ');
    const why = r.extras.some((x) => x.keyword === 'volume') || h.extras.some((x) => x.keyword === 'volume')
      ? " (it is given in 'volume' sections, which Tandem does not implement)"
      : '';
    throw new ConfigError(h.loc, `${on}: no ${missing}${why}`);
  }
  const a = h.address;
  if (!a) throw new ConfigError(h.loc, `${on}: no address`);
  if (a.family !== 'ipv4' && a.family !== 'ipv6') {
    throw new ConfigError(h.addressLoc ?? h.loc, `${on}: address family '${a.family}' is not implemented by Tandem (use ipv4 or ipv6)`);
  }
  return {
    name,
    device: device.path ?? `/dev/drbd${device.minor}`,
    minor: device.minor,
    disk,
    address: { family: a.family, host: a.host, port: a.port },
    metaDisk,
  };
}

/** verify-alg and csums-alg must be digests this node can compute (verify-digest.ts); drbdsetup refuses an unknown one too. */
function checkedAlg(option: 'verify-alg' | 'csums-alg', entry: OptionEntry | undefined, alg: string | undefined): string | undefined {
  if (alg === undefined || !entry) return alg;
  if (!verifyAlgSupported(alg)) {
    throw new ConfigError(entry.loc, `${option} '${alg}' is not a digest Tandem can compute (crc32c, or a hash Node's crypto knows: md5, sha1, sha256, sha512, …)`);
  }
  return alg;
}

