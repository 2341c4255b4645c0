// The manifest puller against the reference central on loopback: pull at start, 304 when nothing
// changed, the next tick picks up a new manifest, retries with backoff through an outage (logged
// once, recovery once), timeouts, garbage and rejected manifests re-fetched, 5xx retried, 4xx not,
// size cap, pinned-CA TLS, mTLS and the bearer token.
import t, { type Test } from 'tap';
import { Writable } from 'node:stream';
import { fromBinary } from '@bufbuild/protobuf';
import pino from 'pino';
import { createUplinkClient, type UplinkClientOptions } from '../../agent/uplink/client.js';
import { ManifestSchema, SignedManifestSchema } from '../../agent/uplink/gen/maskin/v1/manifest_pb.js';
import { createManifestPuller, type ApplyResult, type ManifestPullerDeps } from '../../agent/uplink/puller.js';
import { signedManifestBytes } from '../central/manifests.js';
import { makeTestPki } from '../central/pki.js';
import { startCentral, type CentralOptions, type ReferenceCentral } from '../central/server.js';

interface Harness {
  central: ReferenceCentral;
  applied: Uint8Array[];
  logs: { level: number; msg: string }[];
  puller: ReturnType<typeof createManifestPuller>;
}

/** A fake apply with the real one's outcomes: undecodable → rejected, same version → unchanged. */
function fakeApply(applied: Uint8Array[], opts: { rejectAll?: boolean } = {}) {
  let current = 0;
  return async (bytes: Uint8Array): Promise<ApplyResult> => {
    applied.push(bytes);
    let version: number;
    try {
      version = Number(fromBinary(ManifestSchema, fromBinary(SignedManifestSchema, bytes).payload).version);
    } catch (err) {
      return { outcome: 'rejected', reason: `garbage: ${(err as Error).message}` };
    }
    if (opts.rejectAll === true || version === 0) return { outcome: 'rejected', reason: 'bad-signature' };
    if (version === current) return { outcome: 'unchanged', version };
    current = version;
    return { outcome: 'applied', version };
  };
}

async function harness(
  t: Test,
  o: { central?: CentralOptions; client?: Partial<UplinkClientOptions>; puller?: Partial<ManifestPullerDeps>; rack?: string; rejectAll?: boolean } = {},
): Promise<Harness> {
  const central = await startCentral(o.central);
  t.teardown(() => central.stop());
  central.setManifest('r1', signedManifestBytes('r1', 1));
  const client = createUplinkClient({ timeoutMs: 2000, ...o.client });
  t.teardown(() => client.close());
  const logs: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write: (chunk: Buffer, _enc, cb) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as { level: number; msg: string });
      cb();
    },
  });
  const applied: Uint8Array[] = [];
  const puller = createManifestPuller({
    url: central.manifestUrl(o.rack ?? 'r1'),
    client,
    intervalSeconds: 60,
    backoff: { initialMs: 20, maxMs: 50 },
    apply: fakeApply(applied, { rejectAll: o.rejectAll ?? false }),
    log: pino({ level: 'debug' }, sink),
    ...o.puller,
  });
  return { central, applied, logs, puller };
}

const warnings = (h: Harness) => h.logs.filter((l) => l.level === 40).map((l) => l.msg);
const infos = (h: Harness, re: RegExp) => h.logs.filter((l) => l.level === 30 && re.test(l.msg));

