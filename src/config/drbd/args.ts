// Reading a statement's arguments with precise errors: a missing `;` is reported at the end of
// the statement it belongs to ("missing ';' after 'address 10.0.0.1:7789'"), not at the next
// line's keyword where drbdadm notices it.

import type { Stmt } from './ast.js';
import { stmtText } from './ast.js';
import { fail } from './errors.js';
import type { Token } from './lexer.js';
import { missingSemicolon, show } from './parser.js';

export class Args {
  private i = 0;
  constructor(readonly stmt: Stmt) {}

  get keyword(): Token {
    return this.stmt.keyword;
  }
  get rest(): Token[] {
    return this.stmt.args.slice(this.i);
  }
  peek(offset = 0): Token | undefined {
    return this.stmt.args[this.i + offset];
  }
  done(): boolean {
    return this.i >= this.stmt.args.length;
  }
  /** The last token consumed (or the keyword), for positions "after" something. */
  last(): Token {
    return this.i > 0 ? this.stmt.args[this.i - 1]! : this.stmt.keyword;
  }

  take(what: string): Token {
    const t = this.stmt.args[this.i];
    if (!t) {
      const l = this.last();
      fail({ file: l.file, line: l.endLine, col: l.endCol }, `'${this.keyword.text}' needs ${what}`);
    }
    this.i++;
    return t;
  }

  /** A word or quoted string. */
  text(what: string): Token {
    const t = this.take(what);
    if (t.kind !== 'word' && t.kind !== 'string') fail(t, `expected ${what} after '${this.keyword.text}', but got ${show(t)}`);
    return t;
  }

  punct(kind: '[' | ']' | ':', context: string): Token {
    const t = this.take(`'${kind}' ${context}`);
    if (t.kind !== kind) fail(t, `expected '${kind}' ${context}, but got ${show(t)}`);
    return t;
  }

  /** No more arguments, and a { } block follows. */
  endBlock(): void {
    const extra = this.stmt.args[this.i];
    if (extra) fail(extra, `unexpected ${show(extra)} after '${stmtText(this.keyword, this.stmt.args.slice(0, this.i))}' (expected '{')`);
    if (!this.stmt.block) fail(this.stmt.end, `'${stmtText(this.keyword, this.stmt.args)}' must be followed by a { … } block`);
  }

  /** No more arguments and no block: the statement ends here. */
  end(): void {
    const extra = this.stmt.args[this.i];
    const consumed = this.stmt.args.slice(0, this.i);
    if (extra) {
      const l = this.last();
      if (extra.line !== l.endLine) missingSemicolon(this.keyword, consumed, extra);
      fail(extra, `unexpected ${show(extra)} after '${stmtText(this.keyword, consumed)}' (expected ';')`);
    }
    if (this.stmt.block) {
      fail(this.stmt.end.kind === '}' ? this.keyword : this.stmt.end, `'${stmtText(this.keyword, consumed)}' takes no { } block (expected ';')`);
    }
  }
}

/** For section statements (`net { … }`): a block and no arguments. */
export function expectBlock(stmt: Stmt, name = stmt.keyword.text): Stmt[] {
  if (stmt.args.length) {
    const a = stmt.args[0]!;
    fail(a, `unexpected ${show(a)} after '${name}' (expected '{')`);
  }
  if (!stmt.block) fail(stmt.end, `'${name}' must be followed by a { … } block`);
  return stmt.block;
}
