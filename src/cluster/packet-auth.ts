// The digests of heartbeat's HBauth plugins, over the signed text of a packet:
// sha1 and md5 are HMACs (RFC 2104) printed as lowercase hex; crc is heartbeat's CRC-32
// (poly 0x04C11DB7, init 0, MSB first, final complement) printed with %lx — a checksum, no key.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuthKey, AuthMethod } from '../config/heartbeat/authkeys.js';

const CRC_TABLE: Uint32Array = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function heartbeatCrc(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
  return ~crc >>> 0;
}

export function computeDigest(method: AuthMethod, secret: string, data: Uint8Array): string {
  switch (method) {
    case 'crc': return heartbeatCrc(data).toString(16);
    case 'sha1': return createHmac('sha1', secret).update(data).digest('hex');
    case 'md5': return createHmac('md5', secret).update(data).digest('hex');
  }
}

/** Constant-time for the HMACs, so a forger learns nothing from timing. */
export function digestMatches(key: AuthKey, data: Uint8Array, digest: string): boolean {
  const expected = Buffer.from(computeDigest(key.method, key.secret, data), 'latin1');
  const got = Buffer.from(digest, 'latin1');
  return expected.length === got.length && timingSafeEqual(expected, got);
}
