// Command line of `npm run torture`. Pure: argv in, options or a one-line error out.
import { ALL_FAULTS, DEVICE_FAULTS, LAB_ONLY_FAULTS, LOOPBACK_FAULTS, isFaultKind, type FaultKind } from './schedule.js';

export interface TortureOptions {
  rounds: number;
  seed: number;
  json: boolean;
  mode: 'loopback' | 'lab';
  faults: FaultKind[];
  /** size of each backing file (loopback) in MiB */
  sizeMiB: number;
  /** blocks in the working set the writer draws from (4 KiB each, from offset 0) */
  blocks: number;
  /** NBD requests in flight at once */
  depth: number;
  /** keep the pair's temp directory (configs, disks, logs) when the run fails */
  keep: boolean;
}

export const USAGE = `usage: npm run torture -- [--rounds N] [--seed S] [--json] [--lab] [--faults k1,k2,...]
                        [--size-mib N] [--blocks N] [--depth N] [--keep]
fault kinds: ${ALL_FAULTS.join(', ')} (${LAB_ONLY_FAULTS.join(', ')}: --lab only;
             ${DEVICE_FAULTS.join(', ')}: root, loopback, only when named)`;

export type ParsedArgs = { ok: true; options: TortureOptions } | { ok: false; error: string } | { ok: 'help' };

export function parseArgs(argv: readonly string[], randomSeed: () => number): ParsedArgs {
  const o: TortureOptions = { rounds: 5, seed: NaN, json: false, mode: 'loopback', faults: [], sizeMiB: 32, blocks: 2048, depth: 16, keep: false };
  let faultsText: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string | null => {
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) return null;
      i++;
      return v;
    };
    const int = (name: string, min: number, max: number): number | string => {
      const v = value();
      if (v === null) return `${name} needs a value`;
      if (!/^\d+$/.test(v)) return `${name}: '${v}' is not a whole number`;
      const n = Number(v);
      if (n < min || n > max) return `${name}: ${n} is out of range (${min}..${max})`;
      return n;
    };
    let r: number | string | null = null;
    switch (flag) {
      case '--':
        continue;
      case '-h':
      case '--help':
        return { ok: 'help' };
      case '--json':
        o.json = true;
        continue;
      case '--lab':
        o.mode = 'lab';
        continue;
      case '--keep':
        o.keep = true;
        continue;
      case '--rounds':
        r = int('--rounds', 1, 100_000);
        if (typeof r === 'number') o.rounds = r;
        break;
      case '--seed':
        r = int('--seed', 0, 0xffffffff);
        if (typeof r === 'number') o.seed = r;
        break;
      case '--size-mib':
        r = int('--size-mib', 4, 4096);
        if (typeof r === 'number') o.sizeMiB = r;
        break;
      case '--blocks':
        r = int('--blocks', 1, 1 << 20);
        if (typeof r === 'number') o.blocks = r;
        break;
      case '--depth':
        r = int('--depth', 1, 256);
        if (typeof r === 'number') o.depth = r;
        break;
      case '--faults': {
        const v = value();
        if (v === null) return { ok: false, error: '--faults needs a comma-separated list' };
        faultsText = v;
        continue;
      }
      default:
        return { ok: false, error: `unknown argument '${a}'` };
    }
    if (typeof r === 'string') return { ok: false, error: r };
  }
  if (Number.isNaN(o.seed)) o.seed = randomSeed() >>> 0;
  if (faultsText !== null) {
    const names = faultsText.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    for (const n of names) {
      if (!isFaultKind(n)) return { ok: false, error: `unknown fault kind '${n}' (known: ${ALL_FAULTS.join(', ')})` };
      if (o.mode === 'loopback' && (LAB_ONLY_FAULTS as readonly string[]).includes(n)) {
        return { ok: false, error: `fault kind '${n}' needs the namespace lab: add --lab (root)` };
      }
      if (o.mode === 'lab' && (DEVICE_FAULTS as readonly string[]).includes(n)) {
        return { ok: false, error: `fault kind '${n}' runs on the loopback pair only (the lab's nodes make no kernel device)` };
      }
    }
    if (names.length === 0) return { ok: false, error: '--faults needs at least one fault kind' };
    o.faults = [...new Set(names)] as FaultKind[];
  } else {
    o.faults = o.mode === 'lab' ? [...LOOPBACK_FAULTS, ...LAB_ONLY_FAULTS] : [...LOOPBACK_FAULTS];
  }
  const dataBlocks = Math.floor((o.sizeMiB * 1024 * 1024 * 0.9) / 4096);
  if (o.blocks > dataBlocks) return { ok: false, error: `--blocks ${o.blocks} does not fit in a ${o.sizeMiB} MiB disk (at most ${dataBlocks})` };
  return { ok: true, options: o };
}
