// Lexical details drbdadm users rely on: comments swallow braces, quoted strings with escapes,
// CRLF, non-UTF-8 bytes in comments, skip blocks, statements split over lines.
import { describe, expect, it } from 'vitest';
import { Lexer, decodeConfigBytes } from '../../../src/config/drbd/lexer.js';
import { parseStatements } from '../../../src/config/drbd/parser.js';
import { parse, res, TWO_HOSTS } from './helpers.js';

const kinds = (text: string) => {
  const lx = new Lexer(text, 'x');
  const out: string[] = [];
  for (let t = lx.next(); t.kind !== 'eof'; t = lx.next()) out.push(`${t.kind}:${t.text}@${t.line}:${t.col}`);
  return out;
};

describe('lexer', () => {
  it('splits words, punctuation and strings with positions', () => {
    expect(kinds('address 10.0.0.1:7789;\n  fence-peer"/a b";')).toEqual([
      'word:address@1:1',
      'word:10.0.0.1@1:9',
      ':::@1:17',
      'word:7789@1:18',
      ';:;@1:22',
      'word:fence-peer@2:3',
      'string:/a b@2:13',
      ';:;@2:19',
    ]);
  });
  it('comments swallow braces and quotes', () => {
    expect(kinds('a { # } " {\n}')).toEqual(['word:a@1:1', '{:{@1:3', '}:}@2:1']);
  });
  it('unescapes quoted strings', () => {
    expect(kinds('"a \\"b\\" \\\\ c"')).toEqual(['string:a "b" \\ c@1:1']);
  });
  it('treats CR as white space', () => {
    expect(kinds('a;\r\nb;\r\n')).toEqual(['word:a@1:1', ';:;@1:2', 'word:b@2:1', ';:;@2:2']);
  });
  it('reports an unterminated string as bad-string, ending at the line end', () => {
    expect(kinds('"abc\nd')).toEqual(['bad-string:"abc@1:1', 'word:d@2:1']);
  });
  it('decodes UTF-8, and falls back to Latin-1 for other bytes (GBK comments)', () => {
    expect(decodeConfigBytes(Buffer.from('# 节点\nx', 'utf8'))).toBe('# 节点\nx');
    const gbk = Buffer.from([0x23, 0x20, 0xca, 0xb9, 0xd3, 0xc3, 0x0a, 0x78]);
    const text = decodeConfigBytes(gbk);
    expect(text.length).toBe(8);
    expect(text.endsWith('\nx')).toBe(true);
  });
});

describe('statement structure', () => {
  it('skip blocks are ignored, with nested braces, quotes and unterminated quotes inside', () => {
    const text = `skip {\n  'resource <x> {...}' { nested }\n  <string> := (<name>|\\"([^\\"\\\\\\n]*|\\\\.)*\\")+\n}\nskip resource r9 { on a { } }\n${res('')}`;
    expect(parse(text).resources.map((r) => r.name)).toEqual(['r0']);
  });
  it('accepts Allman braces, values on the next line, no space before { and several statements per line', () => {
    const text = `resource r0\n{\n  disk{\n    resync-rate\n    33M;\n  }\n  handlers { fence-peer\n"/x"; }\n  startup { wfc-timeout 0; degr-wfc-timeout 120; }${TWO_HOSTS}\n} `;
    const r = parse(text).resources[0]!;
    expect(r.sections.disk[0]).toMatchObject({ name: 'resync-rate', value: { value: 33 * 1024 }, loc: { line: 4, col: 5 } });
    expect(r.sections.handlers[0]).toMatchObject({ name: 'fence-peer', value: { value: '/x' } });
    expect(r.sections.startup.map((e) => e.name)).toEqual(['wfc-timeout', 'degr-wfc-timeout']);
  });
  it('CRLF files give the same model as LF files', () => {
    const lf = res('  net { protocol A; }\n');
    expect(JSON.stringify(parse(lf.replace(/\n/g, '\r\n')).resources[0]!.sections)).toBe(JSON.stringify(parse(lf).resources[0]!.sections));
  });
  it('a file of comments only is an empty configuration', () => {
    expect(parse('#resource r0 {\n#}\n').resources).toEqual([]);
  });
  it('a missing final } of a top-level section is accepted with a warning, as drbdadm does', () => {
    const cfg = parse('common {\n  net { protocol C; }\n');
    expect(cfg.common.net.map((e) => e.name)).toEqual(['protocol']);
    expect(cfg.warnings).toMatchObject([{ line: 3, col: 1, message: expect.stringMatching(/missing '}' at end of file to close 'common \{' opened at line 1/) }]);
  });
  it('parseStatements keeps block structure', () => {
    const s = parseStatements('resource b { c; d e { } }', 'x');
    expect(s.map((x) => [x.keyword.text, x.args.map((y) => y.text), x.block?.map((y) => y.keyword.text)])).toEqual([['resource', ['b'], ['c', 'd']]]);
  });
});
