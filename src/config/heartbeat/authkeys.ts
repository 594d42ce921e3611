// authkeys: the keys that sign heartbeat packets, read as heartbeat's auth.c parse_authfile does:
// `auth N` picks the key used to sign outgoing packets; `N method [secret]` lines define keys
// (several may exist for key rollover; any defined key is accepted on input). The secret is one
// blank-free word (sscanf %s), so a `#` inside it is part of the secret; only whole lines are comments.

import { HaConfigError, type HaDiagnostic, type HaParseResult, warning } from './errors.js';
import { tokenizeLines } from './tokens.js';

export type AuthMethod = 'sha1' | 'md5' | 'crc';

export interface AuthKey {
  /** 0-15 (heartbeat's MAXAUTH is 16; the man page says 1-15) */
  index: number;
  method: AuthMethod;
  /** '' for crc, which takes no key */
  secret: string;
}

export interface AuthKeys {
  file: string;
  /** the key named by `auth N`: outgoing packets are signed with it */
  active: AuthKey;
  /** every key in the file, in file order; incoming packets may use any of them */
  keys: AuthKey[];
}

export interface AuthkeysOptions {
  file?: string;
  /** st_mode of the file; when given, a group- or world-readable file is refused as heartbeat does */
  mode?: number;
}

const MAXAUTH = 16;
const METHODS: ReadonlySet<string> = new Set(['sha1', 'md5', 'crc']);

/** heartbeat refuses the key file if it is group- or world-readable (S_IRGRP|S_IROTH), whatever else the mode says. */
export function checkAuthkeysMode(mode: number, file = 'authkeys'): HaConfigError | null {
  if ((mode & 0o044) === 0) return null;
  const octal = (mode & 0o7777).toString(8).padStart(4, '0');
  return new HaConfigError(file, 0, 0, `Bad permissions on keyfile [${file}], 600 recommended (mode is ${octal}; it must not be group- or world-readable: chmod 600 ${file})`);
}

export function parseAuthkeys(text: string, options: AuthkeysOptions = {}): HaParseResult<AuthKeys> {
  const file = options.file ?? 'authkeys';
  const errors: HaConfigError[] = [];
  const warnings: HaDiagnostic[] = [];
  if (options.mode !== undefined) {
    const modeError = checkAuthkeysMode(options.mode, file);
    if (modeError) return { ok: false, errors: [modeError], warnings };
  }

  let auth: { index: number; line: number; col: number } | null = null;
  const keys: AuthKey[] = [];
  const keyLines = new Map<number, number>();

  for (const { tokens, line } of tokenizeLines(text, 'leading')) {
    const [first, ...rest] = tokens;
    if (first === undefined) continue;
    if (first.text === 'auth') {
      const n = rest[0];
      if (!n || !/^\d+$/.test(n.text)) {
        errors.push(new HaConfigError(file, line, (n ?? first).col, "Invalid auth line: expected 'auth N' with the number of the key that signs outgoing packets"));
        continue;
      }
      if (rest.length > 1) warnings.push(warning(file, line, rest[1]!.col, `text after 'auth ${n.text}' is ignored`));
      if (auth) warnings.push(warning(file, line, first.col, `second 'auth' line; it replaces 'auth ${auth.index}' from line ${auth.line}`));
      auth = { index: Number(n.text), line, col: n.col };
      continue;
    }
    if (!/^\d+$/.test(first.text)) {
      errors.push(new HaConfigError(file, line, first.col, `Invalid auth line: expected 'auth N' or 'N sha1|md5|crc [secret]', got '${first.text}'`));
      continue;
    }
    const index = Number(first.text);
    const [methodTok, secretTok, extra] = rest;
    if (index >= MAXAUTH) {
      errors.push(new HaConfigError(file, line, first.col, `Invalid key number ${first.text}: keys are numbered 0-15`));
      continue;
    }
    if (!methodTok) {
      errors.push(new HaConfigError(file, line, first.col, `key ${index} has no method: write '${index} sha1 SECRET'`));
      continue;
    }
    const method = methodTok.text;
    if (!METHODS.has(method)) {
      errors.push(new HaConfigError(file, line, methodTok.col, `Invalid authtype [${method}]: Tandem supports sha1, md5 and crc`));
      continue;
    }
    if (method === 'crc' && secretTok) {
      errors.push(new HaConfigError(file, line, secretTok.col, "Auth method [crc] doesn't use a key"));
      continue;
    }
    if (method !== 'crc' && !secretTok) {
      errors.push(new HaConfigError(file, line, methodTok.col, `Auth method [${method}] requires a key`));
      continue;
    }
    if (extra) warnings.push(warning(file, line, extra.col, `text after the secret is ignored: heartbeat reads the secret as one word ('${secretTok!.text}')`));
    const previous = keyLines.get(index);
    if (previous !== undefined) {
      errors.push(new HaConfigError(file, line, first.col, `key ${index} is defined twice (first on line ${previous})`));
      continue;
    }
    keyLines.set(index, line);
    keys.push({ index, method: method as AuthMethod, secret: secretTok?.text ?? '' });
  }

  if (errors.length > 0) return { ok: false, errors, warnings };
  if (!auth) {
    return { ok: false, errors: [new HaConfigError(file, 0, 0, "Missing auth directive in keyfile: add 'auth N' naming the key to sign with")], warnings };
  }
  const active = keys.find((k) => k.index === auth.index);
  if (!active) {
    return { ok: false, errors: [new HaConfigError(file, auth.line, auth.col, `Auth Key [${auth.index}] not found in keyfile`)], warnings };
  }
  if (active.method === 'crc') {
    warnings.push(warning(file, auth.line, auth.col, 'crc is a checksum, not authentication: anyone on the network can forge heartbeats; use sha1'));
  }
  return { ok: true, value: { file, active, keys }, warnings };
}
