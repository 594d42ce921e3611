// `include "glob";` — resolved against the including file's directory. A glob that matches
// nothing is fine (drbd.d/*.res with no resources yet); a plain path that cannot be read is an
// error, like drbdadm's "Failed to open include file". This is the only file-system code of
// the parser; tests pass their own resolver.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { decodeConfigBytes } from './lexer.js';

export interface IncludedFile {
  file: string;
  text: string;
}

/** Returns the files `pattern` names, sorted as glob(3) does; throws Error when a non-glob path cannot be read. */
export type IncludeResolver = (pattern: string, includingFile: string) => IncludedFile[];

const GLOB_CHARS = /[*?[]/;

export function isGlob(pattern: string): boolean {
  return GLOB_CHARS.test(pattern);
}

export function readConfigFile(file: string): string {
  return decodeConfigBytes(readFileSync(file));
}

export const fsIncludeResolver: IncludeResolver = (pattern, includingFile) => {
  const full = isAbsolute(pattern) ? pattern : join(dirname(includingFile), pattern);
  if (!isGlob(pattern)) return [{ file: full, text: readConfigFile(full) }];
  return expandGlob(full).map((file) => ({ file, text: readConfigFile(file) }));
};

/** Minimal glob(3): `*`, `?` and `[…]` within path segments; no `**`. */
export function expandGlob(pattern: string): string[] {
  const absolute = pattern.startsWith(sep);
  const segments = pattern.split(sep).filter((s, i) => s !== '' || i === 0);
  let paths = [absolute ? sep : '.'];
  for (const seg of segments) {
    if (seg === '') continue;
    const next: string[] = [];
    for (const base of paths) {
      if (!isGlob(seg)) {
        next.push(base === '.' && !absolute ? seg : join(base, seg));
        continue;
      }
      const re = segmentRegExp(seg);
      let names: string[];
      try {
        names = readdirSync(base === '' ? '.' : base);
      } catch {
        continue;
      }
      for (const n of names.sort()) {
        if (n.startsWith('.') && !seg.startsWith('.')) continue;
        if (re.test(n)) next.push(base === '.' && !absolute ? n : join(base, n));
      }
    }
    paths = next;
  }
  return paths.filter((p) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  });
}

function segmentRegExp(seg: string): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = seg.indexOf(']', i + 2);
      if (close < 0) re += '\\[';
      else {
        let body = seg.slice(i + 1, close);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = close;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}
