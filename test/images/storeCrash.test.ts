// Crash safety of the image store: a child puts blobs in a loop and is
// killed with SIGKILL at a random moment, 25 times over one cache. After each kill the store opens,
// its scan leaves no temp file, every indexed blob's file hashes to its name, and every put the
// child saw resolve is still there.
// Needs `npx tsc -p .` first (npm test does it): the child runs as dist/test/images/bed/blobWriter.js.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { hashFile, openContentStore, type IndexEntry } from '../../agent/images/store.js';
import { openStore } from '../../agent/store/store.js';
import { runAndKill } from '../bed/killRandomly.js';
import { silent } from './blobs.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const entry = path.join(repo, 'dist/test/images/bed/blobWriter.js');

/** Runs the writer until "open", lets it work 5–200 ms, SIGKILLs it; returns the digests it saw stored. */
async function runAndKillWriter(dataDir: string): Promise<string[]> {
  const lines = await runAndKill(entry, [dataDir], { ready: (out) => out.includes('open\n'), killAfterMs: [5, 200] });
  return lines.filter((l) => l.startsWith('p ')).map((l) => l.slice(2));
}

t.test('kill -9 during puts, 25 times over one cache: never a corrupt entry, nothing acknowledged lost', async (t) => {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'maskin-images-crash-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true }));
  const acknowledged = new Set<string>();
  const verified = new Set<string>();
  let checkedBlobs = 0;
  let problems = 0;
  const started = Date.now();
  for (let round = 0; round < 25 && Date.now() - started < 20_000; round++) {
    for (const d of await runAndKillWriter(dataDir)) acknowledged.add(d);
    const db = await openStore(dataDir);
    try {
      const store = await openContentStore({ dir: path.join(dataDir, 'cache'), index: db.sublevel<IndexEntry>('images'), limitBytes: 2 ** 40, log: silent });
      const tmp = await readdir(path.join(dataDir, 'cache', 'tmp'));
      if (tmp.length > 0) problems += t.fail(`round ${round}: temp files left: ${tmp.join(', ')}`) ? 0 : 1;
      // Blob files never change once renamed into place, so each is hashed once, and all of them
      // again after the last round.
      const last = round === 24 || Date.now() - started >= 20_000;
      for (const blob of store.list()) {
        if (!last && verified.has(blob.digest)) continue;
        verified.add(blob.digest);
        const actual = await hashFile(blob.path);
        if (actual.digest !== blob.digest || actual.size !== blob.size)
          problems += t.fail(`round ${round}: ${blob.digest} holds ${actual.digest} (${actual.size} bytes)`) ? 0 : 1;
        checkedBlobs++;
      }
      const missing = [...acknowledged].filter((d) => !store.get(d));
      if (missing.length > 0) problems += t.fail(`round ${round}: ${missing.length} acknowledged puts lost, e.g. ${missing.slice(0, 3).join(', ')}`) ? 0 : 1;
      const files = await readdir(path.join(dataDir, 'cache', 'blobs', 'sha256'));
      t.equal(files.length, store.list().length, `round ${round}: every blob file indexed`);
    } finally {
      await db.close();
    }
  }
  t.equal(problems, 0);
  t.ok(acknowledged.size >= 10, `${acknowledged.size} puts acknowledged across the kills, ${checkedBlobs} blob checks`);
});
