import { describe, expect, it } from 'vitest';
import { checkAuthkeysMode, parseAuthkeys, unwrap } from '../../../src/config/heartbeat/index.js';

describe('authkeys', () => {
  it('parses the seed file of issue 6', () => {
    const k = unwrap(parseAuthkeys('auth 2\n2 sha1 10PiloMaterial54\n'));
    expect(k.active).toEqual({ index: 2, method: 'sha1', secret: '10PiloMaterial54' });
  });

  it('reads several keys for rollover, comments, tabs and a # inside a secret', () => {
    const text = '#\n#\tAuthentication file.\n\t# indented comment\nauth 3 \n1 md5 old-secret\n#2 crc\n3\tsha1\tnew#secret\n15 crc';
    const k = unwrap(parseAuthkeys(text));
    expect(k.active).toEqual({ index: 3, method: 'sha1', secret: 'new#secret' });
    expect(k.keys.map((x) => [x.index, x.method])).toEqual([[1, 'md5'], [3, 'sha1'], [15, 'crc']]);
  });

  it('warns that crc authenticates nothing, and about ignored text', () => {
    const r = parseAuthkeys('auth 1\n1 crc\n2 sha1 two words\n');
    expect(r.ok).toBe(true);
    expect(r.warnings.map((w) => w.message)).toEqual([
      "authkeys:3:12: text after the secret is ignored: heartbeat reads the secret as one word ('two')",
      'authkeys:1:6: crc is a checksum, not authentication: anyone on the network can forge heartbeats; use sha1',
    ]);
  });

  it.each([
    [0o600, true], [0o400, true], [0o700, true], [0o100600, true],
    [0o640, false], [0o604, false], [0o644, false], [0o444, false], [0o660, false],
  ])('mode %s accepted: %s', (mode, ok) => {
    expect(checkAuthkeysMode(mode) === null).toBe(ok);
  });

  it("refuses a group- or world-readable file with heartbeat's message", () => {
    const r = parseAuthkeys('auth 1\n1 sha1 x\n', { file: '/etc/tandem/ha.d/authkeys', mode: 0o100644 });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors[0]!.message).toBe(
        '/etc/tandem/ha.d/authkeys: Bad permissions on keyfile [/etc/tandem/ha.d/authkeys], 600 recommended (mode is 0644; it must not be group- or world-readable: chmod 600 /etc/tandem/ha.d/authkeys)');
    }
  });

  const MALFORMED: Array<[string, string]> = [
    ['1 sha1 x\n', "authkeys: Missing auth directive in keyfile: add 'auth N' naming the key to sign with"],
    ['auth 2\n1 sha1 x\n', 'authkeys:1:6: Auth Key [2] not found in keyfile'],
    ['auth\n1 sha1 x\n', "authkeys:1:1: Invalid auth line: expected 'auth N' with the number of the key that signs outgoing packets"],
    ['auth one\n1 sha1 x\n', "authkeys:1:6: Invalid auth line: expected 'auth N' with the number of the key that signs outgoing packets"],
    ['auth 1\n1 sha256 x\n', 'authkeys:2:3: Invalid authtype [sha256]: Tandem supports sha1, md5 and crc'],
    ['auth 1\n1 sha1\n', 'authkeys:2:3: Auth method [sha1] requires a key'],
    ['auth 1\n1 md5\n', 'authkeys:2:3: Auth method [md5] requires a key'],
    ['auth 1\n1 crc secret\n', "authkeys:2:7: Auth method [crc] doesn't use a key"],
    ['auth 1\n16 sha1 x\n', 'authkeys:2:1: Invalid key number 16: keys are numbered 0-15'],
    ['auth 1\n1 sha1 x\n1 md5 y\n', 'authkeys:3:1: key 1 is defined twice (first on line 2)'],
    ['auth 1\nsha1 1 x\n', "authkeys:2:1: Invalid auth line: expected 'auth N' or 'N sha1|md5|crc [secret]', got 'sha1'"],
    ['auth 1\n1\n', "authkeys:2:1: key 1 has no method: write '1 sha1 SECRET'"],
  ];

  it.each(MALFORMED)('refuses %j', (text, message) => {
    const r = parseAuthkeys(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.message)).toContain(message);
  });
});
