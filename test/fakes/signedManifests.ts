// Signed manifests for tests: the example manifest (or a variant) converted to the protobuf
// contract and signed with a throwaway Ed25519 key, as central would publish it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { RawManifest } from '../../agent/manifest/load.js';
import { manifestToProto } from '../../agent/manifest/convert.js';
import { generateKeyPair, loadPrivateKey, loadPublicKey, signManifest } from '../../agent/manifest/signature.js';

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../config/examples');

export interface TestSigner {
  readonly keyId: string;
  readonly publicPem: string;
  /** Signs the example manifest (nodes optionally replaced) as rack `rackId`, version `version`. */
  sign(opts: { version: number; rackId?: string; mutate?: (raw: RawManifest) => void }): Uint8Array;
}

export function testSigner(keyId = 'k1'): TestSigner {
  const pair = generateKeyPair();
  const key = loadPrivateKey(pair.privatePem);
  loadPublicKey(pair.publicPem);
  return {
    keyId,
    publicPem: pair.publicPem,
    sign({ version, rackId = 'rack1', mutate }) {
      const raw = parseYaml(readFileSync(path.join(examples, 'manifest.yaml'), 'utf8')) as RawManifest;
      raw.version = version;
      mutate?.(raw);
      return signManifest(manifestToProto(raw, { rackId, baseDir: examples }), keyId, key);
    },
  };
}
