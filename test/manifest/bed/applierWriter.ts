// Child process for the apply crash test: applies SignedManifest files v1..vN in order from DIR,
// printing `ready` once open, then `applied <version>` once each offer has resolved (i.e. is
// durable), until killed.
//   node dist/test/manifest/bed/applierWriter.js DATA_DIR MANIFEST_DIR PUBKEY_FILE COUNT
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { ManifestApplier, type StoredManifest } from '../../../agent/manifest/applier.js';
import { openStore } from '../../../agent/store/store.js';

const [dataDir, manifestDir, pubFile, count] = process.argv.slice(2) as [string, string, string, string];
const store = await openStore(dataDir);
const applier = await ManifestApplier.open({
  store: store.sublevel<StoredManifest>('manifest'),
  rackId: 'rack1',
  trustedKeys: [{ id: 'k1', publicKeyPem: readFileSync(pubFile, 'utf8') }],
  maxBytes: 1 << 20,
  log: pino({ level: 'silent' }),
});
const start = (applier.status().version ?? 0) + 1;
process.stdout.write('ready\n');
for (let v = start; v <= Number(count); v++) {
  const outcome = await applier.offer(readFileSync(path.join(manifestDir, `v${v}.pb`)), 'pull');
  if (outcome.outcome !== 'applied') throw new Error(`v${v}: ${outcome.outcome} ${outcome.message ?? ''}`);
  process.stdout.write(`applied ${v}\n`);
}
await store.close();
