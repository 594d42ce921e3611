// Numbers as drbdadm reads them (m_strtoll in drbd-utils): an integer with an optional suffix
// K, M, G (powers of 1024) or s (512-byte sectors). A bare number is in the option's own unit
// (its DRBD_*_SCALE in drbd_limits.h): resync-rate is in KiB/s, c-fill-target in sectors,
// sndbuf-size in bytes. Time options are plain numbers in a fixed unit — seconds for ping-int,
// tenths of a second for timeout and ping-timeout — and take no suffix.

export type Unit =
  | 'count' // a plain number; K/M/G multiply by 1024^n as drbdadm does (max-buffers 8K = 8192)
  | 'bytes'
  | 'KiB'
  | 'sectors'
  | 'seconds'
  | 'deciseconds';

const SUFFIX_BYTES: Record<string, number> = { s: 512, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const UNIT_BYTES: Partial<Record<Unit, number>> = { bytes: 1, KiB: 1024, sectors: 512 };

export const UNIT_WORDS: Record<Unit, string> = {
  count: '',
  bytes: 'bytes',
  KiB: 'KiB',
  sectors: 'sectors (512 bytes)',
  seconds: 'seconds',
  deciseconds: 'tenths of a second',
};

export type NumberParse = { ok: true; value: number } | { ok: false; reason: string };

/** Parse `text` into the option's unit. */
export function parseNumber(text: string, unit: Unit): NumberParse {
  const m = /^(\d+)([KMGkmgsS]?)$/.exec(text);
  if (!m) {
    const hint = /^\d+[A-Za-z]+$/.test(text) ? ' (allowed unit suffixes: K, M, G, s)' : '';
    return { ok: false, reason: `'${text}' is not a number${hint}` };
  }
  const n = Number(m[1]);
  const suffix = m[2]!.toLowerCase();
  if (!suffix) return { ok: true, value: n };
  if (unit === 'seconds' || unit === 'deciseconds') {
    return { ok: false, reason: `'${text}': this option is a plain number of ${UNIT_WORDS[unit]} and takes no unit suffix` };
  }
  if (unit === 'count') {
    if (suffix === 's') return { ok: false, reason: `'${text}': a count takes no 's' (sectors) suffix` };
    return { ok: true, value: n * SUFFIX_BYTES[suffix]! };
  }
  const bytes = n * SUFFIX_BYTES[suffix]!;
  const per = UNIT_BYTES[unit]!;
  // drbdadm rounds a value finer than the option's unit up (1s of a KiB option is 1 KiB).
  return { ok: true, value: Math.ceil(bytes / per) };
}

/** The value in bytes (size/rate options) or milliseconds (time options). */
export function toBase(value: number, unit: Unit): number {
  switch (unit) {
    case 'bytes':
    case 'KiB':
    case 'sectors':
      return value * UNIT_BYTES[unit]!;
    case 'seconds':
      return value * 1000;
    case 'deciseconds':
      return value * 100;
    case 'count':
      return value;
  }
}

/** Render a value for messages, e.g. `4194304 KiB`. */
export function withUnit(value: number, unit: Unit): string {
  return unit === 'count' ? String(value) : `${value} ${UNIT_WORDS[unit]}`;
}
