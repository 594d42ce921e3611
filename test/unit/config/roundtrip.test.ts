// dump is normalised and re-parseable: parse → dump → parse gives the same model. Checked on
// hand-picked configs and, with fast-check, on random valid configs drawn from the keyword
// tables (every section, 8.3 and 8.4 spellings, every value kind and unit suffix).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dumpConfig } from '../../../src/config/index.js';
import { SPELLINGS, type Spelling, type WrittenSection } from '../../../src/config/drbd/options.js';
import { parseNumber } from '../../../src/config/drbd/units.js';
import { model, parse } from './helpers.js';
import { SEED } from './seed.test.js';

function roundTrip(text: string): void {
  const first = parse(text);
  const dumped = dumpConfig(first);
  const second = parse(dumped);
  expect(model(second)).toEqual(model(first));
  // Idempotent apart from the header naming the source file.
  const body = (d: string) => d.split('\n').slice(1).join('\n');
  expect(body(dumpConfig(second))).toBe(body(dumped));
}

const quoteArb = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

function valueArb(kw: string, sp: Spelling): fc.Arbitrary<string> {
  const spec = sp.def.value;
  switch (spec.kind) {
    case 'flag':
      return sp.negated ? fc.constant('') : fc.constantFrom('', ' yes', ' no');
    case 'number': {
      const plain = fc.integer({ min: spec.min, max: Math.min(spec.max, 2 ** 31) }).map(String);
      if (spec.unit === 'seconds' || spec.unit === 'deciseconds') return plain.map((v) => ` ${v}`);
      const suffixed = fc
        .tuple(fc.integer({ min: 0, max: 5000 }), fc.constantFrom('K', 'M', 'G', 's', 'k'))
        .map(([n, s]) => `${n}${s}`)
        .filter((t) => {
          const r = parseNumber(t, spec.unit);
          return r.ok && r.value >= spec.min && r.value <= spec.max;
        });
      return fc.oneof(plain, suffixed).map((v) => ` ${v}`);
    }
    case 'enum':
      return fc.constantFrom(...spec.values, ...(spec.prefix ? [`${spec.prefix}alice`] : [])).map((v) => ` ${v}`);
    case 'string':
      if (sp.def.section === 'handlers') return fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !/[\n\r]/.test(s)).map((s) => ` ${quoteArb(s)}`);
      if (kw === 'shared-secret') return fc.string({ minLength: 1, maxLength: 64 }).filter((s) => !/[\n\r]/.test(s)).map((s) => ` ${quoteArb(s)}`);
      if (kw === 'cpu-mask') return fc.constantFrom(' 0', ' ff', ' 0x3');
      if (spec.pattern) return fc.constantFrom(' sha1', ' md5', ' "crc32c"', ' sha256');
      return fc.constantFrom(' r1', ' "r2"', ' other/0');
    case 'list':
      return fc.constantFrom(' both', ' alice', ' alice bob');
    case 'words':
      return fc.constant('');
  }
}

function sectionArb(written: WrittenSection): fc.Arbitrary<string> {
  const entries = [...SPELLINGS.get(written)!].filter(([, sp]) => sp.def.support !== 'deprecated');
  const stmt = fc.constantFrom(...entries).chain(([kw, sp]) => valueArb(kw, sp).map((v) => `${kw}${v};`));
  return fc.array(stmt, { maxLength: 6 }).map((stmts) => `${written} { ${stmts.join(' ')} }`);
}

const sectionsArb = fc
  .tuple(...(['net', 'disk', 'startup', 'handlers', 'options', 'syncer'] as const).map(sectionArb), fc.constantFrom('', 'protocol A;', 'protocol c;'))
  .chain((secs) => fc.subarray(secs))
  .map((secs) => secs.join('\n  '));

const deviceArb = (minor: number) => fc.constantFrom(`device /dev/drbd${minor};`, `device minor ${minor};`, `device "/dev/drbd_x${minor}" minor ${minor};`);
const metaArb = fc.constantFrom('meta-disk internal;', 'meta-disk /dev/md0 [3];', 'meta-disk "/dev/md 1";', 'flexible-meta-disk /dev/md2;');
const addrArb = (host: number, port: number) => fc.constantFrom(`address 10.0.${host}.1:${port};`, `address ipv4 10.0.${host}.1:${port};`, `address ipv6 [fd00::${host}]:${port};`);

const resourceArb = (i: number) =>
  fc
    .tuple(sectionsArb, deviceArb(i), metaArb, addrArb(1, 7700 + i), addrArb(2, 7700 + i), fc.boolean(), fc.constantFrom('alice', '"alice"'))
    .map(
      ([secs, dev, meta, a1, a2, atResource, alice]) => `resource r${i} {
  ${secs}
  ${atResource ? `${dev} ${meta} disk /dev/sdb;` : ''}
  on ${alice} { ${atResource ? '' : `${dev} ${meta} disk /dev/sdb;`} ${a1} }
  on bob { ${atResource ? '' : `${dev} ${meta} disk "/dev/sd c";`} ${a2} }
}`,
    );

const globalArb = fc
  .subarray(['usage-count ask;', 'minor-count 64;', 'dialog-refresh 5;', 'disable-ip-verification;', 'udev-always-use-vnr no;'])
  .map((g) => (g.length ? `global { ${g.join(' ')} }\n` : ''));

const configArb = fc
  .tuple(globalArb, fc.option(sectionsArb), fc.integer({ min: 0, max: 3 }))
  .chain(([g, common, n]) =>
    fc.tuple(...Array.from({ length: n }, (_, i) => resourceArb(i))).map((rs) => `${g}${common !== null ? `common {\n  ${common}\n}\n` : ''}${rs.join('\n')}\n`),
  );

describe('dump round trip', () => {
  it('seed config', () => roundTrip(SEED));
  it('unsupported constructs are kept verbatim', () =>
    roundTrip(`resource r0 {
  net { allow-two-primaries; on-congestion pull-ahead; congestion-fill 400M; }
  volume 0 { device minor 10; disk /dev/sdb; meta-disk internal; disk { resync-after x/0; } }
  proxy { memlimit 500M; plugin { lzma contexts 4 level 9; } }
  on alice { address sdp 10.0.0.1:7789; node-id 0; proxy on alice { inside 127.0.0.1:7000; outside 10.9.9.9:7000; } }
  on bob { address ipv6 [fe80::1%eth0]:7789; node-id 1; volume 1 { device minor 11; disk /dev/sdc; meta-disk /dev/md [1]; } }
  stacked-on-top-of lower { device /dev/drbd10; address 127.0.0.1:1230; }
  floating ipv6 [fd00::9]:7789 { device minor 12; disk "/dev/x y"; meta-disk internal; }
  connection-mesh { hosts alice bob; net { protocol C; } }
}
`));
  it('random valid configs from the option tables', () => {
    fc.assert(
      fc.property(configArb, (text) => {
        roundTrip(text);
      }),
      { numRuns: 150 },
    );
  });
});
