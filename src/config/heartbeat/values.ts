// Value syntaxes exactly as heartbeat reads them (cl_get_msec, cl_str_to_boolean).

/**
 * heartbeat's time values: a bare number is seconds (decimals allowed: `1.5`, `.5`), `NNNms`/`NNNmsec`
 * milliseconds, `NNNus`/`NNNusec` microseconds; rounded to the nearest millisecond. There is no `s`
 * suffix: heartbeat refuses `2s`, and so do we, with a hint.
 */
export function parseHbTime(text: string): { ok: true; ms: number } | { ok: false; reason: string } {
  const m = /^(\d+(?:\.\d*)?|\.\d+)(ms|msec|us|usec)?$/i.exec(text);
  if (!m) {
    const hint = /^(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|secs|seconds?)$/i.exec(text);
    if (hint) {
      return {
        ok: false,
        reason: `'${text}' is not a time value heartbeat reads: a bare number is already seconds; write ${hint[1]} or ${Math.round(Number(hint[1]) * 1000)}ms`,
      };
    }
    return { ok: false, reason: `'${text}' is not a time value: write seconds (2, 1.5), milliseconds (500ms) or microseconds (500us)` };
  }
  const value = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const ms = unit.startsWith('m') ? value : unit.startsWith('u') ? value / 1000 : value * 1000;
  if (!Number.isFinite(ms) || ms > 2 ** 31) return { ok: false, reason: `'${text}' is too large` };
  return { ok: true, ms: Math.floor(ms + 0.5) };
}

const TRUE_WORDS = new Set(['true', 'on', 'yes', 'y', '1']);
const FALSE_WORDS = new Set(['false', 'off', 'no', 'n', '0']);

/** cl_str_to_boolean: true/on/yes/y/1 and false/off/no/n/0, any case. */
export function parseHbBoolean(text: string): boolean | null {
  const t = text.toLowerCase();
  if (TRUE_WORDS.has(t)) return true;
  if (FALSE_WORDS.has(t)) return false;
  return null;
}

export function parseIpv4(text: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return null;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? octets : null;
}

export function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : null;
}

/** A host name or an IPv4 address (heartbeat resolves ucast/ping peers with gethostbyname). */
export function isHostOrIp(text: string): boolean {
  if (/^[\d.]+$/.test(text)) return parseIpv4(text) !== null;
  return /^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(text);
}
