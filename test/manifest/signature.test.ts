import t from 'tap';
import { generateKeyPairSync, randomBytes, sign as signRaw } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { generateKeyPair, loadPrivateKey, loadPublicKey, signManifest, verifySignedManifest, type VerifyPolicy } from '../../agent/manifest/signature.js';
import { ManifestRejectedError, MaskinError } from '../../agent/errors.js';
import { talosChecks } from '../../agent/talos/checks.js';
import { Arch, ManifestSchema, SignedManifestSchema, type Manifest as PbManifest } from '../../agent/uplink/gen/maskin/v1/manifest_pb.js';
import { VANILLA_SCHEMATIC } from '../fakes/manifest.js';

const current = generateKeyPair();
const next = generateKeyPair();
const stranger = generateKeyPair();
const privateOf = (pair: typeof current) => loadPrivateKey(pair.privatePem);

function manifest(over: Partial<Pick<PbManifest, 'rackId' | 'version'>> = {}): PbManifest {
  return create(ManifestSchema, {
    rackId: 'rack-1',
    version: 10n,
    issuedAtUnixMs: BigInt(Date.parse('2025-06-01T00:00:00Z')),
    profiles: [
      {
        name: 'workers',
        talosVersion: 'v1.13.9',
        schematic: VANILLA_SCHEMATIC,
        arch: Arch.AMD64,
        install: { disk: '/dev/sda' },
        machineConfigYaml: 'version: v1alpha1\nmachine:\n  type: worker\n',
      },
    ],
    nodes: [
      { id: 'n1', macs: ['52:54:00:00:00:01'], profile: 'workers', generation: 1n },
      { id: 'n2', macs: ['52:54:00:00:00:02'], profile: 'workers', generation: 1n },
    ],
    ...over,
  });
}

const policy: VerifyPolicy = {
  trustedKeys: new Map([
    ['k-2025', loadPublicKey(current.publicPem)],
    ['k-2026', loadPublicKey(next.publicPem)],
  ]),
  rackId: 'rack-1',
  currentVersion: 9,
  maxBytes: 64 * 1024,
  talos: talosChecks,
};

function rejection(bytes: Uint8Array, over: Partial<VerifyPolicy> = {}): ManifestRejectedError {
  try {
    verifySignedManifest(bytes, { ...policy, ...over });
  } catch (err) {
    if (err instanceof ManifestRejectedError) return err;
    throw err;
  }
  throw new Error('accepted');
}

t.test('a manifest signed by a trusted key is accepted as the model', async (t) => {
  const bytes = signManifest(manifest(), 'k-2025', privateOf(current));
  const v = verifySignedManifest(bytes, policy);
  t.equal(v.version, 10);
  t.equal(v.keyId, 'k-2025');
  t.equal(v.issuedAt?.toISOString(), '2025-06-01T00:00:00.000Z');
  t.equal(v.manifest.rackId, 'rack-1');
  t.same(
    v.manifest.nodes.map((n) => n.id),
    ['n1', 'n2'],
  );
  t.equal(v.bytes, bytes, 'the bytes as received, for last-known-good');
  const { currentVersion: _inForce, ...nothingInForce } = policy;
  t.ok(verifySignedManifest(bytes, nothingInForce), 'nothing in force yet');
});

t.test('rotation: both trusted keys are accepted', async (t) => {
  t.equal(verifySignedManifest(signManifest(manifest(), 'k-2026', privateOf(next)), policy).keyId, 'k-2026');
  t.equal(verifySignedManifest(signManifest(manifest(), 'k-2025', privateOf(current)), policy).keyId, 'k-2025');
});

