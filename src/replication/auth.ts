// DRBD's cram-hmac peer authentication (drbd_receiver.c drbd_do_auth): each side sends 64 random
// bytes, answers the peer's challenge with HMAC(alg, shared-secret, challenge) and checks the
// peer's answer to its own. The algorithm names are the kernel crypto names drbd.conf uses.
import { createHmac, getHashes, randomBytes, timingSafeEqual } from 'node:crypto';

/** DRBD's CHALLENGE_LEN */
export const CHALLENGE_BYTES = 64;
/** DRBD accepts a peer challenge of 64..128 bytes */
export const MAX_PEER_CHALLENGE_BYTES = 128;
/** DRBD's SHARED_SECRET_MAX */
export const MAX_SECRET_CHARS = 64;

// kernel crypto API name -> OpenSSL digest name. Checksums (crc32c, crc32) are not digests an HMAC
// can be built on, so they are refused with their own message below.
const KERNEL_TO_NODE: Readonly<Record<string, string>> = {
  md5: 'md5',
  sha1: 'sha1',
  sha224: 'sha224',
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  'sha3-224': 'sha3-224',
  'sha3-256': 'sha3-256',
  'sha3-384': 'sha3-384',
  'sha3-512': 'sha3-512',
  rmd160: 'ripemd160',
  sm3: 'sm3',
  'blake2b-512': 'blake2b512',
};
const NOT_A_DIGEST = new Set(['crc32c', 'crc32', 'crct10dif']);

export interface AuthConfig {
  /** the drbd.conf `cram-hmac-alg` value, e.g. 'sha1' */
  alg: string;
  /** the drbd.conf `shared-secret` */
  secret: string;
}

export interface ResolvedAuth {
  alg: string;
  nodeAlg: string;
  secret: Buffer;
}

export type AuthConfigCheck = { ok: true; auth: ResolvedAuth } | { ok: false; reason: string };

/** Maps and checks the configured algorithm and secret; every refusal names what is wrong. */
export function resolveAuth(config: AuthConfig): AuthConfigCheck {
  const alg = config.alg.trim().toLowerCase();
  if (alg === '') return { ok: false, reason: 'cram-hmac-alg is empty' };
  if (NOT_A_DIGEST.has(alg)) return { ok: false, reason: `cram-hmac-alg ${alg} is a checksum, not a digest: use sha1, sha256 or sha512` };
  const nodeAlg = KERNEL_TO_NODE[alg];
  if (nodeAlg === undefined) {
    return { ok: false, reason: `cram-hmac-alg ${alg} is not supported; known: ${Object.keys(KERNEL_TO_NODE).join(', ')}` };
  }
  if (!getHashes().includes(nodeAlg)) return { ok: false, reason: `cram-hmac-alg ${alg} is not available in this Node.js build` };
  if (config.secret.length === 0) return { ok: false, reason: `cram-hmac-alg ${alg} is set but shared-secret is empty` };
  if (config.secret.length > MAX_SECRET_CHARS) {
    return { ok: false, reason: `shared-secret is ${config.secret.length} characters, at most ${MAX_SECRET_CHARS} allowed` };
  }
  return { ok: true, auth: { alg, nodeAlg, secret: Buffer.from(config.secret, 'utf8') } };
}

export function newChallenge(): Buffer {
  return randomBytes(CHALLENGE_BYTES);
}

export function challengeResponse(auth: ResolvedAuth, peerChallenge: Buffer): Buffer {
  return createHmac(auth.nodeAlg, auth.secret).update(peerChallenge).digest();
}

/** Why the peer's challenge is unacceptable, or null. */
export function checkPeerChallenge(own: Buffer, peer: Buffer): string | null {
  if (peer.length < CHALLENGE_BYTES || peer.length > MAX_PEER_CHALLENGE_BYTES) {
    return `peer challenge is ${peer.length} bytes, expected ${CHALLENGE_BYTES}..${MAX_PEER_CHALLENGE_BYTES}`;
  }
  // A reflected challenge would let a peer without the secret replay our own answer back to us.
  if (peer.equals(own)) return 'Peer presented the same challenge!';
  return null;
}

export function verifyResponse(auth: ResolvedAuth, ownChallenge: Buffer, peerResponse: Buffer): boolean {
  const expected = challengeResponse(auth, ownChallenge);
  return peerResponse.length === expected.length && timingSafeEqual(peerResponse, expected);
}
