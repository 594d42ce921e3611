// tandemd's Prometheus endpoint during a resync, parsed with a Prometheus text-format parser and
// checked against the status file (<run-dir>/status, /proc/drbd's layout) and the daemon's own
// status: enum gauges for role, connection, replication and disk states, byte counters, and
// out-of-sync bytes between two reads around the scrape; the NBD request histogram after writes.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Pair, freePort, waitFor } from '../helpers/two-nodes.js';
import { writeBlocks } from '../helpers/blocks.js';

/** the counters and states of minor 0 in a /proc/drbd-style status file */
function statusFile(runDir: string): Record<string, string> {
  const text = fs.readFileSync(path.join(runDir, 'status'), 'utf8');
  const lines = text.split('\n');
  const i = lines.findIndex((l) => / 0: cs:/.test(l));
  return Object.fromEntries([...`${lines[i]} ${lines[i + 1]}`.matchAll(/(\w+):(\S+)/g)].map((m) => [m[1]!, m[2]!]));
}

let pair: Pair | null = null;
afterEach(async () => {
  await pair?.destroy();
  pair = null;
});

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    }).on('error', reject);
  });
}

interface Family { name: string; type: string; metrics: { labels?: Record<string, string>; value?: string }[] }

function value(families: Family[], name: string, labels: Record<string, string>): number {
  // a name may come back as several families when its series are interleaved with others' (a histogram's)
  const found = families.filter((x) => x.name === name);
  if (found.length === 0) throw new Error(`no metric ${name}`);
  const m = found.flatMap((f) => f.metrics).find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  if (!m) throw new Error(`no series ${name}${JSON.stringify(labels)}`);
  return Number(m.value);
}

