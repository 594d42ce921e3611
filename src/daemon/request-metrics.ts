// What the NBD clients of a Primary see: every request's latency from the moment the NBD server
// hands it to the replicated device until the device completes it (for a protocol C write: both
// disks have it), as a Prometheus histogram per operation; its _count is the request count. The
// export's backend is wrapped only when tandemd serves metrics, so without --metrics the data
// path has not one extra call. Failed requests are counted apart and not timed.
import client from 'prom-client';
import type { NbdBackend } from '../nbd/backend.js';

export type RequestOp = 'read' | 'write' | 'flush' | 'trim' | 'write_zeroes';

/** 50 µs to 10 s: a local write on fast storage up to a peer that is about to be expelled (ko-count) */
export const LATENCY_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class RequestMetrics {
  private readonly latency: client.Histogram<'name' | 'volume' | 'minor' | 'op'>;
  private readonly errors: client.Counter<'name' | 'volume' | 'minor' | 'op'>;

  constructor(reg: client.Registry) {
    this.latency = new client.Histogram({
      name: 'tandem_device_request_duration_seconds',
      help: 'Time from an NBD request reaching the replicated device to its completion, per operation (protocol C writes: on both disks)',
      labelNames: ['name', 'volume', 'minor', 'op'], buckets: LATENCY_BUCKETS, registers: [reg],
    });
    this.errors = new client.Counter({
      name: 'tandem_device_request_errors_total', help: 'NBD requests that completed with an error, per operation',
      labelNames: ['name', 'volume', 'minor', 'op'], registers: [reg],
    });
  }

  /** The backend the NBD servers of this resource use: the same calls, timed. */
  instrument(backend: NbdBackend, resource: string, minor: number): NbdBackend {
    const labels = (op: RequestOp) => ({ name: resource, volume: '0', minor: String(minor), op });
    type Series = { time: { observe(v: number): void }; errors: { inc(): void } };
    const by = {} as Record<RequestOp, Series>;
    for (const op of ['read', 'write', 'flush', 'trim', 'write_zeroes'] as const) {
      // every series exists from the start (a 0 is data, a missing series is not); bound children:
      // no label lookup per request
      this.latency.zero(labels(op));
      this.errors.labels(labels(op)).inc(0);
      by[op] = { time: this.latency.labels(labels(op)), errors: this.errors.labels(labels(op)) };
    }
    const timed = <T>(op: RequestOp, p: Promise<T>, start: number): Promise<T> =>
      p.then((v) => { by[op].time.observe((performance.now() - start) / 1000); return v; }, (e: unknown) => { by[op].errors.inc(); throw e; });
    return {
      get size() { return backend.size; },
      get readOnly() { return backend.readOnly; },
      read: (offset, length) => { const t = performance.now(); return timed('read', backend.read(offset, length), t); },
      write: (offset, data, fua) => { const t = performance.now(); return timed('write', backend.write(offset, data, fua), t); },
      flush: () => { const t = performance.now(); return timed('flush', backend.flush(), t); },
      trim: (offset, length) => { const t = performance.now(); return timed('trim', backend.trim(offset, length), t); },
      writeZeroes: (offset, length, fua) => { const t = performance.now(); return timed('write_zeroes', backend.writeZeroes(offset, length, fua), t); },
    };
  }
}
