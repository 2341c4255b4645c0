// The reference central itself: ETag/304, 404 per rack, token, exactly-once storage with a
// contiguous ack, 400 on junk, and every control switch (stop/start on the same port, slow, fail,
// garbage), in-process and as the standalone process the namespace tests run.
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { request } from 'undici';
import { ReportAckSchema, ReportBatchSchema, ReportSchema } from '../../agent/uplink/gen/maskin/v1/report_pb.js';
import { signedManifestBytes } from './manifests.js';
import { startCentral } from './server.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function batch(agentId: string, seqs: number[]): Uint8Array {
  const reports = seqs.map((seq) =>
    create(ReportSchema, { seq: BigInt(seq), atUnixMs: 1n, body: { case: 'step', value: { nodeId: 'n1', step: `step-${seq}` } } }),
  );
  return toBinary(ReportBatchSchema, create(ReportBatchSchema, { agentId, rackId: 'r1', reports }));
}

async function post(url: string, body: Uint8Array, headers: Record<string, string> = {}) {
  const res = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf', ...headers } });
  return { status: res.statusCode, bytes: new Uint8Array(await res.body.arrayBuffer()) };
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, etag: res.headers.etag, type: res.headers['content-type'], bytes: new Uint8Array(await res.body.arrayBuffer()) };
}

t.test('manifest: bytes with a strong ETag, 304 on a match, 404 for an unknown rack', async (t) => {
  const central = await startCentral();
  t.teardown(() => central.stop());
  const bytes = signedManifestBytes('r1', 1);
  const etag = central.setManifest('r1', bytes);
  t.match(etag, /^"[0-9a-f]{64}"$/, 'strong sha256 ETag');

  const first = await get(central.manifestUrl('r1'));
  t.equal(first.status, 200);
  t.equal(first.type, 'application/x-protobuf');
  t.equal(first.etag, etag);
  t.same(first.bytes, bytes, 'exact bytes served');

  t.equal((await get(central.manifestUrl('r1'), { 'if-none-match': etag })).status, 304);
  t.equal((await get(central.manifestUrl('r1'), { 'if-none-match': `"other", ${etag}` })).status, 304, 'a list of tags');
  t.equal((await get(central.manifestUrl('r1'), { 'if-none-match': `W/${etag}` })).status, 200, 'weak tag is no match');

  const newEtag = central.setManifest('r1', signedManifestBytes('r1', 2));
  t.not(newEtag, etag);
  t.equal((await get(central.manifestUrl('r1'), { 'if-none-match': etag })).status, 200, 'old ETag after a change: full body');

  t.equal((await get(central.manifestUrl('r2'))).status, 404);
  t.same(central.requests(), { manifest: 3, notModified: 2, reports: 0, unauthorized: 0, sabotaged: 0, other: 1 });
});

t.test('bearer token: 401 without or with a wrong one, 200 with it', async (t) => {
  const central = await startCentral({ token: 's3cret' });
  t.teardown(() => central.stop());
  central.setManifest('r1', signedManifestBytes('r1', 1));
  t.equal((await get(central.manifestUrl('r1'))).status, 401);
  t.equal((await get(central.manifestUrl('r1'), { authorization: 'Bearer nope' })).status, 401);
  t.equal((await post(central.reportsUrl, batch('a1', [1]))).status, 401);
  t.equal((await get(central.manifestUrl('r1'), { authorization: 'Bearer s3cret' })).status, 200);
  t.equal(central.lastHeaders()?.authorization, 'Bearer s3cret');
  t.equal(central.requests().unauthorized, 3);
  t.same(central.reports('a1'), [], 'nothing stored from an unauthenticated POST');
});

