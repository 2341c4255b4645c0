// Child for the image store crash test: puts random blobs (4 at a time, some with a wrong digest)
// in a loop until killed. Prints "open" once the store is open and "p <digest>" after each put resolves.
//   node dist/test/images/bed/blobWriter.js <dataDir>
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import pino from 'pino';
import { openContentStore, type IndexEntry } from '../../../agent/images/store.js';
import { openStore } from '../../../agent/store/store.js';

const dataDir = process.argv[2]!;
const db = await openStore(dataDir);
const store = await openContentStore({
  dir: path.join(dataDir, 'cache'),
  index: db.sublevel<IndexEntry>('images'),
  limitBytes: 2 ** 40,
  log: pino({ level: 'silent' }),
});
process.stdout.write('open\n');

async function* pieces(bytes: Buffer): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 32 * 1024) yield bytes.subarray(i, i + 32 * 1024);
}

async function writer(): Promise<never> {
  for (;;) {
    const bytes = randomBytes(16 * 1024 + Math.floor(Math.random() * 512 * 1024));
    const good = Math.random() < 0.8;
    const digest = `sha256:${createHash('sha256')
      .update(good ? bytes : randomBytes(8))
      .digest('hex')}`;
    try {
      await store.put(digest, pieces(bytes));
      process.stdout.write(`p ${digest}\n`);
    } catch {
      // the wrong-digest puts fail by design
    }
  }
}
await Promise.all([writer(), writer(), writer(), writer()]);
