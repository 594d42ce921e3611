#!/usr/bin/env node
// The lab client: GETs a URL and prints one JSON line per attempt, with the time (ms since the
// epoch, the host's clock, shared by every namespace), the status, the X-Served-By header and the
// body. Each attempt is a fresh TCP connection, so a moved VIP shows at once.
//
//   node http-probe.mjs --url http://10.213.0.100/ [--every 100] [--timeout 500] [--once]
import http from 'node:http';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const url = arg('url', 'http://10.213.0.100/');
const every = Number(arg('every', '100'));
const timeout = Number(arg('timeout', '500'));
const once = process.argv.includes('--once');

function probe() {
  const t = Date.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      resolve({ t, ms: Date.now() - t, ...r });
    };
    const req = http.get(url, { agent: false, timeout, headers: { Connection: 'close' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => finish({ ok: res.statusCode === 200, status: res.statusCode, servedBy: res.headers['x-served-by'] ?? null, body: Buffer.concat(chunks).toString() }));
      res.on('error', (err) => finish({ ok: false, error: err.message }));
    });
    req.on('timeout', () => { req.destroy(new Error(`no answer within ${timeout} ms`)); });
    req.on('error', (err) => finish({ ok: false, error: err.message }));
  });
}

if (once) {
  const r = await probe();
  process.stdout.write(JSON.stringify(r) + '\n');
  process.exit(r.ok ? 0 : 1);
}
let stopping = false;
process.on('SIGTERM', () => { stopping = true; });
process.on('SIGINT', () => { stopping = true; });
while (!stopping) {
  const r = await probe();
  process.stdout.write(JSON.stringify(r) + '\n');
  const wait = Math.max(0, every - r.ms);
  if (wait > 0) await new Promise((res) => setTimeout(res, wait));
}
