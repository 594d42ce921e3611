// Generic statement parser: tokens → Stmt tree (see ast.ts). Only structural errors are found
// here (missing `;` or `}`, unterminated strings, stray tokens); which keywords a section allows
// is checked by build.ts.

import type { Stmt } from './ast.js';
import { stmtText } from './ast.js';
import { fail, type SourceLoc } from './errors.js';
import { Lexer, type Token } from './lexer.js';

const TOP_LEVEL = new Set(['global', 'common', 'resource', 'include']);

export type WarnFn = (at: SourceLoc, message: string) => void;

export function parseStatements(text: string, file: string, warn: WarnFn = () => undefined): Stmt[] {
  const lx = new Lexer(text, file);
  const out: Stmt[] = [];
  for (;;) {
    const t = lx.next();
    if (t.kind === 'eof') return out;
    const s = statement(lx, t, null, warn);
    if (s) out.push(s);
  }
}

interface Opener {
  what: string;
  at: SourceLoc;
  /** drbdadm (8.4 and 9) accepts end of file in place of the final `}` of a top-level common or resource. */
  eofCloses: boolean;
}

function statement(lx: Lexer, first: Token, inside: Opener | null, warn: WarnFn): Stmt | null {
  if (first.kind === 'bad-string') unterminated(first);
  if (first.kind !== 'word') {
    const ctx = inside ? ` in '${inside.what}'` : '';
    fail(first, `expected a keyword${ctx}, but got ${show(first)}`);
  }
  if (first.text === 'skip') {
    skipBlock(lx, first);
    return null;
  }
  // Refuse junk at top level before reading on to a ';' that may never come (a pasted shell
  // command, a `//` comment).
  if (inside === null && !TOP_LEVEL.has(first.text)) {
    fail(first, `unknown keyword '${first.text}' at top level (expected one of: ${[...TOP_LEVEL, 'skip'].join(', ')})`);
  }
  const args: Token[] = [];
  for (;;) {
    const t = lx.next();
    switch (t.kind) {
      case 'word':
      case 'string':
      case '[':
      case ']':
      case ':':
        args.push(t);
        break;
      case ';':
        return { keyword: first, args, block: null, end: t };
      case '{': {
        const eofCloses = inside === null && (first.text === 'common' || first.text === 'resource');
        const opener = { what: stmtText(first, args), at: first, eofCloses };
        return { keyword: first, args, block: block(lx, opener, warn), end: t };
      }
      case '}':
      case 'eof':
        missingSemicolon(first, args, t);
        break;
      case 'bad-string':
        unterminated(t);
    }
  }
}

function block(lx: Lexer, opener: Opener, warn: WarnFn): Stmt[] {
  const out: Stmt[] = [];
  for (;;) {
    const t = lx.next();
    if (t.kind === '}') return out;
    if (t.kind === 'eof' && opener.eofCloses) {
      warn(t, `missing '}' at end of file to close '${opener.what} {' opened at line ${opener.at.line} (accepted, as drbdadm does)`);
      return out;
    }
    if (t.kind === 'eof') {
      fail(t, `unexpected end of file: missing '}' to close '${opener.what} {' opened at line ${opener.at.line}`);
    }
    if (t.kind === ';') fail(t, `unexpected ';' in '${opener.what}' (expected a keyword or '}')`);
    const s = statement(lx, t, opener, warn);
    if (s) out.push(s);
  }
}

// `skip [anything] { … }` comments out a block; braces nest, and (as in drbdadm) quoted strings
// hide braces while an unterminated quote inside a skip block is simply ignored.
function skipBlock(lx: Lexer, kw: Token): void {
  for (;;) {
    const t = lx.next();
    if (t.kind === '{') break;
    if (t.kind === 'eof' || t.kind === ';' || t.kind === '}') {
      fail(t, `expected '{' after 'skip', but got ${show(t)}`);
    }
  }
  let depth = 1;
  while (depth > 0) {
    const t = lx.next();
    if (t.kind === '{') depth++;
    else if (t.kind === '}') depth--;
    else if (t.kind === 'eof') fail(kw, `end of file inside this 'skip { }' block (unbalanced braces)`);
  }
}

export function missingSemicolon(first: Token, args: readonly Token[], got: Token): never {
  const last = args.length ? args[args.length - 1]! : first;
  const at = { file: last.file, line: last.endLine, col: last.endCol };
  fail(at, `missing ';' after '${stmtText(first, args)}' (found ${show(got)}${got.line !== at.line ? ` on line ${got.line}` : ''})`);
}

function unterminated(t: Token): never {
  fail(t, `unterminated quoted string ${t.text.slice(0, 30)}… (a string must end with '"' on the same line)`);
}

export function show(t: Token): string {
  if (t.kind === 'eof') return 'end of file';
  if (t.kind === 'string') return `"${t.text}"`;
  return `'${t.text}'`;
}
