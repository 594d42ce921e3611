// The options every Tandem binary takes (DESIGN.md: --config/--ha-dir, --node, --run-dir) and
// their defaults and environment overrides.
import os from 'node:os';

export const DEFAULT_CONFIG = '/etc/tandem/tandem.conf';
export const DEFAULT_RUN_DIR = '/run/tandem';
export const DEFAULT_HA_DIR = '/etc/tandem/ha.d';

export function defaultNode(): string {
  return process.env.TANDEM_NODE || os.hostname();
}

export function defaultRunDir(): string {
  return process.env.TANDEM_RUN_DIR || DEFAULT_RUN_DIR;
}
