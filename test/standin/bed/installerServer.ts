// A stand-in for the agent's HTTP side, run inside a rack namespace by the stand-in tests
// (`ip netns exec NS node dist/test/standin/bed/installerServer.js ...`): serves one machine
// config and records installer events, so the stand-in can be proven without the agent.
//   --port N           listen port (default 80) on 0.0.0.0 of the namespace
//   --config FILE      served at GET /config (any query string)
//   --fail-first N     answer 404 to the first N config requests (Talos keeps retrying)
//   --assets DIR       serves DIR/kernel-amd64 and DIR/initramfs-amd64.xz at GET /assets/<name>
// Every request and event is printed to stdout as one JSON line: {"kind":"request",...} or
// {"kind":"event","body":{...}}; the test reads them from the child's stdout.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';

function option(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i >= 0 ? process.argv[i + 1] : fallback;
  if (value === undefined) throw new Error(`--${name} is required`);
  return value;
}

const port = Number(option('port', '80'));
const config = readFileSync(option('config'));
let failFirst = Number(option('fail-first', '0'));
const assets = option('assets', '');
const ASSET_NAMES = new Set(['kernel-amd64', 'initramfs-amd64.xz']);

function emit(record: object): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    let status = 404;
    if (req.method === 'GET' && path === '/config') {
      if (failFirst > 0) {
        failFirst -= 1;
      } else {
        status = 200;
        res.setHeader('content-type', 'application/yaml');
        res.statusCode = 200;
        res.end(config);
      }
    } else if (req.method === 'GET' && assets !== '' && path?.startsWith('/assets/') && ASSET_NAMES.has(path.slice('/assets/'.length))) {
      status = 200;
      res.statusCode = 200;
      res.setHeader('content-type', 'application/octet-stream');
      res.end(readFileSync(join(assets, path.slice('/assets/'.length))));
    } else if (req.method === 'POST' && path === '/events') {
      try {
        emit({ kind: 'event', contentType: req.headers['content-type'], body: JSON.parse(body) as unknown });
        status = 204;
      } catch {
        status = 400;
      }
    }
    emit({ kind: 'request', method: req.method, path, status, from: req.socket.remoteAddress });
    if (status !== 200) {
      res.statusCode = status;
      res.end();
    }
  });
});
server.listen(port, '0.0.0.0', () => emit({ kind: 'listening', port }));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
