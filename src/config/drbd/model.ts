// The parsed configuration, normalised to DRBD 8.4's spelling: an 8.3 `syncer { rate 30M; }`
// becomes disk `resync-rate 30M`, a resource-level `protocol C;` becomes net `protocol C`,
// `no-disk-flushes;` becomes `disk-flushes no` — the same translation drbdadm-84 applies.
// Options keep the order and duplicates of the file (as drbdadm's dump does); the last one wins.

import type { RawNode } from './ast.js';
import type { ConfigWarning, SourceLoc } from './errors.js';

export type OptionValue =
  | { kind: 'flag'; value: boolean }
  /** `value` is in the option's own unit (see options.ts); `text` is as written, e.g. "30M". */
  | { kind: 'number'; value: number; text: string }
  | { kind: 'enum'; value: string }
  | { kind: 'string'; value: string }
  | { kind: 'list'; value: string[] };

export type SectionName = 'net' | 'disk' | 'startup' | 'handlers' | 'options';
export const SECTION_NAMES: readonly SectionName[] = ['net', 'disk', 'startup', 'handlers', 'options'];

export interface OptionEntry {
  name: string; // canonical 8.4 name
  value: OptionValue;
  loc: SourceLoc;
  /** How it was written when that differs from `name`, e.g. "syncer rate" or "no-disk-flushes". */
  spelledAs?: string;
}

export type SectionSet = Record<SectionName, OptionEntry[]>;

export interface DeviceSpec {
  path: string | null; // null for `device minor N;`
  minor: number;
}

export type MetaDisk =
  | { kind: 'internal' }
  | { kind: 'external'; path: string; index: number | null }
  | { kind: 'flexible'; path: string };

export type AddressFamily = 'ipv4' | 'ipv6' | 'ssocks' | 'sdp';
export interface AddressSpec {
  family: AddressFamily;
  host: string; // without brackets for IPv6
  port: number;
}

/** device / disk / meta-disk, at resource level or in an `on` section. */
export interface VolumeSpec {
  device?: DeviceSpec;
  disk?: string;
  metaDisk?: MetaDisk;
}

export interface HostSection extends VolumeSpec {
  names: string[]; // `on a b { }` names several hosts
  loc: SourceLoc;
  address?: AddressSpec;
  addressLoc?: SourceLoc;
  nodeId?: number; // DRBD 9
  /** Constructs Tandem keeps but does not implement (volume, proxy on …). */
  extras: RawNode[];
}

export interface UnsupportedUse {
  option: string;
  file: string;
  line: number;
  col: number;
}

export interface ResourceConfig {
  name: string;
  loc: SourceLoc;
  sections: SectionSet; // this resource's own settings; common is applied by resolve
  defaults: VolumeSpec; // resource-level device/disk/meta-disk, inherited by `on` sections
  hosts: HostSection[];
  /** Resource-level constructs kept verbatim: volume, stacked-on-top-of, floating, proxy, connection-mesh. */
  extras: RawNode[];
  /** Everything `up` must refuse, including options inherited from common. */
  unsupported: UnsupportedUse[];
}

export interface TandemConfig {
  global: Record<string, OptionValue>;
  common: SectionSet;
  resources: ResourceConfig[];
  warnings: ConfigWarning[];
  files: string[];
}

export function emptySections(): SectionSet {
  return { net: [], disk: [], startup: [], handlers: [], options: [] };
}
