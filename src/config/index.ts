// Public API of Tandem's configuration: tandem.conf in DRBD's drbd.conf grammar (8.3 and 8.4).
// Tandem adds no keywords of its own (yet); anything it does not know is a DRBD keyword or an error.

export { ConfigError, type ConfigWarning, type SourceLoc } from './drbd/errors.js';
export { loadConfig, parseConfig, type ParseOptions } from './drbd/load.js';
export { dumpConfig } from './drbd/dump.js';
export { fsIncludeResolver, type IncludeResolver, type IncludedFile } from './drbd/include.js';
export {
  resolveResource,
  type AfterSb0pri,
  type AfterSb1pri,
  type AfterSb2pri,
  type DiskConfig,
  type Fencing,
  type HostConfig,
  type NetConfig,
  type OnIoError,
  type Protocol,
  type ResolvedResource,
  type RrConflict,
} from './drbd/resolve.js';
export type {
  AddressSpec,
  DeviceSpec,
  HostSection,
  MetaDisk,
  OptionEntry,
  OptionValue,
  ResourceConfig,
  SectionName,
  SectionSet,
  TandemConfig,
  UnsupportedUse,
  VolumeSpec,
} from './drbd/model.js';
export { OPTIONS, type OptionDef, type Support } from './drbd/options.js';