describe('tandemd --metrics', () => {
  it('serves the resource, connection, device and resync metrics while a resync runs', async () => {
    pair = await Pair.create({ sizeMiB: 24, rate: '4M' });
    const { node1, node2 } = pair;
    const port = await freePort();
    await pair.createMd();
    pair.env = { TANDEM_METRICS: `127.0.0.1:${port}` };
    await node1.start();
    pair.env = {};
    await node2.start();
    await pair.upBoth();
    await node1.admOk('wait-connect', 'r0', '--timeout', '30');
    await node1.admOk('primary', '--force', 'r0');
    await node1.waitState((s) => s.cs === 'SyncSource' && s.counters.ns > 0, 'resync running');

    const before = await node1.status();
    const fileBefore = statusFile(node1.runDir);
    const scrape = await get(`http://127.0.0.1:${port}/metrics`);
    // a status file rendered after the scrape: the resync rewrites it at every 100 ms tick
    const scrapedAt = Date.now();
    await waitFor(() => fs.statSync(path.join(node1.runDir, 'status')).mtimeMs > scrapedAt, 5000, 'the status file to be rewritten after the scrape');
    const fileAfter = statusFile(node1.runDir);
    const after = await node1.status();
    expect(scrape.status).toBe(200);
    expect(scrape.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheusTextFormat(scrape.body) as Family[];

    const r = { name: 'r0' };
    const c = { name: 'r0', conn_name: 'node2' };
    expect(value(families, 'drbd_resource_role', { ...r, drbd_resource_role: 'Primary' })).toBe(1);
    expect(value(families, 'drbd_resource_role', { ...r, drbd_resource_role: 'Secondary' })).toBe(0);
    expect(value(families, 'drbd_connection_state', { ...c, drbd_connection_state: 'Connected' })).toBe(1);
    expect(value(families, 'drbd_connection_peer_role', { ...c, drbd_connection_peer_role: 'Secondary' })).toBe(1);
    expect(value(families, 'drbd_peerdevice_replication_state', { ...c, volume: '0', drbd_peerdevice_replication_state: 'SyncSource' })).toBe(1);
    expect(value(families, 'drbd_peerdevice_peer_disk_state', { ...c, volume: '0', drbd_peerdevice_peer_disk_state: 'Inconsistent' })).toBe(1);
    expect(value(families, 'drbd_device_state', { name: 'r0', volume: '0', minor: '0', drbd_device_state: 'UpToDate' })).toBe(1);
    expect(value(families, 'drbd_resource_resources', {})).toBe(1);
    // the resync moves between the two status reads: the scrape lies between them
    const oos = value(families, 'drbd_peerdevice_outofsync_bytes', { ...c, volume: '0' });
    expect(oos).toBeLessThanOrEqual(before.counters.oos * 1024);
    expect(oos).toBeGreaterThanOrEqual(after.counters.oos * 1024);
    const sent = value(families, 'drbd_peerdevice_sent_bytes_total', { ...c, volume: '0' });
    expect(sent).toBeGreaterThanOrEqual(before.counters.ns * 1024);
    expect(sent).toBeLessThanOrEqual(after.counters.ns * 1024);
    expect(families.find((f) => f.name === 'drbd_peerdevice_sent_bytes_total')?.type).toBe('COUNTER');
    expect(value(families, 'tandem_resync_remaining_bytes', { ...c, volume: '0' })).toBeGreaterThan(0);
    // the status file says the same: states, and counters that lie around the scrape (the file is
    // rendered every 100 ms, so it may be up to one tick older than the scrape)
    expect(fileBefore.cs).toBe('SyncSource');
    expect(fileBefore.ro).toBe('Primary/Secondary');
    expect(fileBefore.ds).toBe('UpToDate/Inconsistent');
    expect(oos).toBeLessThanOrEqual(Number(fileBefore.oos) * 1024);
    expect(oos).toBeGreaterThanOrEqual(Number(fileAfter.oos) * 1024);
    expect(sent).toBeGreaterThanOrEqual(Number(fileBefore.ns) * 1024);
    expect(sent).toBeLessThanOrEqual(Number(fileAfter.ns) * 1024);
    expect(value(families, 'drbd_device_read_bytes_total', { name: 'r0', volume: '0', minor: '0' })).toBeGreaterThanOrEqual(Number(fileBefore.dr) * 1024);
    expect(value(families, 'drbd_device_upperpending', { name: 'r0', volume: '0', minor: '0' })).toBe(Number(fileBefore.ap));
    expect(value(families, 'tandem_build_info', { version: '0.1.0' })).toBe(1);
    expect(value(families, 'drbd_device_size_bytes', { name: 'r0', volume: '0', minor: '0' })).toBe((before as { sizeBytes?: number }).sizeBytes);
    expect((await get(`http://127.0.0.1:${port}/other`)).status).toBe(404);

    // NBD requests as the client sees them: one histogram series per operation, _count = requests
    await node1.admOk('wait-sync', 'r0', '--timeout', '60');
    await writeBlocks(node1, [1, 2, 3, 4, 5], 'metrics');
    const text = (await get(`http://127.0.0.1:${port}/metrics`)).body;
    expect(text).toContain('# TYPE tandem_device_request_duration_seconds histogram');
    // parse-prometheus-text-format folds a labelled histogram's series into one and drops their
    // labels; without the TYPE line it reads _bucket, _sum and _count as plain series, labels kept
    const h = parsePrometheusTextFormat(text.split('\n').filter((l) => !l.startsWith('# TYPE tandem_device_request_duration_seconds ')).join('\n')) as Family[];
    const w = { name: 'r0', volume: '0', minor: '0', op: 'write' };
    expect(value(h, 'tandem_device_request_duration_seconds_count', w)).toBe(5);
    expect(value(h, 'tandem_device_request_duration_seconds_bucket', { ...w, le: '+Inf' })).toBe(5);
    expect(value(h, 'tandem_device_request_duration_seconds_bucket', { ...w, le: '0.00005' })).toBeLessThanOrEqual(5);
    expect(value(h, 'tandem_device_request_duration_seconds_sum', w)).toBeGreaterThan(0);
    expect(value(h, 'tandem_device_request_duration_seconds_count', { ...w, op: 'flush' })).toBe(1);
    expect(value(h, 'tandem_device_request_duration_seconds_count', { ...w, op: 'trim' })).toBe(0);
    expect(value(parsePrometheusTextFormat(text) as Family[], 'tandem_device_request_errors_total', { name: 'r0', op: 'write' })).toBe(0);
  });
});
