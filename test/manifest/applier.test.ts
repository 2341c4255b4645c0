// The applier: verify whole, persist last-known-good (synced), then swap; rejections keep the last
// good one; start-up precedence store → local file → nothing (discovery only).
import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { ManifestApplier, type StoredManifest } from '../../agent/manifest/applier.js';
import { loadManifestFile } from '../../agent/manifest/load.js';
import { openStore, type AgentStore } from '../../agent/store/store.js';
import { testSigner, type TestSigner } from '../fakes/signedManifests.js';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples');
type Event = { outcome: string; version: number; source: string; errorCode?: string };

async function harness(t: { teardown(fn: () => unknown): void }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-applier-'));
  let store: AgentStore = await openStore(dir);
  t.teardown(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  const events: Event[] = [];
  const open = async (signers: TestSigner[], opts: { localFile?: boolean } = {}) => {
    const applier = await ManifestApplier.open({
      store: store.sublevel<StoredManifest>('manifest'),
      rackId: 'rack1',
      trustedKeys: signers.map((s) => ({ id: s.keyId, publicKeyPem: s.publicPem })),
      maxBytes: 64 * 1024,
      ...(opts.localFile ? { localFile: () => loadManifestFile(path.join(examples, 'manifest.yaml')) } : {}),
      log: pino({ level: 'silent' }),
    });
    applier.onEvent((e) => void events.push(e));
    return applier;
  };
  const reopenStore = async () => {
    await store.close();
    store = await openStore(dir);
  };
  return { open, events, reopenStore };
}

t.test('no store, no file: nothing in force, every machine unknown', async (t) => {
  const h = await harness(t);
  const applier = await h.open([testSigner()]);
  t.equal(applier.status().source, 'none');
  t.equal(applier.directory().all().length, 0);
});

t.test('apply, unchanged, rejections keep the last good, newer applies', async (t) => {
  const h = await harness(t);
  const k1 = testSigner('k1');
  const applier = await h.open([k1]);
  const v1 = k1.sign({ version: 1 });
  t.same(await applier.offer(v1, 'pull'), { outcome: 'applied', version: 1 });
  t.equal(applier.directory().byMac('52:54:00:6d:00:01')?.id, 'rack1-n01');
  t.same(await applier.offer(v1, 'pull'), { outcome: 'unchanged', version: 1 }, 'same bytes: nothing to do');

  const stranger = testSigner('k9');
  const tampered = Buffer.from(k1.sign({ version: 5 }));
  tampered.writeUInt8(tampered.readUInt8(12) ^ 0x01, 12); // inside the signed payload
  const rejections: [string, Uint8Array, string][] = [
    ['same version re-signed', k1.sign({ version: 1, mutate: (m) => void (m.nodes = m.nodes.slice(0, 1)) }), 'MASKIN_ERR_MANIFEST_ROLLBACK'],
    ['tampered', tampered, 'MASKIN_ERR_MANIFEST_BAD_SIGNATURE'],
    ['unknown key', stranger.sign({ version: 6 }), 'MASKIN_ERR_MANIFEST_UNKNOWN_KEY'],
    ['wrong rack', k1.sign({ version: 7, rackId: 'rack2' }), 'MASKIN_ERR_MANIFEST_WRONG_RACK'],
    ['truncated', k1.sign({ version: 8 }).slice(0, 40), 'MASKIN_ERR_MANIFEST_'],
    ['garbage', Buffer.from('definitely not protobuf, just text'), 'MASKIN_ERR_MANIFEST_GARBAGE'],
    ['oversized', Buffer.alloc(64 * 1024 + 1, 1), 'MASKIN_ERR_MANIFEST_TOO_LARGE'],
    ['schema violation', k1.sign({ version: 9, mutate: (m) => void ((m.nodes[0] as { profile: string }).profile = 'nope') }), 'MASKIN_ERR_MANIFEST_INVALID'],
  ];
  for (const [name, bytes, code] of rejections) {
    const outcome = await applier.offer(bytes, 'push');
    t.equal(outcome.outcome, 'rejected', name);
    t.match(outcome.code, code, name);
    t.equal(applier.status().version, 1, `${name}: version 1 stays in force`);
    t.equal(applier.directory().all().length, 2, `${name}: nodes unchanged`);
  }
  t.match(applier.status().lastRejection, { source: 'push', code: 'MASKIN_ERR_MANIFEST_INVALID' });
  const v2 = k1.sign({ version: 2, mutate: (m) => void (m.nodes = m.nodes.slice(0, 1)) });
  t.same(await applier.offer(v2, 'push'), { outcome: 'applied', version: 2 });
  t.equal(applier.directory().all().length, 1);
  t.same(
    h.events.map((e) => e.outcome),
    ['applied', ...rejections.map(() => 'rejected'), 'applied'],
  );
});

t.test('offers are serialized: the older of two concurrent offers loses', async (t) => {
  const h = await harness(t);
  const k1 = testSigner();
  const applier = await h.open([k1]);
  const [a, b] = await Promise.all([applier.offer(k1.sign({ version: 4 }), 'pull'), applier.offer(k1.sign({ version: 3 }), 'push')]);
  t.equal(a.outcome, 'applied');
  t.equal(b.code, 'MASKIN_ERR_MANIFEST_ROLLBACK');
  t.equal(applier.status().version, 4);
});

t.test('restart: the last good manifest comes back from the store; key rotation', async (t) => {
  const h = await harness(t);
  const k1 = testSigner('k1');
  const k2 = testSigner('k2');
  let applier = await h.open([k1, k2], { localFile: true });
  t.equal(applier.status().source, 'local-file', 'no signed manifest yet: local file');
  t.equal(typeof applier.status().version, 'number', "a local file's own version is shown");
  t.match(applier.status().appliedAt, /^\d{4}-\d\d-\d\dT/, 'and when it was read');
  await applier.offer(k1.sign({ version: 3, mutate: (m) => void (m.nodes = m.nodes.slice(0, 1)) }), 'pull');
  t.equal(applier.reloadLocal(), false, 'central owns the rack once a signed manifest is in force');
  await h.reopenStore();
  applier = await h.open([k1, k2], { localFile: true });
  t.match(applier.status(), { source: 'store', version: 3, keyId: 'k1', nodes: 1 });
  t.same(await applier.offer(k2.sign({ version: 4 }), 'pull'), { outcome: 'applied', version: 4 }, 'the rotated-in key signs the next one');
  t.equal((await applier.offer(k1.sign({ version: 3 }), 'pull')).code, 'MASKIN_ERR_MANIFEST_ROLLBACK', 'anti-rollback survives restart');
  // k2 retired from the config while its manifest is the stored one: it no longer verifies.
  await h.reopenStore();
  applier = await h.open([k1], { localFile: true });
  t.equal(applier.status().source, 'local-file', 'a stored manifest that no longer verifies is not used');
});
