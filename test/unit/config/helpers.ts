// Shared by the config tests: parse without touching the file system, and compare models
// without source positions (which legitimately differ between a file and its dump).
import { ConfigError, parseConfig, type TandemConfig } from '../../../src/config/index.js';
import type { IncludedFile } from '../../../src/config/index.js';

export function parse(text: string, files: Record<string, string> = {}): TandemConfig {
  return parseConfig(text, 't.conf', {
    includeResolver: (pattern): IncludedFile[] => {
      if (!(pattern in files)) throw new Error('ENOENT: no such file');
      return [{ file: pattern, text: files[pattern]! }];
    },
  });
}

export function parseError(text: string): ConfigError {
  try {
    parse(text);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError, but the text parsed');
}

const PROVENANCE = new Set(['loc', 'addressLoc', 'spelledAs', 'file', 'line', 'col', 'warnings', 'files']);

/** The model without where things were written. `unsupported` is in source order, which a dump
 * may change (it prints hosts before other constructs), so it is compared as a sorted list. */
export function model(cfg: TandemConfig): unknown {
  const plain = {
    ...cfg,
    resources: cfg.resources.map((r) => ({ ...r, unsupported: r.unsupported.map((u) => u.option).sort() })),
  };
  return JSON.parse(JSON.stringify(plain, (k, v: unknown) => (PROVENANCE.has(k) ? undefined : v)));
}

export const TWO_HOSTS = `
  on alice { device /dev/drbd0; disk /dev/sdb; address 10.0.0.1:7789; meta-disk internal; }
  on bob { device /dev/drbd0; disk /dev/sdb; address 10.0.0.2:7789; meta-disk internal; }`;

/** A one-resource config with `body` inside the resource before its two hosts. */
export function res(body: string): string {
  return `resource r0 {\n${body}${TWO_HOSTS}\n}\n`;
}
