// tandemd's metrics that are counted as things happen: NBD request latencies per operation (the
// instrumented backend passes every call through and times it) and the DRBD handlers called.
import { describe, expect, it } from 'vitest';
import { buildRegistry } from '../../../src/daemon/metrics.js';
import { MemoryBackend } from '../../../src/nbd/memory-backend.js';
import type { NbdBackend } from '../../../src/nbd/backend.js';

describe('request metrics', () => {
  it('passes every call through, counts and times it per operation, counts failures apart', async () => {
    const m = buildRegistry(() => []);
    const mem = new MemoryBackend(1 << 20);
    const failing: NbdBackend = Object.assign(Object.create(mem) as NbdBackend, { flush: () => Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' })) });
    const b = m.requests.instrument(failing, 'r0', 3);
    expect(b.size).toBe(1 << 20);
    await b.write(4096, Buffer.alloc(4096, 7), false);
    await b.write(8192, Buffer.alloc(4096, 8), true);
    expect((await b.read(4096, 4096)).equals(Buffer.alloc(4096, 7))).toBe(true);
    await expect(b.flush()).rejects.toThrow('EIO');
    const json = await m.registry.getMetricsAsJSON();
    const hist = json.find((x) => x.name === 'tandem_device_request_duration_seconds')!;
    const count = (op: string) => hist.values.find((v) => v.metricName === 'tandem_device_request_duration_seconds_count' && v.labels.op === op && v.labels.minor === '3')?.value;
    expect([count('write'), count('read'), count('flush'), count('trim')]).toEqual([2, 1, 0, 0]);
    const errors = json.find((x) => x.name === 'tandem_device_request_errors_total')!;
    expect(errors.values.find((v) => v.labels.op === 'flush')?.value).toBe(1);
    expect(errors.values.find((v) => v.labels.op === 'write')?.value).toBe(0);
  });

  it('counts the handlers called per resource', async () => {
    const m = buildRegistry(() => []);
    m.helperCalled('r0', 'initial-split-brain');
    m.helperCalled('r0', 'split-brain');
    m.helperCalled('r0', 'initial-split-brain');
    const text = await m.registry.metrics();
    expect(text).toContain('tandem_resource_helper_calls_total{name="r0",helper="initial-split-brain"} 2');
    expect(text).toContain('tandem_resource_helper_calls_total{name="r0",helper="split-brain"} 1');
  });
});
