// Reads and checks heartbeat's three files from --ha-dir, as heartbeat does at start: ha.cf,
// authkeys (refused when group- or world-readable), haresources, then the checks across them.
import fs from 'node:fs';
import path from 'node:path';
import {
  checkHaSetup, parseAuthkeys, parseHaCf, parseHaresources, peerOf,
  type AuthKeys, type HaCf, type HaConfigError, type HaDiagnostic, type HaParseResult, type HaResources,
} from '../config/heartbeat/index.js';
import { parseHbExtensions, type HbExtensions } from './ha-extensions.js';
import { parseHtpasswd, type WebUsers } from '../web/htpasswd.js';

export interface HbSetup {
  haDir: string;
  self: string;
  peer: string | null;
  haCf: HaCf;
  authkeys: AuthKeys;
  haresources: HaResources;
  ext: HbExtensions;
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
  const me = self.toLowerCase();
  return { haDir, self: me, peer: peerOf(haCf, me), haCf, authkeys, haresources, ext, webUsers, warnings };
}
