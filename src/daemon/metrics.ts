// Prometheus metrics of tandemd, through prom-client, read from the status snapshots at scrape
// time (nothing on the data path). Names follow drbd-reactor's prometheus plugin where it has the
// same thing (drbd_resource_role, drbd_connection_state, drbd_device_state as enum gauges with one
// series per value, drbd_device_written_bytes_total, drbd_peerdevice_outofsync_bytes, …); what it
// lacks is tandem_*. Served on an HTTP listener only when asked for (`tandemd --metrics ADDR`,
// src/net/metrics-server.ts). Two things are counted as they happen rather than read from the
// snapshot: NBD request latencies (request-metrics.ts) and the DRBD handlers called.
import client from 'prom-client';
import { CONN_STATES, DISK_STATES, ROLES } from '../replication/drbd-states.js';
import { connectionOf, replicationOf } from './events2.js';
import { TANDEM_VERSION } from './version.js';
import type { ResourceStatus } from './status-types.js';
import { RequestMetrics } from './request-metrics.js';

export interface TandemdMetrics {
  registry: client.Registry;
  requests: RequestMetrics;
  /** a DRBD handler was called (configured or not): split-brain, initial-split-brain, fence-peer, … */
  helperCalled(resource: string, handler: string): void;
}

const CONNECTIONS = [...new Set(CONN_STATES.map(connectionOf))];
const REPLICATIONS = [...new Set(CONN_STATES.map(replicationOf))];