t.test('reports: stored once by (agent, seq), ack = contiguous run from the first seq seen', async (t) => {
  const central = await startCentral();
  t.teardown(() => central.stop());
  const ack = async (agent: string, seqs: number[]) => {
    const res = await post(central.reportsUrl, batch(agent, seqs));
    t.equal(res.status, 200);
    const decoded = fromBinary(ReportAckSchema, res.bytes);
    t.equal(decoded.agentId, agent);
    return decoded.ackedThroughSeq;
  };
  t.equal(await ack('a1', [5, 6, 7]), 7n, 'first seq seen starts the run');
  t.equal(await ack('a1', [6, 7, 8]), 8n, 'a re-sent batch (lost ack) is stored once: 6 and 7 are duplicates');
  t.equal(await ack('a1', [10, 11]), 11n, 'a batch starting past a gap settles the gap: 9 was evicted by the agent');
  t.equal(await ack('a1', [11, 12]), 12n);
  t.equal(central.duplicates(), 3);
  t.same(
    central.reports('a1').map((r) => r.seq),
    [5n, 6n, 7n, 8n, 10n, 11n, 12n],
    'each stored once, in seq order',
  );
  t.equal(central.reports('a1')[3]?.body.case, 'step');
  t.equal(await ack('a2', [1]), 1n, 'agents are independent');
  t.equal(await ack('a3', []), 0n, 'an empty batch from a new agent acks nothing');
  t.equal(central.ackedThrough('a1'), 12n);

  const junk = await post(central.reportsUrl, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
  t.equal(junk.status, 400, 'undecodable batch');
  t.equal((await post(central.reportsUrl, batch('', [1]))).status, 400, 'batch without agent id');
  t.equal(central.requests().reports, 6);
});

t.test('control: stop refuses connections, start listens on the same port again', async (t) => {
  const central = await startCentral();
  t.teardown(() => central.stop());
  central.setManifest('r1', signedManifestBytes('r1', 1));
  const port = central.port;
  await central.stop();
  await t.rejects(get(central.manifestUrl('r1')), { code: 'ECONNREFUSED' });
  t.equal(await central.start(), port, 'same port');
  t.equal((await get(central.manifestUrl('r1'))).status, 200);
});

t.test('control: slow, fail and garbage', async (t) => {
  const central = await startCentral();
  t.teardown(() => central.stop());
  const bytes = signedManifestBytes('r1', 1);
  central.setManifest('r1', bytes);

  central.slow(300);
  const started = Date.now();
  t.equal((await get(central.manifestUrl('r1'))).status, 200);
  t.ok(Date.now() - started >= 290, 'response delayed');
  central.slow(0);

  central.fail(503);
  t.equal((await get(central.manifestUrl('r1'))).status, 503);
  t.equal((await post(central.reportsUrl, batch('a1', [1]))).status, 503);
  t.same(central.reports('a1'), [], 'a failing central stores nothing');
  central.fail(null);

  central.garbage(true);
  const junk = await get(central.manifestUrl('r1'));
  t.equal(junk.status, 200);
  t.notSame(junk.bytes, bytes, 'random bytes instead of the manifest');
  t.ok(junk.bytes.length >= 64);
  central.garbage(false);
  t.same((await get(central.manifestUrl('r1'))).bytes, bytes, 'back to normal');
  t.equal(central.requests().sabotaged, 3);
});

t.test('standalone process: manifest from a file, control API on its own port', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'r7.pb');
  const bytes = signedManifestBytes('r7', 3);
  writeFileSync(file, bytes);
  const child = spawn(process.execPath, [path.join(root, 'dist/test/central/main.js'), '--port', '0', '--manifest', file], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => void child.kill('SIGKILL'));
  const ports: Record<string, number> = {};
  for await (const line of createInterface({ input: child.stdout })) {
    const m = /^(control|listening) (\d+)$/.exec(line);
    if (m !== null) ports[m[1] ?? ''] = Number(m[2]);
    if (m?.[1] === 'listening') break;
  }
  const base = `http://127.0.0.1:${ports.listening}`;
  const ctl = `http://127.0.0.1:${ports.control}/control`;
  const first = await get(`${base}/v1/racks/r7/manifest`);
  t.same(first.bytes, bytes, 'rack taken from the manifest payload');

  const next = signedManifestBytes('r7', 4);
  await post(`${ctl}/manifest`, next);
  t.same((await get(`${base}/v1/racks/r7/manifest`, { 'if-none-match': first.etag as string })).bytes, next, 'replaced through control');

  await post(`${base}/v1/reports`, batch('a9', [1, 2]));
  const reports = JSON.parse(Buffer.from((await get(`${ctl}/reports?agent=a9`)).bytes).toString()) as { seq: string }[];
  t.same(
    reports.map((r) => r.seq),
    ['1', '2'],
  );

  await post(`${ctl}/stop`, new Uint8Array());
  await t.rejects(get(`${base}/v1/racks/r7/manifest`), { code: 'ECONNREFUSED' });
  await post(`${ctl}/start`, new Uint8Array());
  await post(`${ctl}/fail`, Buffer.from(JSON.stringify({ status: 500 })));
  t.equal((await get(`${base}/v1/racks/r7/manifest`)).status, 500);
  const counts = JSON.parse(Buffer.from((await get(`${ctl}/requests`)).bytes).toString()) as Record<string, number>;
  t.equal(counts.sabotaged, 1);
});
