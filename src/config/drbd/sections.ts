// Option sections: global, net, disk, startup, handlers, options and the 8.3 syncer. Each
// statement is looked up in the keyword tables (options.ts), its value validated, and the
// result stored under its 8.4 name in the section it belongs to.

import { Args } from './args.js';
import type { Stmt } from './ast.js';
import { locOf } from './ast.js';
import { closest, fail } from './errors.js';
import type { Token } from './lexer.js';
import type { OptionEntry, OptionValue } from './model.js';
import { FOREIGN_KEYWORDS, SPELLINGS, type OptionDef, type Spelling, type WrittenSection } from './options.js';
import { parseOptionValue } from './values.js';

export interface OptionSink {
  /** A parsed option with its definition; the sink stores it and records support warnings. */
  option(entry: OptionEntry, def: OptionDef, sp: Spelling): void;
  warn(at: Token, message: string): void;
}

export function parseOptionBlock(stmts: readonly Stmt[], written: WrittenSection, sink: OptionSink): void {
  for (const s of stmts) parseOptionStmt(s, written, sink);
}

export function parseOptionStmt(s: Stmt, written: WrittenSection, sink: OptionSink): void {
  const sp = lookup(s.keyword, written);
  if (sp.def.support === 'deprecated') {
    sink.warn(s.keyword, sp.deprecatedNote ?? `'${s.keyword.text}' is deprecated and ignored`);
    return;
  }
  if (s.block) fail(s.keyword, `'${s.keyword.text}' takes a value, not a { } block`);
  const value: OptionValue = parseOptionValue(new Args(s), sp);
  const entry: OptionEntry = { name: sp.def.name, value, loc: locOf(s.keyword) };
  if (sp.spelledAs) entry.spelledAs = sp.spelledAs;
  if (sp.deprecatedNote) sink.warn(s.keyword, `${sp.deprecatedNote}; read as '${sp.def.name}'`);
  sink.option(entry, sp.def, sp);
}

export function sectionKeywords(written: WrittenSection): string[] {
  const m = SPELLINGS.get(written);
  if (!m) return [];
  return [...m.entries()].filter(([, sp]) => sp.def.support !== 'deprecated').map(([k]) => k);
}

function lookup(kw: Token, written: WrittenSection): Spelling {
  const sp = SPELLINGS.get(written)?.get(kw.text);
  if (sp) return sp;
  const where = `in section '${written}'`;
  const foreign = FOREIGN_KEYWORDS[kw.text];
  if (foreign) fail(kw, `unknown keyword '${kw.text}' ${where}: ${foreign}`);
  for (const [other, m] of SPELLINGS) {
    if (other !== written && m.has(kw.text) && m.get(kw.text)!.def.support !== 'deprecated') {
      const home = m.get(kw.text)!.def.section;
      fail(kw, `'${kw.text}' is not allowed ${where}; it belongs in '${home === 'global' ? 'global' : home} { }'`);
    }
  }
  const known = sectionKeywords(written);
  const guess = closest(kw.text, known);
  fail(kw, `unknown keyword '${kw.text}' ${where}${guess ? `; did you mean '${guess}'?` : ''} (expected one of: ${known.join(', ')})`);
}
