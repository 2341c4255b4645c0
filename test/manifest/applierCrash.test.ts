// Crash safety of manifest apply: kill -9 the applying process at random points, many times; the
// store always opens, the last good manifest is intact (it verifies) and is never older than the
// last version the process said it applied.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { ManifestApplier, type StoredManifest } from '../../agent/manifest/applier.js';
import { openStore } from '../../agent/store/store.js';
import { repoRoot } from '../bed/agent.js';
import { runAndKill } from '../bed/killRandomly.js';
import { testSigner } from '../fakes/signedManifests.js';

const ROUNDS = 20;
// Enough that the writer can never run out before its kill, however fast the machine: 20 rounds
// of at most 80 ms each, at a few ms per apply.
const VERSIONS = 1500;

t.test(`kill -9 during apply, ${ROUNDS} times: last good intact and never behind`, async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-applycrash-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const signer = testSigner('k1');
  const pub = path.join(dir, 'k1.pub');
  await writeFile(pub, signer.publicPem);
  for (let v = 1; v <= VERSIONS; v++) await writeFile(path.join(dir, `v${v}.pb`), signer.sign({ version: v }));
  const dataDir = path.join(dir, 'data');
  const writer = path.join(repoRoot, 'dist/test/manifest/bed/applierWriter.js');
  let lastApplied = 0;
  for (let round = 0; round < ROUNDS; round++) {
    // Once it has applied one (so a loaded machine's slow first fsync cannot eat the whole window),
    // kill it at a random point in the applies that follow.
    const lines = await runAndKill(writer, [dataDir, dir, pub, String(VERSIONS)], { ready: (out) => /^applied \d+$/m.test(out), killAfterMs: [5, 80] });
    const printed = lines.flatMap((l) => (/^applied (\d+)$/.exec(l) ? [Number(l.slice(8))] : []));
    if (printed.length > 0) lastApplied = Math.max(lastApplied, ...printed);
    const store = await openStore(dataDir);
    try {
      const applier = await ManifestApplier.open({
        store: store.sublevel<StoredManifest>('manifest'),
        rackId: 'rack1',
        trustedKeys: [{ id: 'k1', publicKeyPem: signer.publicPem }],
        maxBytes: 1 << 20,
        log: pino({ level: 'silent' }),
      });
      const version = applier.status().version ?? 0;
      if (lastApplied > 0) {
        t.equal(applier.status().source, 'store', `round ${round}: last good loads from the store`);
        t.ok(version >= lastApplied, `round ${round}: stored v${version} is not behind the last acknowledged v${lastApplied}`);
      }
      lastApplied = Math.max(lastApplied, version);
    } finally {
      await store.close();
    }
  }
  t.ok(lastApplied > 0, `applied up to v${lastApplied} across the crashes`);
});
