// Tokens of drbd.conf, following drbdadm's flex scanner (drbd-utils user/v84/drbdadm_scanner.fl):
// `#` starts a comment anywhere outside quotes (so comments swallow braces), `{ } ; [ ] :` are
// single-character tokens, "…" strings take backslash escapes and may not span lines, and
// everything else up to whitespace or one of those characters is a word. Numbers, IPs and
// keywords are all words here; their meaning is decided by the section they appear in.

import type { SourceLoc } from './errors.js';

export type PunctKind = '{' | '}' | ';' | '[' | ']' | ':';
export type TokenKind = 'word' | 'string' | PunctKind | 'eof' | 'bad-string';

export interface Token extends SourceLoc {
  kind: TokenKind;
  /** Words: as written. Strings: the unescaped contents. bad-string: the raw text. */
  text: string;
  /** Position just after the token, for "missing ';' after …" reports. */
  endLine: number;
  endCol: number;
}

const PUNCT = new Set(['{', '}', ';', '[', ']', ':']);
const WS = new Set([' ', '\t', '\r', '\n', '\f', '\v']);

function isWordChar(c: string): boolean {
  return !WS.has(c) && !PUNCT.has(c) && c !== '"' && c !== '#';
}

export class Lexer {
  private pos = 0;
  private line = 1;
  private col = 1;

  constructor(
    private readonly text: string,
    readonly file: string,
  ) {}

  private advance(): string {
    const c = this.text[this.pos++]!;
    if (c === '\n') {
      this.line++;
      this.col = 1;
    } else {
      this.col++;
    }
    return c;
  }

  private skipBlanksAndComments(): void {
    while (this.pos < this.text.length) {
      const c = this.text[this.pos]!;
      if (WS.has(c)) this.advance();
      else if (c === '#') while (this.pos < this.text.length && this.text[this.pos] !== '\n') this.advance();
      else break;
    }
  }

  next(): Token {
    this.skipBlanksAndComments();
    const start = { file: this.file, line: this.line, col: this.col };
    const done = (kind: TokenKind, text: string): Token => ({
      ...start,
      kind,
      text,
      endLine: this.line,
      endCol: this.col,
    });
    if (this.pos >= this.text.length) return done('eof', '');
    const c = this.text[this.pos]!;
    if (PUNCT.has(c)) {
      this.advance();
      return done(c as PunctKind, c);
    }
    if (c === '"') return this.quoted(done);
    let word = '';
    while (this.pos < this.text.length && isWordChar(this.text[this.pos]!)) word += this.advance();
    return done('word', word);
  }

  private quoted(done: (kind: TokenKind, text: string) => Token): Token {
    const rawStart = this.pos;
    this.advance(); // opening quote
    let value = '';
    while (this.pos < this.text.length) {
      const c = this.text[this.pos]!;
      if (c === '\n') break;
      if (c === '"') {
        this.advance();
        return done('string', value);
      }
      if (c === '\\') {
        this.advance();
        if (this.pos >= this.text.length || this.text[this.pos] === '\n') break;
        value += this.advance();
        continue;
      }
      value += this.advance();
    }
    // Like drbdadm, an unterminated string ends at the end of its line; the parser decides
    // whether that is an error (it is, except inside `skip { }`).
    return done('bad-string', this.text.slice(rawStart, this.pos));
  }
}

/** Decode a config file's bytes: UTF-8 when valid, else Latin-1 so that GBK or other legacy
 * bytes in comments cannot make a file unreadable (each byte becomes one character). */
export function decodeConfigBytes(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return Buffer.from(bytes).toString('latin1');
  }
}