t.test('every refusal has its own reason and code', async (t) => {
  const good = signManifest(manifest(), 'k-2025', privateOf(current));
  const cases: [string, () => ManifestRejectedError, ManifestRejectedError['reason'], RegExp][] = [
    [
      'a flipped payload byte',
      () => {
        const tampered = Uint8Array.from(good);
        tampered[20]! ^= 0x01; // inside the payload (field 1 starts at byte 0, its bytes after the length)
        return rejection(tampered);
      },
      'bad-signature',
      /does not verify with key k-2025/,
    ],
    [
      'a signature by an untrusted key',
      () => rejection(signManifest(manifest(), 'k-2027', privateOf(stranger))),
      'unknown-key',
      /"k-2027" is not trusted; trusted: k-2025, k-2026/,
    ],
    ['an untrusted key claiming a trusted id', () => rejection(signManifest(manifest(), 'k-2025', privateOf(stranger))), 'bad-signature', /k-2025/],
    ['no trusted keys configured', () => rejection(good, { trustedKeys: new Map() }), 'unknown-key', /none configured in uplink\.trustedKeys/],
    ['another rack', () => rejection(good, { rackId: 'rack-2' }), 'wrong-rack', /for rack "rack-1", this agent is rack "rack-2"/],
    ['an older version', () => rejection(good, { currentVersion: 11 }), 'rollback', /version 10 is not newer than the version in force, 11/],
    ['the same version', () => rejection(good, { currentVersion: 10 }), 'rollback', /version 10 is not newer .* 10/],
    ['truncated bytes', () => rejection(good.subarray(0, good.length - 7)), 'garbage', /not a SignedManifest/],
    [
      'one byte over the limit',
      () => rejection(good, { maxBytes: good.length - 1 }),
      'too-large',
      new RegExp(`${good.length} bytes, limit ${good.length - 1}`),
    ],
    ['random garbage', () => rejection(randomBytes(300)), 'garbage', /SignedManifest|payload|signature/],
    ['empty input', () => rejection(new Uint8Array(0)), 'garbage', /no payload/],
    [
      'no signature',
      () => rejection(toBinary(SignedManifestSchema, create(SignedManifestSchema, { payload: new Uint8Array([8, 1]), keyId: 'k-2025' }))),
      'garbage',
      /no signature/,
    ],
    [
      'a flipped signature byte',
      () => {
        const tampered = Uint8Array.from(good);
        tampered[tampered.length - 1]! ^= 0x80; // the signature is the last field
        return rejection(tampered);
      },
      'bad-signature',
      /does not verify/,
    ],
    [
      'a signed payload that is not a Manifest',
      () => {
        // Signed properly, so only the payload decode can refuse it: field 1, length 255, nothing follows.
        const payload = new Uint8Array([0x0a, 0xff, 0x01]);
        const signature = signRaw(null, payload, privateOf(current));
        return rejection(toBinary(SignedManifestSchema, create(SignedManifestSchema, { payload, keyId: 'k-2025', signature })));
      },
      'garbage',
      /payload is not a Manifest/,
    ],
    [
      'a node with an unknown profile',
      () => {
        const m = manifest();
        m.nodes[1]!.profile = 'nope';
        return rejection(signManifest(m, 'k-2025', privateOf(current)));
      },
      'invalid',
      /nodes\.1\.profile: unknown profile nope/,
    ],
    [
      'a base config the Talos schema refuses',
      () => {
        const m = manifest();
        m.profiles[0]!.machineConfigYaml = 'version: v1alpha1\nmachine:\n  type: worker\n  bogus: 1\n';
        return rejection(signManifest(m, 'k-2025', privateOf(current)));
      },
      'invalid',
      /profiles\.workers\.machineConfig: .*unknown field "bogus"/,
    ],
    [
      'a version above 2^53',
      () => rejection(signManifest(manifest({ version: 2n ** 53n }), 'k-2025', privateOf(current))),
      'invalid',
      /version 9007199254740992 is above 9007199254740991/,
    ],
  ];
  const codes: Record<ManifestRejectedError['reason'], string> = {
    'too-large': 'MASKIN_ERR_MANIFEST_TOO_LARGE',
    garbage: 'MASKIN_ERR_MANIFEST_GARBAGE',
    'unknown-key': 'MASKIN_ERR_MANIFEST_UNKNOWN_KEY',
    'bad-signature': 'MASKIN_ERR_MANIFEST_BAD_SIGNATURE',
    'wrong-rack': 'MASKIN_ERR_MANIFEST_WRONG_RACK',
    rollback: 'MASKIN_ERR_MANIFEST_ROLLBACK',
    invalid: 'MASKIN_ERR_MANIFEST_INVALID',
  };
  for (const [name, run, reason, message] of cases) {
    const err = run();
    t.equal(err.reason, reason, name);
    t.equal(err.code, codes[reason], `${name}: code`);
    t.match(err.message, message, `${name}: message`);
  }
});

t.test('random garbage is always refused as garbage or an unknown key, never a crash', async (t) => {
  const reasons = new Set<string>();
  for (let i = 0; i < 500; i++) reasons.add(rejection(randomBytes(1 + (i % 200))).reason);
  t.ok(
    [...reasons].every((r) => r === 'garbage' || r === 'unknown-key'),
    [...reasons].join(','),
  );
});

t.test('the size limit is checked before anything is decoded', async (t) => {
  t.equal(rejection(randomBytes(2000), { maxBytes: 1024 }).reason, 'too-large');
});

t.test('keys: only Ed25519, and a trusted-key file never holds a private key', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const rsaPub = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const rsaPriv = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const fails = (fn: () => unknown, re: RegExp, name: string): void => {
    try {
      fn();
      t.fail(`${name}: accepted`);
    } catch (err) {
      t.ok(err instanceof MaskinError && err.code === 'MASKIN_ERR_MANIFEST_KEY', name);
      t.match((err as Error).message, re, name);
    }
  };
  fails(() => loadPublicKey(rsaPub), /rsa key, not Ed25519/, 'RSA public key');
  fails(() => loadPrivateKey(rsaPriv), /rsa key, not Ed25519/, 'RSA private key');
  fails(() => loadPublicKey('not a key'), /not a PEM key/, 'not PEM');
  fails(() => loadPublicKey(current.privatePem), /holds a private key/, 'private PEM as trusted key');
  t.match(current.privatePem, /^-----BEGIN PRIVATE KEY-----/);
  t.match(current.publicPem, /^-----BEGIN PUBLIC KEY-----/);
});
