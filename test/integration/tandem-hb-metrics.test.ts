// tandem-hb's Prometheus endpoint (ha.cf `tandem_metrics`), parsed with a Prometheus text parser:
// membership of both nodes, which node holds each group, and the change when the owner dies.
import { afterEach, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import http from 'node:http';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { HbPair, waitFor } from '../helpers/hb-pair.js';
import { freePort } from '../helpers/free-port.js';

let pair: HbPair | null = null;
afterEach(async () => {
  await pair?.cleanup();
  pair = null;
});

interface Family { name: string; metrics: { labels?: Record<string, string>; value?: string }[] }

function scrape(port: number): Promise<Family[]> {
  return new Promise((resolve, reject) => {
    http.get(`http://127.0.0.2:${port}/metrics`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(parsePrometheusTextFormat(body) as Family[]));
    }).on('error', reject);
  });
}

function value(f: Family[], name: string, labels: Record<string, string>): number {
  const m = f.find((x) => x.name === name)?.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
  if (!m) throw new Error(`no series ${name}${JSON.stringify(labels)}`);
  return Number(m.value);
}

describe('tandem-hb tandem_metrics', () => {
  it('shows both nodes up and who holds each group; after the owner dies, the survivor holds it', async () => {
    const port = await freePort();
    // one ha.cf for both nodes: each binds its own loopback address, so node2 scrapes 127.0.0.2
    pair = await new HbPair({ haCf: `tandem_metrics 127.0.0.2:${port}` }).setup();
    // node2 binds the address first; node1, reading the same ha.cf, then cannot and goes on without
    pair.nodes.node2.start();
    await waitFor(async () => (await scrape(port).catch(() => [])).length > 0, 10_000, "node2's metrics listener");
    pair.nodes.node1.start();
    await waitFor(() => pair!.nodes.node1.running('b') && pair!.nodes.node2.running('c'), 15_000, 'each node to start its groups');
    let f: Family[] = [];
    await waitFor(async () => {
      f = await scrape(port).catch(() => []);
      return f.length > 0 && value(f, 'tandem_hb_group_holder', { group: 'rec::a', node: 'node1' }) === 1 &&
        value(f, 'tandem_hb_group_state', { group: 'rec::c', owner: 'node2', tandem_hb_group_state: 'started' }) === 1;
    }, 10_000, "node2's view of both groups");
    expect(fs.readFileSync(pair.nodes.node1.logFile, 'utf8')).toMatch(/cannot serve Prometheus metrics; going on without them/);
    expect(value(f, 'tandem_hb_node_state', { node: 'node1', tandem_hb_node_state: 'up' })).toBe(1);
    expect(value(f, 'tandem_hb_node_state', { node: 'node2', tandem_hb_node_state: 'up' })).toBe(1);
    expect(value(f, 'tandem_hb_group_state', { group: 'rec::c', owner: 'node2', tandem_hb_group_state: 'started' })).toBe(1);
    expect(value(f, 'tandem_hb_group_holder', { group: 'rec::c', node: 'node2' })).toBe(1);
    expect(value(f, 'tandem_hb_link_up', { node: 'node1', medium: 'ucast lo 127.0.0.1' })).toBe(1);
    expect(value(f, 'tandem_hb_takeovers_total', { group: 'rec::c', owner: 'node2', node: 'node2' })).toBe(1);
    expect(() => value(f, 'tandem_hb_takeovers_total', { group: 'rec::a', owner: 'node1', node: 'node2' })).toThrow(/no series/);
    pair.nodes.node1.kill9(true);
    await waitFor(async () => {
      f = await scrape(port);
      const taken = f.find((x) => x.name === 'tandem_hb_takeovers_total')?.metrics.some((m) => m.labels?.group === 'rec::a');
      return value(f, 'tandem_hb_group_holder', { group: 'rec::a', node: 'node2' }) === 1 && !!taken;
    }, 15_000, 'node2 to have taken node1\'s group over');
    expect(value(f, 'tandem_hb_node_state', { node: 'node1', tandem_hb_node_state: 'dead' })).toBe(1);
    expect(value(f, 'tandem_hb_link_up', { node: 'node1', medium: 'ucast lo 127.0.0.1' })).toBe(0);
    // node1's group taken over by node2: counted once, with its preferred node
    expect(value(f, 'tandem_hb_takeovers_total', { group: 'rec::a', owner: 'node1', node: 'node2' })).toBe(1);
  });
});
