// `npm run torture -- …`: every option, and a one-line reason for every bad one.
import { describe, expect, it } from 'vitest';
import { parseArgs } from '../../../scripts/torture/args.js';
import { LOOPBACK_FAULTS, LAB_ONLY_FAULTS } from '../../../scripts/torture/schedule.js';

const parse = (...argv: string[]) => parseArgs(argv, () => 1234);

describe('torture arguments', () => {
  it('defaults: loopback, every loopback fault, a random seed', () => {
    expect(parse()).toEqual({ ok: true, options: expect.objectContaining({ rounds: 5, seed: 1234, json: false, mode: 'loopback', faults: [...LOOPBACK_FAULTS] }) });
  });

  it('reads --rounds, --seed, --json, --lab, --faults, both as two words and with =', () => {
    const r = parse('--', '--rounds', '20', '--seed=99', '--json', '--lab', '--faults', 'netem,kill-primary', '--depth=4');
    expect(r).toEqual({ ok: true, options: expect.objectContaining({ rounds: 20, seed: 99, json: true, mode: 'lab', faults: ['netem', 'kill-primary'], depth: 4 }) });
    expect(parse('--lab')).toMatchObject({ ok: true, options: { faults: [...LOOPBACK_FAULTS, ...LAB_ONLY_FAULTS] } });
  });

  it('the kernel-device round runs only when named, and only on the loopback pair', () => {
    expect(parse()).toMatchObject({ ok: true, options: { faults: [...LOOPBACK_FAULTS] } });
    expect(parse('--faults', 'device-kill-primary,kill-primary')).toMatchObject({ ok: true, options: { mode: 'loopback', faults: ['device-kill-primary', 'kill-primary'] } });
  });

  it.each([
    [['--rounds'], '--rounds needs a value'],
    [['--rounds', 'many'], "--rounds: 'many' is not a whole number"],
    [['--rounds', '0'], '--rounds: 0 is out of range (1..100000)'],
    [['--seed', '-1'], "--seed: '-1' is not a whole number"],
    [['--faults', 'meteor'], "unknown fault kind 'meteor'"],
    [['--faults', 'cable-primary'], "fault kind 'cable-primary' needs the namespace lab: add --lab (root)"],
    [['--faults', ','], '--faults needs at least one fault kind'],
    [['--lab', '--faults', 'device-kill-primary'], "fault kind 'device-kill-primary' runs on the loopback pair only (the lab's nodes make no kernel device)"],
    [['--blocks', '100000', '--size-mib', '8'], '--blocks 100000 does not fit in a 8 MiB disk'],
    [['--frobnicate'], "unknown argument '--frobnicate'"],
  ])('%j → %s', (argv, message) => {
    const r = parse(...argv);
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.error).toContain(message);
  });

  it('answers --help', () => {
    expect(parse('--help')).toEqual({ ok: 'help' });
  });
});