export function buildRegistry(snapshot: () => ResourceStatus[]): TandemdMetrics {
  const reg = new client.Registry();
  const res = (s: ResourceStatus) => ({ name: s.name });
  const dev = (s: ResourceStatus) => ({ name: s.name, volume: '0', minor: String(s.minor) });
  const peer = (s: ResourceStatus) => ({ name: s.name, conn_name: s.peerName ?? 'peer' });
  const peerDev = (s: ResourceStatus) => ({ ...peer(s), volume: '0' });

  /** one series per enum value, 1 for the current one (drbd-reactor's `enums = true`) */
  const enumGauge = <L extends string>(name: string, help: string, labels: L[], values: readonly string[], pick: (s: ResourceStatus) => [Record<L, string>, string]) =>
    new client.Gauge({
      name, help, labelNames: [...labels, name], registers: [reg],
      collect() {
        this.reset();
        for (const s of snapshot()) {
          const [l, current] = pick(s);
          for (const v of values) this.set({ ...l, [name]: v } as Record<string, string>, v === current ? 1 : 0);
        }
      },
    });
  const gauge = (name: string, help: string, labels: string[], value: (s: ResourceStatus) => [Record<string, string>, number] | null) =>
    new client.Gauge({
      name, help, labelNames: labels, registers: [reg],
      collect() {
        this.reset();
        for (const s of snapshot()) {
          const v = value(s);
          if (v) this.set(v[0], v[1]);
        }
      },
    });
  const counter = (name: string, help: string, labels: string[], value: (s: ResourceStatus) => [Record<string, string>, number]) =>
    new client.Counter({
      name, help, labelNames: labels, registers: [reg],
      collect() {
        this.reset();
        for (const s of snapshot()) {
          const [l, v] = value(s);
          this.inc(l, v);
        }
      },
    });

  enumGauge('drbd_resource_role', 'DRBD role of the resource', ['name'], ROLES, (s) => [res(s), s.role]);
  gauge('drbd_resource_suspended', 'Boolean whether the resource is suspended (fencing resource-and-stonith)', ['name'], (s) => [res(s), s.flags.suspended.length > 0 ? 1 : 0]);
  new client.Gauge({ name: 'drbd_resource_resources', help: 'Number of resources', registers: [reg], collect() { this.set(snapshot().length); } });
  enumGauge('drbd_connection_state', 'DRBD connection state', ['name', 'conn_name'], CONNECTIONS, (s) => [peer(s), connectionOf(s.cs)]);
  enumGauge('drbd_connection_peer_role', 'DRBD role of the peer', ['name', 'conn_name'], ROLES, (s) => [peer(s), s.peerRole]);
  enumGauge('drbd_device_state', 'DRBD device (local disk) state', ['name', 'volume', 'minor'], DISK_STATES, (s) => [dev(s), s.disk]);
  gauge('drbd_device_size_bytes', 'Device size in bytes', ['name', 'volume', 'minor'], (s) => (s.sizeBytes === undefined ? null : [dev(s), s.sizeBytes]));
  counter('drbd_device_written_bytes_total', 'Net data written on the local disk', ['name', 'volume', 'minor'], (s) => [dev(s), s.counters.dw * 1024]);
  counter('drbd_device_read_bytes_total', 'Net data read from the local disk', ['name', 'volume', 'minor'], (s) => [dev(s), s.counters.dr * 1024]);
  counter('drbd_device_alwrites_total', 'Updates of the activity log area of the metadata', ['name', 'volume', 'minor'], (s) => [dev(s), s.counters.al]);
  // drbd-reactor's name for DRBD 9's upper_pending, which is 8.4's ap (application requests not yet completed)
  gauge('drbd_device_upperpending', 'Number of block I/O requests forwarded to the device, but not yet answered', ['name', 'volume', 'minor'], (s) => [dev(s), s.counters.ap]);
  counter('drbd_device_bmwrites_total', 'Bitmap pages written to the metadata', ['name', 'volume', 'minor'], (s) => [dev(s), s.counters.bm]);
  enumGauge('drbd_peerdevice_replication_state', 'DRBD replication state with the peer', ['name', 'conn_name', 'volume'], REPLICATIONS, (s) => [peerDev(s), replicationOf(s.cs)]);
  enumGauge('drbd_peerdevice_peer_disk_state', "DRBD state of the peer's disk", ['name', 'conn_name', 'volume'], DISK_STATES, (s) => [peerDev(s), s.peerDisk]);
  gauge('drbd_peerdevice_outofsync_bytes', 'Bytes out of sync with the peer, according to the bitmap', ['name', 'conn_name', 'volume'], (s) => [peerDev(s), s.counters.oos * 1024]);
  counter('drbd_peerdevice_sent_bytes_total', 'Bytes sent to the peer (writes and resync)', ['name', 'conn_name', 'volume'], (s) => [peerDev(s), s.counters.ns * 1024]);
  counter('drbd_peerdevice_received_bytes_total', 'Bytes received from the peer (writes and resync)', ['name', 'conn_name', 'volume'], (s) => [peerDev(s), s.counters.nr * 1024]);
  gauge('drbd_peerdevice_pending_requests', 'Writes sent to the peer and not yet acknowledged', ['name', 'conn_name', 'volume'], (s) => [peerDev(s), s.counters.pe]);
  const sync = (s: ResourceStatus) => s.sync ?? s.verify;
  gauge('tandem_resync_rate_bytes_per_second', 'Current resync (or verify) rate', ['name', 'conn_name', 'volume'], (s) => [peerDev(s), (sync(s)?.speedKiBs ?? 0) * 1024]);
  gauge('tandem_resync_remaining_bytes', 'Bytes the running resync (or verify) still has to do', ['name', 'conn_name', 'volume'], (s) => [peerDev(s), (sync(s)?.leftKiB ?? 0) * 1024]);
  gauge('tandem_resync_remaining_seconds', 'Estimated seconds until the running resync (or verify) finishes', ['name', 'conn_name', 'volume'], (s) => [peerDev(s), sync(s)?.etaSec ?? 0]);
  const helpers = new client.Counter({
    name: 'tandem_resource_helper_calls_total',
    help: 'DRBD handlers called, configured or not (initial-split-brain: a split brain was detected; split-brain: it was not resolved automatically; fence-peer: fencing)',
    labelNames: ['name', 'helper'], registers: [reg],
  });
  new client.Gauge({
    name: 'tandem_build_info', help: 'Tandem version of this tandemd (always 1)', labelNames: ['version'], registers: [reg],
    collect() { this.set({ version: TANDEM_VERSION }, 1); },
  });
  client.collectDefaultMetrics({ register: reg, prefix: 'tandemd_' });
  return { registry: reg, requests: new RequestMetrics(reg), helperCalled: (name, helper) => helpers.inc({ name, helper }) };
}
