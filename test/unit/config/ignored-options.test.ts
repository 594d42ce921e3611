// Options Tandem accepts but does not act on yet: warned about with what Tandem does instead,
// marked in dump, never a reason for `up` to refuse (real configs carry them).
import { describe, expect, it } from 'vitest';
import { dumpConfig } from '../../../src/config/index.js';
import { parse, res } from './helpers.js';

describe("options accepted but not acted on ('ignored')", () => {
  it.each([
    ['  disk { c-plan-ahead 20; }\n', 'c-plan-ahead', /fixed resync-rate \(DRBD's c-plan-ahead 0 mode\)/],
    ['  disk { c-max-rate 100M; c-min-rate 10M; c-fill-target 1M; c-delay-target 10; }\n', 'c-max-rate', /fixed resync-rate/],
  ])('%s', (body, name, why) => {
    const cfg = parse(res(body));
    const w = cfg.warnings.find((x) => x.message.startsWith(`'${name}' is accepted but not acted on by Tandem: `));
    expect(w, JSON.stringify(cfg.warnings)).toBeDefined();
    expect(w!.message).toMatch(why);
    expect(cfg.resources[0]!.unsupported).toEqual([]);
    expect(dumpConfig(cfg)).toMatch(new RegExp(`${name} [^;]+; # not acted on by Tandem: `));
  });
});
