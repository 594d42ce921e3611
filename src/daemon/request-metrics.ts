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

type Labels = { name: string; volume: string; minor: string; op: RequestOp };
type Sample = { metricName: string; labels: Record<string, string | number>; value: number };

/** One label set of the histogram: per-bucket counts (not cumulative until exposed), sum, count. */
class Series {
  readonly counts = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  constructor(readonly labels: Labels) {}

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    this.counts[i]! += 1;
    this.sum += seconds;
    this.count += 1;
  }
}

/**
 * A Prometheus histogram registered with prom-client's registry (its metric interface: name, help,
 * type and get()), which formats it. Not prom-client's Histogram: its observe() hashes the label
 * set on every call (about 3-5 µs here), this one adds to an array (well under a microsecond).
 */
class RequestHistogram {
  readonly name = 'tandem_device_request_duration_seconds';
  readonly help = 'Time from an NBD request reaching the replicated device to its completion, per operation (protocol C writes: on both disks)';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series: Series[] = [];

  add(labels: Labels): Series {
    const s = new Series(labels);
    this.series.push(s);
    return s;
  }

  reset(): void {
    for (const s of this.series) { s.counts.fill(0); s.sum = 0; s.count = 0; }
  }

  get(): { name: string; help: string; type: string; aggregator: string; values: Sample[] } {
    const values: Sample[] = [];
    for (const s of this.series) {
      let acc = 0;
      LATENCY_BUCKETS.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...s.labels }, value: acc });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export class RequestMetrics {
  private readonly latency = new RequestHistogram();
  private readonly errors: client.Counter<'name' | 'volume' | 'minor' | 'op'>;

  constructor(reg: client.Registry) {
    reg.registerMetric(this.latency as unknown as client.Metric);
    this.errors = new client.Counter({
      name: 'tandem_device_request_errors_total', help: 'NBD requests that completed with an error, per operation',
      labelNames: ['name', 'volume', 'minor', 'op'], registers: [reg],
    });
  }

  /** The backend the NBD servers of this resource use: the same calls, timed. */
  instrument(backend: NbdBackend, resource: string, minor: number): NbdBackend {
    type Pair = { time: Series; errors: { inc(): void } };
    const by = {} as Record<RequestOp, Pair>;
    for (const op of ['read', 'write', 'flush', 'trim', 'write_zeroes'] as const) {
      const labels: Labels = { name: resource, volume: '0', minor: String(minor), op };
      // every series exists from the start: a 0 is data, a missing series is not
      this.errors.labels(labels).inc(0);
      by[op] = { time: this.latency.add(labels), errors: this.errors.labels(labels) };
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
