// PUT /v1/manifest: only with the push token; the body goes to the same applier a pull uses;
// rejections map to HTTP statuses; refused pushes are reported.
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { parseConfig } from '../../agent/config/load.js';
import { buildApp } from '../../agent/http/app.js';
import type { ErrorCode } from '../../agent/errors.js';
import type { ManifestPort } from '../../agent/http/deps.js';
import { directoryOf, EMPTY_MANIFEST } from '../../agent/manifest/model.js';
import type { NodeRecord } from '../../agent/nodes/model.js';
import { NodeRegistry } from '../../agent/nodes/registry.js';
import { BootTokens, type BootGrant } from '../../agent/nodes/tokens.js';
import { openStore } from '../../agent/store/store.js';

async function setup(t: { teardown(fn: () => unknown): void }, pushToken: string | undefined) {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-push-'));
  await writeFile(path.join(dir, 'k1.pub'), generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
  const config = parseConfig(
    `provisioning: { interface: prov0, address: 198.18.9.1, subnet: 198.18.9.0/24 }\ndhcp: { pool: { start: 198.18.9.100, end: 198.18.9.199 } }\ndataDir: ${dir}\nrackId: rack1\nuplink: { maxManifestBytes: 2048, trustedKeys: [{ id: k1, publicKeyFile: ${dir}/k1.pub }] }\n`,
    { env: pushToken ? { MASKIN_PUSH_TOKEN: pushToken } : {} },
  );
  const store = await openStore(dir);
  const log = pino({ level: 'silent' });
  const directory = directoryOf(EMPTY_MANIFEST);
  const leases = { ipOf: () => undefined, macOf: () => undefined };
  const nodes = await NodeRegistry.open({ store: store.sublevel<NodeRecord>('nodes'), directory: () => directory, leases, now: () => new Date(), log });
  const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), 600);
  const offers: Buffer[] = [];
  const refused: string[] = [];
  let answer: Awaited<ReturnType<ManifestPort['offer']>> = { outcome: 'applied', version: 7 };
  const manifest: ManifestPort = {
    offer: async (bytes) => (offers.push(Buffer.from(bytes)), answer),
    refusedPush: (from, why) => void refused.push(`${from} ${why}`),
  };
  const app = await buildApp({ config, directory: () => directory, nodes, tokens, leases, log, metrics: new Registry(), startedAt: new Date(), manifest });
  t.teardown(async () => {
    await app.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { app, offers, refused, answer: (a: typeof answer) => void (answer = a) };
}

const put = (token: string | undefined, body: Buffer | string = Buffer.from([1, 2, 3])) => ({
  method: 'PUT' as const,
  url: '/v1/manifest',
  remoteAddress: '198.18.50.5',
  headers: { 'content-type': 'application/x-protobuf', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  payload: body,
});

t.test('push needs the token; a refused push is reported', async (t) => {
  const { app, offers, refused } = await setup(t, 'push-secret');
  t.equal((await app.inject(put(undefined))).statusCode, 401);
  t.equal((await app.inject(put('wrong'))).statusCode, 401);
  t.same(refused, ['198.18.50.5 no credentials', '198.18.50.5 wrong token']);
  t.equal(offers.length, 0, 'nothing reached the applier');
  const ok = await app.inject(put('push-secret'));
  t.equal(ok.statusCode, 200);
  t.same(ok.json(), { outcome: 'applied', version: 7 });
  t.same(offers[0], Buffer.from([1, 2, 3]), 'the exact bytes go to the applier');
});

t.test('rejections map to statuses; oversized bodies never reach the applier', async (t) => {
  const { app, offers, answer } = await setup(t, 'push-secret');
  const cases: [ErrorCode, number][] = [
    ['MASKIN_ERR_MANIFEST_ROLLBACK', 409],
    ['MASKIN_ERR_MANIFEST_BAD_SIGNATURE', 403],
    ['MASKIN_ERR_MANIFEST_UNKNOWN_KEY', 403],
    ['MASKIN_ERR_MANIFEST_WRONG_RACK', 422],
    ['MASKIN_ERR_MANIFEST_GARBAGE', 400],
    ['MASKIN_ERR_MANIFEST_INVALID', 422],
  ];
  for (const [code, status] of cases) {
    answer({ outcome: 'rejected', code, message: 'x' });
    const res = await app.inject(put('push-secret'));
    t.equal(res.statusCode, status, code);
    t.equal(res.json().code, code);
  }
  const before = offers.length;
  t.equal((await app.inject(put('push-secret', Buffer.alloc(5000)))).statusCode, 413);
  t.equal(offers.length, before);
});

t.test('without a push token configured, push is off', async (t) => {
  const { app } = await setup(t, undefined);
  const res = await app.inject(put('anything'));
  t.equal(res.statusCode, 404);
  t.match(res.json().fix, /uplink\.pushTokenFile/);
});