async function until(what: string, cond: () => boolean, ms = 4000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('run: pulls at start, then each tick; 304 while unchanged; a new manifest on the next tick', async (t) => {
  const h = await harness(t, { puller: { intervalSeconds: 1 } });
  const stop = new AbortController();
  const running = h.puller.run(stop.signal);
  await until('start-up pull', () => h.applied.length === 1);
  t.match(h.puller.status(), { lastResult: 'applied', lastVersion: 1, consecutiveFailures: 0 });
  t.type(h.puller.status().lastSuccessAt, 'number');

  // Central counts the 304 as it answers; the puller's status follows once the answer arrives.
  await until('a tick answered 304', () => h.central.requests().notModified >= 1 && h.puller.status().lastResult === 'not-modified');
  t.equal(h.applied.length, 1, 'no apply call for a 304');

  h.central.setManifest('r1', signedManifestBytes('r1', 2));
  await until('v2 applied', () => h.puller.status().lastVersion === 2, 3000);
  t.equal(h.applied.length, 2);
  stop.abort();
  await running;
  const counted = h.central.requests();
  await new Promise((r) => setTimeout(r, 1200));
  t.same(h.central.requests(), counted, 'no pull after the service stopped');
});

t.test('pullNow: no overlapping pulls; callers mid-pull share it', async (t) => {
  const h = await harness(t);
  h.central.slow(200);
  const [a, b] = await Promise.all([h.puller.pullNow(), h.puller.pullNow()]);
  t.equal(a, b, 'one result');
  t.equal(h.central.requests().manifest, 1, 'one request');
  t.equal((await h.puller.pullNow()).result, 'not-modified', 'the ETag of an applied manifest is sent next time');
  t.match(h.central.lastHeaders()?.['if-none-match'], /^"[0-9a-f]{64}"$/);
});

t.test('central stopped: retries with jittered backoff, one warning; back: applied, one recovery line', async (t) => {
  const draws: number[] = [];
  const h = await harness(t, { puller: { retries: 2, backoff: { initialMs: 60, maxMs: 100 }, random: () => (draws.push(1), 1) } });
  await h.central.stop();
  const started = Date.now();
  const first = await h.puller.pullNow();
  const took = Date.now() - started;
  t.match(first, { result: 'failed', attempts: 3, error: /unreachable.*ECONNREFUSED/ });
  t.equal(draws.length, 2, 'one jitter draw per retry');
  t.ok(took >= 150 && took < 1000, `backoff 60 + min(100, 120) ms with random=1 (took ${took} ms)`);
  t.match(h.puller.status(), { lastResult: 'failed', consecutiveFailures: 1, lastError: /ECONNREFUSED/ });
  t.notOk(h.puller.status().lastSuccessAt, 'never succeeded');

  t.equal((await h.puller.pullNow()).result, 'failed');
  t.equal(h.puller.status().consecutiveFailures, 2);
  t.same(warnings(h), ['manifest pull failing; keeping the manifest in force'], 'the outage is logged once at warn');

  await h.central.start();
  t.match(await h.puller.pullNow(), { result: 'applied', version: 1, attempts: 1 });
  t.match(h.puller.status(), { lastResult: 'applied', consecutiveFailures: 0, lastError: undefined });
  t.equal(infos(h, /recovered/).length, 1, 'recovery logged once');
});

t.test('backoff: full jitter within [0, min(max, initial·2^n)]', async (t) => {
  const { backoffDelay } = await import('../../agent/runtime/backoff.js');
  t.equal(
    backoffDelay(0, 500, 30_000, () => 1),
    500,
  );
  t.equal(
    backoffDelay(3, 500, 30_000, () => 1),
    4000,
  );
  t.equal(
    backoffDelay(10, 500, 30_000, () => 1),
    30_000,
    'capped',
  );
  t.equal(
    backoffDelay(3, 500, 30_000, () => 0),
    0,
  );
  t.equal(
    backoffDelay(2, 500, 30_000, () => 0.5),
    1000,
  );
});

t.test('slow central beyond the timeout: the pull fails as a timeout, promptly', async (t) => {
  const h = await harness(t, { client: { timeoutMs: 200 }, puller: { retries: 0 } });
  h.central.slow(1500);
  const started = Date.now();
  const res = await h.puller.pullNow();
  t.match(res, { result: 'failed', error: /timeout/ });
  t.ok(Date.now() - started < 1200, `gave up before the answer (${Date.now() - started} ms)`);
  t.equal(h.applied.length, 0);
});

t.test('garbage and rejected manifests: passed to apply, ETag not remembered, fetched again', async (t) => {
  const h = await harness(t);
  h.central.garbage(true);
  t.match(await h.puller.pullNow(), { result: 'rejected', error: /garbage/ });
  t.equal(h.applied.length, 1, 'the junk reached apply');
  t.match(h.puller.status(), { lastResult: 'rejected', lastError: /garbage/, consecutiveFailures: 0 });
  h.central.garbage(false);
  t.match(await h.puller.pullNow(), { result: 'applied', version: 1 });

  const r = await harness(t, { rejectAll: true });
  t.equal((await r.puller.pullNow()).result, 'rejected');
  t.equal((await r.puller.pullNow()).result, 'rejected', 'identical bad manifest fetched and rejected again');
  t.equal(r.central.lastHeaders()?.['if-none-match'], undefined, 'no ETag sent after a rejection');
  t.equal(r.central.requests().notModified, 0);
  t.equal(r.applied.length, 2);
});

t.test('HTTP statuses: 5xx retried, 404 and 401 not', async (t) => {
  const h = await harness(t, { puller: { retries: 2 } });
  h.central.fail(500);
  t.match(await h.puller.pullNow(), { result: 'failed', attempts: 3, error: /HTTP 500/ });
  t.equal(h.central.requests().sabotaged, 3);
  h.central.fail(null);

  const missing = await harness(t, { rack: 'nope', puller: { retries: 2 } });
  t.match(await missing.puller.pullNow(), { result: 'failed', attempts: 1, error: /HTTP 404/ });
  t.match(missing.puller.status().lastError, /404/);

  const locked = await harness(t, { central: { token: 'tok' }, puller: { retries: 2 } });
  t.match(await locked.puller.pullNow(), { result: 'failed', attempts: 1, error: /HTTP 401/ });
});

t.test('bearer token from the client is sent', async (t) => {
  const h = await harness(t, { central: { token: 'tok' }, client: { token: 'tok' } });
  t.equal((await h.puller.pullNow()).result, 'applied');
  t.equal(h.central.lastHeaders()?.authorization, 'Bearer tok');
});

t.test('size cap: a bigger manifest fails without reaching apply', async (t) => {
  const h = await harness(t, { puller: { maxBytes: 10 } });
  t.match(await h.puller.pullNow(), { result: 'failed', attempts: 1, error: /too-large/ });
  t.equal(h.applied.length, 0);
});

t.test('stopping the service ends a pull waiting in backoff', async (t) => {
  const h = await harness(t, { puller: { retries: 5, backoff: { initialMs: 5000, maxMs: 5000 }, random: () => 1 } });
  await h.central.stop();
  const stop = new AbortController();
  const running = h.puller.run(stop.signal);
  await until('first attempt failed', () => h.logs.some((l) => /retry/.test(l.msg)));
  const started = Date.now();
  stop.abort();
  await running;
  t.ok(Date.now() - started < 500, 'stopped without waiting out the backoff');
});

t.test('TLS: pinned CA, another CA refused, mTLS', async (t) => {
  const pki = makeTestPki();
  t.teardown(() => pki.remove());
  const tls = { key: pki.read(pki.serverKeyFile), cert: pki.read(pki.serverCertFile) };

  const pinned = await harness(t, { central: { tls }, client: { caFile: pki.caFile } });
  t.equal((await pinned.puller.pullNow()).result, 'applied', 'server cert from the pinned CA');

  const wrongCa = await harness(t, { central: { tls }, client: { caFile: pki.otherCaFile }, puller: { retries: 2 } });
  t.match(await wrongCa.puller.pullNow(), { result: 'failed', attempts: 1, error: /central tls/ }, 'not retried');
  t.equal(wrongCa.applied.length, 0);

  const unpinned = await harness(t, { central: { tls }, puller: { retries: 0 } });
  t.match(await unpinned.puller.pullNow(), { result: 'failed', error: /tls/ }, 'the system store does not know the test CA');

  const otherServer = { key: pki.read(pki.otherServerKeyFile), cert: pki.read(pki.otherServerCertFile) };
  const impostor = await harness(t, { central: { tls: otherServer }, client: { caFile: pki.caFile }, puller: { retries: 0 } });
  t.match(await impostor.puller.pullNow(), { result: 'failed', error: /tls/ }, 'a server with a cert from another CA');

  const mtls = { ...tls, clientCa: pki.read(pki.caFile) };
  const noCert = await harness(t, { central: { tls: mtls }, client: { caFile: pki.caFile }, puller: { retries: 0 } });
  t.match(await noCert.puller.pullNow(), { result: 'failed' }, 'no client cert: refused');
  t.equal(noCert.central.requests().manifest, 0);

  const withCert = await harness(t, { central: { tls: mtls }, client: { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile } });
  t.equal((await withCert.puller.pullNow()).result, 'applied', 'client cert: accepted');
});

t.test("the interval is read after every pull: a manifest's pullIntervalSeconds takes effect", async (t) => {
  let interval = 60;
  const h = await harness(t, { puller: { intervalSeconds: () => interval } });
  const stop = new AbortController();
  const running = h.puller.run(stop.signal);
  t.teardown(async () => {
    stop.abort();
    await running;
  });
  await until('start-up pull', () => h.applied.length === 1);
  // A newly applied manifest says 1 s: any pull (here one on demand) re-arms the schedule.
  interval = 1;
  await h.puller.pullNow();
  const pulls = (): number => h.central.requests().manifest + h.central.requests().notModified;
  const before = pulls();
  await until('ticks at the new 1 s interval', () => pulls() >= before + 2, 4000);
  t.ok(infos(h, /pull interval changed/).length >= 1, 'the change is logged');
});
