// tandemd's Prometheus endpoint during a resync, parsed with a Prometheus text-format parser and
// checked against the daemon's own status: enum gauges for role, connection, replication and disk
// states, byte counters, and out-of-sync bytes between two status reads around the scrape.
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { Pair, freePort } from '../helpers/two-nodes.js';

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
  const f = families.find((x) => x.name === name);
  if (!f) throw new Error(`no metric ${name}`);
  const m = f.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
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
    const scrape = await get(`http://127.0.0.1:${port}/metrics`);
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
    expect(value(families, 'drbd_device_size_bytes', { name: 'r0', volume: '0', minor: '0' })).toBe((before as { sizeBytes?: number }).sizeBytes);
    expect((await get(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  });
});
