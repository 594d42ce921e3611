// A small seeded PRNG (mulberry32) so that one --seed reproduces the whole run: the fault
// schedule, the writer's block choices and the timings drawn from it. Not for cryptography.

export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = mix(seed) >>> 0;
  }

  /** uniform in [0, 1) */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** integer in [min, max] */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A child generator: its draws do not shift this one's sequence beyond one call. */
  fork(): Prng {
    return new Prng(Math.floor(this.next() * 4294967296));
  }
}

/** A 32-bit hash of several integers (splitmix-like), for seeds derived from (run, block, version). */
export function mix(...values: number[]): number {
  let h = 0x9e3779b9;
  for (const v of values) {
    // fold in the high bits too: versions and seeds may exceed 32 bits
    const lo = v >>> 0;
    const hi = Math.floor(v / 4294967296) >>> 0;
    h = Math.imul(h ^ lo, 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13) ^ hi, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
  }
  return h >>> 0;
}
