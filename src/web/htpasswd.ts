// The users allowed to act from the status page (ha.cf `tandem_web_auth FILE`): Apache's htpasswd
// format with bcrypt hashes only (`htpasswd -B -c FILE admin`), so an operator makes the file
// with a tool they already have. Like authkeys, the file must not be group- or world-readable.
// bcrypt (bcryptjs) rather than Node's scrypt: htpasswd writes bcrypt, and its cost factor is in
// the hash, so every check costs the same tens of milliseconds an attacker pays per guess.
import bcrypt from 'bcryptjs';
import { HaConfigError, type HaParseResult } from '../config/heartbeat/errors.js';

export interface WebUsers {
  file: string;
  /** user → bcrypt hash */
  hashes: ReadonlyMap<string, string>;
}

const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;

function kindOf(hash: string): string {
  if (hash.startsWith('$apr1$')) return 'an Apache MD5 ($apr1$) hash';
  if (hash.startsWith('{SHA}')) return 'a SHA-1 ({SHA}) hash';
  if (hash.startsWith('$5$') || hash.startsWith('$6$')) return 'a crypt SHA-2 hash';
  return 'not a bcrypt hash';
}

export function parseHtpasswd(text: string, opts: { file: string; mode: number }): HaParseResult<WebUsers> {
  const { file } = opts;
  const errors: HaConfigError[] = [];
  if ((opts.mode & 0o044) !== 0) {
    const octal = (opts.mode & 0o7777).toString(8).padStart(4, '0');
    errors.push(new HaConfigError(file, 0, 0, `Bad permissions on password file [${file}], 600 recommended (mode is ${octal}; it must not be group- or world-readable: chmod 600 ${file})`));
  }
  const hashes = new Map<string, string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      errors.push(new HaConfigError(file, i + 1, 1, 'expected USER:HASH (make the file with htpasswd -B)'));
      return;
    }
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1).trim();
    if (!BCRYPT.test(hash)) {
      errors.push(new HaConfigError(file, i + 1, colon + 2, `user '${user}': ${kindOf(hash)}; only bcrypt is accepted (htpasswd -B)`));
      return;
    }
    if (hashes.has(user)) {
      errors.push(new HaConfigError(file, i + 1, 1, `user '${user}' is listed twice`));
      return;
    }
    hashes.set(user, hash);
  });
  if (errors.length === 0 && hashes.size === 0) errors.push(new HaConfigError(file, 0, 0, 'no users: add one with htpasswd -B FILE USER'));
  if (errors.length > 0) return { ok: false, errors, warnings: [] };
  return { ok: true, value: { file, hashes }, warnings: [] };
}

/** A hash of the right shape for unknown users, so a wrong name costs as much as a wrong password. */
const DUMMY = '$2b$10$tqIVW6dZhNvBvC8UwIPU6Ok1fRPV0iR5O/5umshIqxrFTxf.MH5lq';

/** The user name when `Authorization: Basic …` names a user of the file with the right password. */
export async function checkBasicAuth(users: WebUsers, header: string | undefined): Promise<string | null> {
  const m = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header?.trim() ?? '');
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return null;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  const hash = users.hashes.get(user);
  const ok = await bcrypt.compare(password, hash ?? DUMMY);
  return ok && hash !== undefined ? user : null;
}
