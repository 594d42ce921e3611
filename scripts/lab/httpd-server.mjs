#!/usr/bin/env node
// The lab's web service: serves files from the cluster filesystem on the VIP and names the host
// that answered in the `X-Served-By` header, so the client can see which node holds the group.
// Plain JavaScript (no build step): the LSB script starts it with node directly.
//
//   node httpd-server.mjs --bind 10.213.0.100 --port 80 --root /cluster/data/www --pidfile FILE
//
// The pidfile is written only once the socket listens, so `httpd start` can wait for it.
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const bind = arg('bind', '10.213.0.100');
const port = Number(arg('port', '80'));
const root = path.resolve(arg('root', '/cluster/data/www'));
const pidfile = arg('pidfile', '');
const host = os.hostname();

const server = http.createServer((req, res) => {
  const headers = { 'X-Served-By': host, 'Cache-Control': 'no-store', Connection: 'close' };
  const urlPath = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
  const rel = urlPath.endsWith('/') ? `${urlPath}index.html` : urlPath;
  const file = path.resolve(root, `.${rel}`);
  if (file !== root && !file.startsWith(root + path.sep)) {
    res.writeHead(403, { ...headers, 'Content-Type': 'text/plain' }).end('forbidden\n');
    return;
  }
  fs.readFile(file, (err, data) => {
    if (err) {
      const code = err.code === 'ENOENT' ? 404 : 500;
      res.writeHead(code, { ...headers, 'Content-Type': 'text/plain' }).end(`${code === 404 ? 'not found' : err.message}\n`);
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': file.endsWith('.html') ? 'text/html' : 'application/octet-stream' });
    res.end(req.method === 'HEAD' ? undefined : data);
  });
});

server.on('error', (err) => {
  process.stderr.write(`httpd-server: cannot listen on ${bind}:${port}: ${err.message}\n`);
  process.exit(1);
});
server.listen(port, bind, () => {
  if (pidfile) fs.writeFileSync(pidfile, `${process.pid}\n`);
  process.stderr.write(`httpd-server: ${host} serving ${root} on http://${bind}:${port}/\n`);
});
const stop = () => {
  if (pidfile) fs.rmSync(pidfile, { force: true });
  server.close(() => process.exit(0));
  // keep-alive sockets must not hold a stop up (Connection: close is sent anyway)
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
