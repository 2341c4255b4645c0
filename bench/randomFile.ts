// Benchmark payloads: a file of random bytes written in 1 MiB chunks, hashed on the way.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';

/** Writes `size` random bytes to `file`; returns their `sha256:<hex>` digest. */
export async function writeRandomFile(file: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  for (let i = 0; i < size; i += 1 << 20) {
    const chunk = randomBytes(Math.min(1 << 20, size - i));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return `sha256:${hash.digest('hex')}`;
}
