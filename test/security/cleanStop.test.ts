// Clean stop: SIGTERM while the agent is mid-download from a stalled image upstream, with a client
// streaming that download and another holding an idle keep-alive connection. The agent aborts the
// download, closes the connections, logs why it stops, and exits well within systemd's stop
// timeout instead of waiting out every socket.
import t from 'tap';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgentInRack } from '../bed/agent.js';
import { createRack } from '../bed/netns.js';
import { manifestFor, SCHEMATIC, TALOS_VERSION } from '../e2e/scenario.js';

const UPSTREAM_PORT = 18201;
// An image upstream that promises 100 MB, sends 64 KiB, then stalls with the connection open.
const STALLED_UPSTREAM = `
const http = require('node:http');
http.createServer((req, res) => {
  res.writeHead(200, { 'content-length': String(100 * 1024 * 1024), 'content-type': 'application/octet-stream' });
  res.write(Buffer.alloc(64 * 1024));
}).listen(${UPSTREAM_PORT}, '127.0.0.1', () => console.log('listening'));
`;

t.test('SIGTERM mid-download: the agent logs why and exits within 5 s', async (t) => {
  const rack = await createRack('stop', 201);
  t.teardown(() => rack.destroy());
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-stop-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  const upstream = rack.spawn(process.execPath, ['-e', STALLED_UPSTREAM]);
  await once(upstream.stdout!, 'data');
  const digest = `sha256:${'ab'.repeat(32)}`;
  const manifest = `${manifestFor([{ id: 'stop-n1', mac: '52:54:00:c9:00:01' }])}images:\n  - { kind: kernel, profile: standin, digest: "${digest}" }\n`;
  const agent = await startAgentInRack(rack, { manifest, assetsDir: dir, extraConfig: `images: { factoryUrl: "http://127.0.0.1:${UPSTREAM_PORT}" }\n` });
  t.teardown(() => agent.stop());

  // A client streaming the (never-finishing) kernel download, and one idle keep-alive connection.
  const asset = `http://127.0.0.1/assets/${SCHEMATIC}/${TALOS_VERSION}/kernel-amd64`;
  const streaming = rack.spawn('curl', ['-sS', '-o', '/dev/null', asset]);
  const idle = rack.spawn('curl', ['-sS', '--keepalive-time', '60', '-o', '/dev/null', 'http://127.0.0.1/healthz', '-o', '/dev/null', asset]);
  t.teardown(() => {
    streaming.kill('SIGKILL');
    idle.kill('SIGKILL');
  });
  // The download is in flight once the agent has logged it.
  const deadline = Date.now() + 20_000;
  while (!/"component":"fetch"/.test(agent.output()) && !/downloading|fetching/i.test(agent.output())) {
    if (Date.now() > deadline) throw new Error(`no download started:\n${agent.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const started = Date.now();
  agent.process.kill('SIGTERM');
  const [code] = (await once(agent.process, 'exit')) as [number | null];
  const tookMs = Date.now() - started;
  t.ok(tookMs < 5000, `exited ${tookMs} ms after SIGTERM`);
  t.equal(code, 0, 'a requested stop is a clean exit');
  t.match(agent.output(), /"signal":"SIGTERM".*stopping|stopping.*"signal":"SIGTERM"/, 'the log says why it stops');
});
