// The shape every drbd.conf statement has, before any meaning is attached:
//   keyword arg* ;            e.g. `address ipv4 10.0.0.1:7789;`
//   keyword arg* { stmt* }    e.g. `on alice { … }`, `net { … }`
// `skip [words] { … }` blocks never reach the tree. Sections give the statements meaning
// (build.ts); keeping the two apart lets one small parser serve every section and lets
// constructs Tandem does not implement (volume, proxy, stacked-on-top-of …) be kept verbatim.

import type { SourceLoc } from './errors.js';
import type { Token } from './lexer.js';

export interface Stmt {
  keyword: Token; // always a word
  args: Token[]; // words, strings and the punctuation `[ ] :`
  block: Stmt[] | null; // null for `;`-terminated statements
  /** `;` for simple statements, the closing `}` for blocks. */
  end: Token;
}

/** A statement kept verbatim for dump (constructs Tandem parses but does not implement). */
export interface RawArg {
  text: string;
  quoted: boolean;
}
export interface RawNode {
  keyword: string;
  args: RawArg[];
  block: RawNode[] | null;
  loc: SourceLoc;
}

export function toRaw(s: Stmt): RawNode {
  return {
    keyword: s.keyword.text,
    args: s.args.map((a) => ({ text: a.text, quoted: a.kind === 'string' })),
    block: s.block ? s.block.map(toRaw) : null,
    loc: locOf(s.keyword),
  };
}

export function locOf(t: SourceLoc): SourceLoc {
  return { file: t.file, line: t.line, col: t.col };
}

/** Statement text as written (for messages), e.g. `address 10.0.0.1:7789`. */
export function stmtText(keyword: Token, args: readonly Token[]): string {
  return [keyword, ...args].reduce((acc, t, i, all) => {
    const shown = t.kind === 'string' ? JSON.stringify(t.text) : t.text;
    if (i === 0) return shown;
    const prev = all[i - 1]!;
    const glue = prev.kind === '[' || prev.kind === ':' || t.kind === ']' || t.kind === ':' ? '' : ' ';
    return acc + glue + shown;
  }, '');
}
