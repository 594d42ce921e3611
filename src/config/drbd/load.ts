// Entry points: parse text (with includes resolved through a resolver) or load a file.

import { buildConfig } from './build.js';
import { checkConfig } from './checks.js';
import { fsIncludeResolver, readConfigFile, type IncludeResolver } from './include.js';
import type { TandemConfig } from './model.js';

export interface ParseOptions {
  /** How `include "…";` finds files; defaults to the file system, relative to the including file. */
  includeResolver?: IncludeResolver;
}

/** Parse tandem.conf text. Throws ConfigError (`file:line:col: …`) on the first problem. */
export function parseConfig(text: string, file: string, opts: ParseOptions = {}): TandemConfig {
  const cfg = buildConfig(text, file, opts.includeResolver ?? fsIncludeResolver);
  checkConfig(cfg);
  return cfg;
}

/** Read `path` (and its includes) and parse it. A file that cannot be read is an Error naming it. */
export function loadConfig(path: string, opts: ParseOptions = {}): TandemConfig {
  let text: string;
  try {
    text = readConfigFile(path);
  } catch (e) {
    throw new Error(`cannot read config file '${path}': ${e instanceof Error ? e.message : String(e)}`);
  }
  return parseConfig(text, path, opts);
}
