import { describe, expect, it } from 'vitest';
import { parseListenAddress } from '../../../src/net/metrics-server.js';

describe('tandemd --metrics ADDR', () => {
  it.each([
    ['9942', { host: '127.0.0.1', port: 9942 }],
    ['127.0.0.1:9942', { host: '127.0.0.1', port: 9942 }],
    ['0.0.0.0:80', { host: '0.0.0.0', port: 80 }],
    ['[::1]:9942', { host: '::1', port: 9942 }],
    ['node1.example:9100', { host: 'node1.example', port: 9100 }],
  ])('%s', (spec, want) => expect(parseListenAddress(spec)).toEqual(want));
  it.each(['', 'abc', '127.0.0.1', ':99999', '1.2.3.4:0', '::1:9942'])('refuses %j with the expected forms', (spec) => {
    expect(() => parseListenAddress(spec)).toThrow(/invalid metrics address .* \(expected PORT, HOST:PORT or \[IPV6\]:PORT\)/);
  });
});
