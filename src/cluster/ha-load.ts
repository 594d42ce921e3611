// Reads and checks heartbeat's three files from --ha-dir, as heartbeat does at start: ha.cf,
// authkeys (refused when group- or world-readable), haresources, then the checks across them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  checkHaSetup, HaConfigError as HaConfigErrorClass, parseAuthkeys, parseHaCf, parseHaresources, peerOf, warning,
  type AuthKeys, type HaCf, type HaConfigError, type HaDiagnostic, type HaParseResult, type HaResources,
} from '../config/heartbeat/index.js';
import { parseHbExtensions, type HbExtensions } from './ha-extensions.js';
import type { RespawnSpec } from './respawn.js';
import { parseHtpasswd, type WebUsers } from '../web/htpasswd.js';

export interface HbSetup {
  haDir: string;
  self: string;
  peer: string | null;
  haCf: HaCf;
  authkeys: AuthKeys;
  haresources: HaResources;
  ext: HbExtensions;
  /** the respawn lines to run, users resolved (ipfail's left out: its rule is built in) */
  respawn: RespawnSpec[];
  /** tandem_web_auth: who may act from the status page; null: the page is read-only */
  webUsers: WebUsers | null;
  warnings: HaDiagnostic[];
}

export class HbConfigError extends Error {
  constructor(readonly errors: ReadonlyArray<{ message: string }>) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'HbConfigError';
  }
}

function read(file: string): { text: string; mode: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new HbConfigError([{ message: `${file}: cannot open ${code === 'ENOENT' ? '(no such file)' : `(${code ?? (e as Error).message})`}` }]);
  }
  try {
    // fstat on the open file, as heartbeat does, so the mode checked is the file read
    const mode = fs.fstatSync(fd).mode;
    return { text: fs.readFileSync(fd, 'utf8'), mode };
  } finally {
    fs.closeSync(fd);
  }
}

export function loadHbSetup(haDir: string, self: string): HbSetup {
  const warnings: HaDiagnostic[] = [];
  const errors: HaConfigError[] = [];
  const take = <T>(r: HaParseResult<T>): T | null => {
    warnings.push(...r.warnings);
    if (r.ok) return r.value;
    errors.push(...r.errors);
    return null;
  };
  const haCfFile = path.join(haDir, 'ha.cf');
  const keysFile = path.join(haDir, 'authkeys');
  const resFile = path.join(haDir, 'haresources');
  const haCf = take(parseHaCf(read(haCfFile).text, { file: haCfFile }));
  const k = read(keysFile);
  const authkeys = take(parseAuthkeys(k.text, { file: keysFile, mode: k.mode }));
  const haresources = take(parseHaresources(read(resFile).text, { file: resFile }));
  const ext = haCf ? take(parseHbExtensions(haCf)) : null;
  let webUsers: WebUsers | null = null;
  if (ext?.webAuthFile) {
    const w = read(ext.webAuthFile);
    webUsers = take(parseHtpasswd(w.text, { file: ext.webAuthFile, mode: w.mode }));
  }
  if (errors.length > 0 || !haCf || !authkeys || !haresources || !ext) throw new HbConfigError(errors);
  const cross = checkHaSetup({ haCf, haresources, self });
  if (cross.length > 0) throw new HbConfigError(cross);
  const respawn = checkRespawns(haCf, systemRespawnChecks);
  warnings.push(...respawn.warnings);
  if (respawn.errors.length > 0) throw new HbConfigError(respawn.errors);
  const me = self.toLowerCase();
  return { haDir, self: me, peer: peerOf(haCf, me), haCf, authkeys, haresources, ext, respawn: respawn.run, webUsers, warnings };
}

export interface RespawnChecks {
  /** uid and gid of a user name, or null when there is no such user */
  user(name: string): { uid: number; gid: number } | null;
  executable(file: string): boolean;
}

/**
 * heartbeat's checks of respawn lines at start (config.c add_client_child_base): the user must
 * exist ("Invalid uid [%s] specified for client child") and the program be executable ("Client
 * child command [%s] is not executable"). ipfail is not run: its rule is built into tandem-hb.
 */
export function checkRespawns(haCf: HaCf, checks: RespawnChecks): { run: RespawnSpec[]; errors: HaConfigError[]; warnings: HaDiagnostic[] } {
  const run: RespawnSpec[] = [];
  const errors: HaConfigError[] = [];
  const warnings: HaDiagnostic[] = [];
  for (const r of haCf.respawn) {
    const program = r.command[0]!;
    if (path.basename(program) === 'ipfail') {
      warnings.push(warning(haCf.file, r.line, r.col, `not running ${program}: ipfail's rule is built into tandem-hb (ha.cf ping / ping_group)`));
      continue;
    }
    const ids = checks.user(r.user);
    if (!ids) { errors.push(new HaConfigErrorClass(haCf.file, r.line, 1, `Invalid uid [${r.user}] specified for client child`)); continue; }
    if (!checks.executable(program)) { errors.push(new HaConfigErrorClass(haCf.file, r.line, r.col, `Client child command [${program}] is not executable`)); continue; }
    run.push({ ...r, ...ids });
  }
  return { run, errors, warnings };
}

export const systemRespawnChecks: RespawnChecks = {
  user(name) {
    try {
      const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      return { uid: id('-u'), gid: id('-g') };
    } catch {
      return null;
    }
  },
  executable(file) {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  },
};
