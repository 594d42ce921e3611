// The HTTP listener for Prometheus metrics (tandemd --metrics, ha.cf's tandem_metrics): GET
// /metrics answers with a prom-client registry's text; anything else is 404. Off unless asked for.
import http from 'node:http';
import type client from 'prom-client';

export interface ListenAddress {
  host: string;
  port: number;
}

/** `PORT`, `HOST:PORT` or `[V6]:PORT`; a bare port listens on 127.0.0.1 only. */
export function parseListenAddress(spec: string, what = 'metrics'): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(spec) ?? /^()()(\d+)$/.exec(spec);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`invalid ${what} address '${spec}' (expected PORT, HOST:PORT or [IPV6]:PORT)`);
  }
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

export class MetricsServer {
  private server: http.Server | null = null;

  constructor(private readonly address: ListenAddress, private readonly registry: client.Registry) {}

  async listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.address.port, this.address.host, () => resolve());
    });
  }

  get port(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
