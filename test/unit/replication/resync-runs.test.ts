// runsOf: the differing blocks of a checksum request go out as runs of neighbours (one resync-data
// message per run). Property: the runs cover exactly the given blocks, in order, none touching.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runsOf } from '../../../src/replication/resync.js';

describe('runsOf', () => {
  it.each([
    [[], []],
    [[0], [[0, 1]]],
    [[0, 1, 2], [[0, 3]]],
    [[1, 3, 4, 7], [[1, 1], [3, 2], [7, 1]]],
  ])('%j -> %j', (input, runs) => {
    expect(runsOf(input)).toEqual(runs);
  });

  it('covers exactly the blocks given, with a gap between runs', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(300)), (xs) => {
        const sorted = [...xs].sort((a, b) => a - b);
        const runs = runsOf(sorted);
        expect(runs.flatMap(([first, n]) => Array.from({ length: n }, (_, i) => first + i))).toEqual(sorted);
        for (let i = 1; i < runs.length; i++) expect(runs[i]![0]).toBeGreaterThan(runs[i - 1]![0] + runs[i - 1]![1]);
      }),
    );
  });
});
