import { describe, expect, it } from 'vitest';
import { challengeResponse, checkPeerChallenge, newChallenge, resolveAuth, verifyResponse } from '../../../src/replication/auth.js';

describe('cram-hmac-alg / shared-secret', () => {
  it.each([
    ['sha1', 'sha1'], ['sha256', 'sha256'], ['sha512', 'sha512'], ['md5', 'md5'], ['SHA256', 'sha256'], ['rmd160', 'ripemd160'],
  ])('maps the kernel name %s to node digest %s', (alg, nodeAlg) => {
    const r = resolveAuth({ alg, secret: 's' });
    expect(r).toMatchObject({ ok: true, auth: { nodeAlg } });
  });

  it.each([
    ['crc32c', 's', 'cram-hmac-alg crc32c is a checksum, not a digest: use sha1, sha256 or sha512'],
    ['whirlpool9', 's', /cram-hmac-alg whirlpool9 is not supported; known: md5, sha1/],
    ['', 's', 'cram-hmac-alg is empty'],
    ['sha1', '', 'cram-hmac-alg sha1 is set but shared-secret is empty'],
    ['sha1', 'x'.repeat(65), 'shared-secret is 65 characters, at most 64 allowed'],
  ])('refuses alg %j secret %j', (alg, secret, reason) => {
    const r = resolveAuth({ alg, secret });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('computes RFC 2202 HMAC-SHA1 test case 2', () => {
    const r = resolveAuth({ alg: 'sha1', secret: 'Jefe' });
    if (!r.ok) throw new Error(r.reason);
    const mac = challengeResponse(r.auth, Buffer.from('what do ya want for nothing?'));
    expect(mac.toString('hex')).toBe('effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
    expect(verifyResponse(r.auth, Buffer.from('what do ya want for nothing?'), mac)).toBe(true);
    expect(verifyResponse(r.auth, Buffer.from('what do ya want for nothing?'), mac.subarray(1))).toBe(false);
  });

  it('makes 64-byte challenges that differ, and checks the peer challenge like DRBD', () => {
    const a = newChallenge();
    expect(a).toHaveLength(64);
    expect(newChallenge().equals(a)).toBe(false);
    expect(checkPeerChallenge(a, Buffer.from(a))).toBe('Peer presented the same challenge!');
    expect(checkPeerChallenge(a, Buffer.alloc(128))).toBeNull();
    expect(checkPeerChallenge(a, Buffer.alloc(32))).toMatch(/32 bytes, expected 64..128/);
  });
});
