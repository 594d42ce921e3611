// Malformed inputs → the exact `file:line:col` and a message that says what was expected.
// Includes values drbdadm itself lets through to the kernel (protocol D with -83,
// after-sb-0pri banana with -84, an IPv4 octet of 300).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/index.js';
import { parse, parseError, res, TWO_HOSTS } from './helpers.js';

const HOSTS2 = (a: string, b: string) => `resource r0 {
  on alice { device /dev/drbd0; disk /dev/sdb; address ${a}; meta-disk internal; }
  on bob { device /dev/drbd0; disk /dev/sdb; address ${b}; meta-disk internal; }
}
`;

// [name, config text, line, col, message pattern]
const CASES: [string, string, number, number, RegExp][] = [
  ['misspelt net keyword', res('  net { protocl C; }'), 2, 9, /unknown keyword 'protocl' in section 'net'; did you mean 'protocol'\? \(expected one of: protocol, timeout, .*\)/],
  ['protocol D', res('  protocol D;'), 2, 12, /invalid value 'D' for 'protocol' \(expected one of: A, B, C\)/],
  ['after-sb-0pri banana', res('  net { after-sb-0pri banana; }'), 2, 23, /invalid value 'banana' for 'after-sb-0pri' \(expected one of: disconnect, discard-younger-primary, .*discard-node-NAME\)/],
  ['0pri policy in after-sb-1pri', res('  net { after-sb-1pri discard-zero-changes; }'), 2, 23, /invalid value 'discard-zero-changes' for 'after-sb-1pri' \(expected one of: disconnect, consensus, violently-as0p, discard-secondary, call-pri-lost-after-sb\)/],
  ['consensus in after-sb-2pri', res('  net { after-sb-2pri consensus; }'), 2, 23, /for 'after-sb-2pri' \(expected one of: disconnect, violently-as0p, call-pri-lost-after-sb\)/],
  ['DRBD 9 rr-conflict value', res('  net { rr-conflict retry-connect; }'), 2, 21, /invalid value 'retry-connect' for 'rr-conflict' \(expected one of: disconnect, call-pri-lost, violently\)/],
  ['on-io-error value', res('  disk { on-io-error panic; }'), 2, 22, /invalid value 'panic' for 'on-io-error' \(expected one of: pass_on, call-local-io-error, detach\)/],
  ['fencing value', res('  disk { fencing stonith; }'), 2, 18, /for 'fencing' \(expected one of: dont-care, resource-only, resource-and-stonith\)/],
  ['bad unit suffix', res('  disk { resync-rate 110Q; }'), 2, 22, /'110Q' is not a number \(allowed unit suffixes: K, M, G, s\)/],
  ['rate below range', res('  disk { resync-rate 0; }'), 2, 22, /'resync-rate 0' is out of range: 0 KiB \(allowed 1\.\.4194304 KiB\)/],
  ['rate above range', res('  syncer { rate 5G; }'), 2, 17, /'rate 5G' is out of range: 5242880 KiB/],
  ['suffix on a time value', res('  net { ping-timeout 5s; }'), 2, 22, /plain number of tenths of a second and takes no unit suffix/],
  ['timeout above range', res('  net { timeout 601; }'), 2, 17, /'timeout 601' is out of range: 601 tenths of a second \(allowed 1\.\.600/],
  ['max-buffers below range', res('  net { max-buffers 16; }'), 2, 21, /'max-buffers 16' is out of range: 16 \(allowed 32\.\.131072\)/],
  ['IPv4 octet 300', HOSTS2('10.0.0.300:7789', '10.0.0.2:7789'), 2, 56, /'10\.0\.0\.300' is not an IPv4 address \(each part of an IPv4 address must be 0\.\.255/],
  ['host name as address', HOSTS2('node1:7789', '10.0.0.2:7789'), 2, 56, /'node1' is not an IPv4 address \(host names are not allowed here; expected \[ipv4\|ssocks\|sdp\] A\.B\.C\.D:PORT or ipv6 \[ADDRESS\]:PORT\)/],
  ['port out of range', HOSTS2('10.0.0.1:70000', '10.0.0.2:7789'), 2, 65, /invalid port '70000' \(expected 1\.\.65535\)/],
  ['no colon before port', HOSTS2('10.0.0.1 7789', '10.0.0.2:7789'), 2, 65, /expected ':' between address and port, but got '7789'/],
  ['IPv6 without family', HOSTS2('[fd00::1]:7789', 'ipv6 [fd00::2]:7789'), 2, 56, /an IPv6 address needs its family: write 'ipv6 \[ADDRESS\]:PORT'/],
  ['invalid IPv6', HOSTS2('ipv6 [fd00::zz]:7789', 'ipv6 [fd00::2]:7789'), 2, 61, /'fd00::zz' is not a valid IPv6 address/],
  ['missing ; at end of line', 'resource r0 {\n  on alice {\n    address 10.0.0.1:7789\n    meta-disk internal;\n  }\n}\n', 3, 26, /missing ';' after 'address 10\.0\.0\.1:7789' \(found 'meta-disk' on line 4\)/],
  ['missing ; before }', res('  net { protocol C }'), 2, 19, /missing ';' after 'protocol C' \(found '}'\)/],
  ['missing } at end of an on section', 'resource r0 {\n  on alice {\n    disk /dev/sdb;\n', 4, 1, /unexpected end of file: missing '}' to close 'on alice \{' opened at line 2/],
  ['unterminated string', res('  net { shared-secret "abc; }'), 2, 23, /unterminated quoted string/],
  ['C++ comment', '// a comment\n', 1, 1, /unknown keyword '\/\/' at top level \(expected one of: global, common, resource, include, skip\)/],
  ['resource defined twice', res('') + res(''), 6, 1, /resource 'r0' is defined twice \(first at t\.conf:1:1\)/],
  ['two on sections for one host', `resource r0 {${TWO_HOSTS}\n  on bob { device /dev/drbd1; disk /dev/sdc; address 10.0.0.3:7789; meta-disk internal; }\n}\n`, 4, 3, /host 'bob' has two 'on' sections in resource r0 \(first at line 3\)/],
  ['meta-disk index not a number', res('  meta-disk /dev/md [x];'), 2, 22, /invalid meta-disk index 'x'/],
  ['device without minor', 'resource r0 {\n  device /dev/mydisk;\n}\n', 2, 10, /device '\/dev\/mydisk' has no minor number: its name must end in digits, or write 'device \/dev\/mydisk minor N;'/],
  ['shared-secret too long', res(`  net { shared-secret "${'x'.repeat(65)}"; }`), 2, 23, /'shared-secret' is 65 characters long; DRBD allows at most 64/],
  ['flag with a wrong value', res('  net { allow-two-primaries maybe; }'), 2, 29, /invalid value 'maybe' for 'allow-two-primaries': it is a flag, write 'allow-two-primaries;', 'allow-two-primaries yes;' or 'allow-two-primaries no;'/],
  ['negated flag with a value', res('  disk { no-disk-flushes yes; }'), 2, 26, /unexpected 'yes' after 'no-disk-flushes' \(expected ';'\)/],
  ['option in the wrong section', res('  net { resync-rate 10M; }'), 2, 9, /'resync-rate' is not allowed in section 'net'; it belongs in 'disk \{ \}'/],
  ['8.4 name inside the 8.3 syncer', res('  syncer { resync-rate 10M; }'), 2, 12, /'resync-rate' is not allowed in section 'syncer'; it belongs in 'disk \{ \}'/],
  ['pre-8.3 option', res('  net { on-disconnect reconnect; }'), 2, 9, /unknown keyword 'on-disconnect' in section 'net': a DRBD 0\.7\/8\.0 net option, removed in 8\.3/],
  ['include inside a resource', res('  include "x.res";'), 2, 3, /'include' is only allowed at top level, not inside resource r0/],
  ['DRBD 9 connection section', res('  connection { host alice; host bob; }'), 2, 3, /'connection' sections are DRBD 9 \(multi-peer\) syntax/],
  ['on section without address', 'resource r0 {\n  on alice { device /dev/drbd0; disk /dev/sdb; meta-disk internal; }\n}\n', 2, 3, /in resource r0, on alice \{ … \}: 'address' missing/],
  ['on section without disk', 'resource r0 {\n  on alice { device /dev/drbd0; address 10.0.0.1:7789; meta-disk internal; }\n}\n', 2, 3, /on alice \{ … \}: 'disk' missing \(give it here or at resource level\)/],
  ['address used by two resources', res('') + 'resource r1 {\n  on alice { device /dev/drbd1; disk /dev/sdc; address 10.0.0.1:7789; meta-disk internal; }\n  on bob { device /dev/drbd1; disk /dev/sdc; address 10.0.0.2:7790; meta-disk internal; }\n}\n', 7, 48, /in resource r1, on alice: address 10\.0\.0\.1:7789 is already used by resource r0 \(t\.conf:3\)/],
  ['minor used by two resources on one host', res('') + 'resource r1 {\n  on alice { device /dev/drbd0; disk /dev/sdc; address 10.0.0.1:7790; meta-disk internal; }\n  on bob { device /dev/drbd1; disk /dev/sdc; address 10.0.0.2:7790; meta-disk internal; }\n}\n', 7, 3, /minor 0 on host alice is already used by resource r0/],
  ['two global sections', 'global { usage-count no; }\nglobal { usage-count no; }\n', 2, 1, /a second 'global' section \(the first is at line 1\)/],
  ['on inside common', 'common {\n  on alice { }\n}\n', 2, 3, /'on' sections are not allowed in 'common'/],
  ['digest with a space', res('  net { cram-hmac-alg "sha 1"; }'), 2, 23, /invalid value 'sha 1' for 'cram-hmac-alg' \(expected a kernel digest name/],
  ['stray semicolon', res('  net { ; }'), 2, 9, /unexpected ';' in 'net' \(expected a keyword or '}'\)/],
  ['unknown size suffix', res('  disk { size 2T; }'), 2, 15, /'2T' is not a number \(allowed unit suffixes: K, M, G, s\)/],
  ['unclosed skip block', 'skip {\n  resource r0 {\n', 1, 1, /end of file inside this 'skip \{ \}' block/],
  ['section keyword without a block', res('  net;'), 2, 6, /'net' must be followed by a \{ … \} block/],
  ['backing disk in common', 'common {\n  disk /dev/sdb;\n}\n', 2, 3, /'disk …;' is not allowed in 'common'; give it in a resource or its 'on' sections/],
  ['unknown host keyword', 'resource r0 {\n  on alice { meta-disc internal; }\n}\n', 2, 14, /unknown keyword 'meta-disc' in 'on alice' \(expected one of: device, disk, address, meta-disk/],
  ['connection-mesh naming a host without an on section', res('  connection-mesh { hosts alice bob carol; }\n'), 2, 37, /connection-mesh names host 'carol', which has no 'on carol \{ … \}' section in resource r0 \(its hosts: alice, bob\)/],
];

describe('malformed tandem.conf', () => {
  it('has at least 25 cases', () => expect(CASES.length).toBeGreaterThanOrEqual(25));
  it.each(CASES)('%s', (_name, text, line, col, pattern) => {
    const e = parseError(text);
    expect(e.message).toMatch(pattern);
    expect(e.message.startsWith(`t.conf:${line}:${col}: `), `${e.message}`).toBe(true);
    expect([e.file, e.line, e.col]).toEqual(['t.conf', line, col]);
  });
});

describe('arbitrary input', () => {
  // Never a crash: any text either parses or is refused with a positioned ConfigError.
  const piece = fc.constantFrom(
    'resource', 'r0', 'on', 'alice', 'net', 'disk', 'syncer', 'common', 'global', 'skip', 'include', '"x"', '{', '}', ';', '[', ']', ':',
    'protocol', 'C', 'rate', '30M', 'address', '10.0.0.1', '7789', 'ipv6', 'fd00::1', 'meta-disk', 'internal', 'device', '/dev/drbd0',
    'minor', '4', '#', '\n', ' ', '"', 'volume', 'proxy', 'no-disk-flushes', 'after-sb-0pri', 'discard-node-', '\r\n', '\t',
  );
  it('parses or throws ConfigError', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(piece, fc.string({ maxLength: 3 })), { maxLength: 60 }), (parts) => {
        const text = parts.join(' ');
        try {
          parse(text);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          expect((e as ConfigError).message).toMatch(/^[^:]+:\d+:\d+: \S/);
        }
      }),
      { numRuns: 500 },
    );
  });
});
