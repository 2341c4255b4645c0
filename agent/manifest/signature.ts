// Ed25519 over the exact encoded Manifest bytes (SignedManifest.payload), and the one verification
// path for every signed manifest the agent meets (pull, push, the last-known-good at start, the
// operator CLI). Cheap checks come first, and nothing is decoded before it is authenticated
// except the SignedManifest envelope itself. Each refusal is one ManifestRejectedError reason.
import { generateKeyPairSync, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ManifestError, ManifestKeyError, ManifestRejectedError } from '../errors.js';
import { buildManifest, type TalosChecks } from './load.js';
import { rawFromProto } from './convert.js';
import type { Manifest } from './model.js';
import { ManifestSchema, SignedManifestSchema, type Manifest as PbManifest, type SignedManifest } from '../uplink/gen/maskin/v1/manifest_pb.js';

export interface KeyPairPem {
  /** PKCS#8 PEM. */
  readonly privatePem: string;
  /** SPKI PEM. */
  readonly publicPem: string;
}

export function generateKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function ed25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new ManifestKeyError(
      `${what} is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key, not Ed25519. Fix: use a key made by \`maskin-agent manifest keygen\``,
    );
  }
  return key;
}

function parseKey(parse: () => KeyObject, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = parse();
  } catch (err) {
    throw new ManifestKeyError(`${what} is not a PEM key (${(err as Error).message}). Fix: use a key made by \`maskin-agent manifest keygen\``, { cause: err });
  }
  return ed25519(key, what);
}

/** An SPKI PEM Ed25519 public key. */
export function loadPublicKey(pem: string | Buffer, what = 'public key'): KeyObject {
  // createPublicKey also derives a public key from a private PEM; a trusted-key file must not hold one.
  if (pem.toString().includes('PRIVATE KEY')) {
    throw new ManifestKeyError(`${what} holds a private key. Fix: give the .pub file; keep the .key file on the signing host only`);
  }
  return parseKey(() => createPublicKey(pem), what);
}

/** A PKCS#8 PEM Ed25519 private key. */
export function loadPrivateKey(pem: string | Buffer, what = 'private key'): KeyObject {
  return parseKey(() => createPrivateKey(pem), what);
}

/** The encoded SignedManifest for `manifest`. */
export function signManifest(manifest: PbManifest, keyId: string, key: KeyObject): Uint8Array {
  ed25519(key, 'signing key');
  const payload = toBinary(ManifestSchema, manifest);
  // Ed25519 hashes internally (RFC 8032), so no digest algorithm is named.
  const signature = sign(null, payload, key);
  return toBinary(SignedManifestSchema, create(SignedManifestSchema, { payload, keyId, signature }));
}

export interface VerifyPolicy {
  /** Key id → Ed25519 public key; several during a rotation. */
  readonly trustedKeys: ReadonlyMap<string, KeyObject>;
  readonly rackId: string;
  /** Version in force; a manifest must be strictly newer. Absent = nothing in force yet. */
  readonly currentVersion?: number;
  readonly maxBytes: number;
  readonly talos?: TalosChecks;
}

export interface VerifiedManifest {
  readonly manifest: Manifest;
  readonly version: number;
  readonly keyId: string;
  readonly issuedAt?: Date;
  /** The SignedManifest bytes as received, to persist as last-known-good. */
  readonly bytes: Uint8Array;
}

/** The envelope, unauthenticated: for `show` and for the checks below. Throws GARBAGE. */
export function decodeSignedManifest(bytes: Uint8Array): SignedManifest {
  let signed: SignedManifest;
  try {
    signed = fromBinary(SignedManifestSchema, bytes);
  } catch (err) {
    throw new ManifestRejectedError('garbage', `not a SignedManifest (${(err as Error).message})`, { cause: err });
  }
  if (signed.payload.length === 0) throw new ManifestRejectedError('garbage', 'SignedManifest has no payload');
  if (signed.signature.length === 0) throw new ManifestRejectedError('garbage', 'SignedManifest has no signature');
  return signed;
}

/** The payload as a protobuf Manifest. Throws GARBAGE. */
export function decodePayload(payload: Uint8Array): PbManifest {
  try {
    return fromBinary(ManifestSchema, payload);
  } catch (err) {
    throw new ManifestRejectedError('garbage', `payload is not a Manifest (${(err as Error).message})`, { cause: err });
  }
}

export function verifySignedManifest(bytes: Uint8Array, policy: VerifyPolicy): VerifiedManifest {
  if (bytes.length > policy.maxBytes) {
    throw new ManifestRejectedError('too-large', `${bytes.length} bytes, limit ${policy.maxBytes} (uplink.maxManifestBytes)`);
  }
  const signed = decodeSignedManifest(bytes);
  const key = policy.trustedKeys.get(signed.keyId);
  if (key === undefined) {
    const trusted = [...policy.trustedKeys.keys()];
    throw new ManifestRejectedError(
      'unknown-key',
      `key id ${JSON.stringify(signed.keyId)} is not trusted; trusted: ${trusted.length > 0 ? trusted.join(', ') : '(none configured in uplink.trustedKeys)'}`,
    );
  }
  let valid: boolean;
  try {
    valid = verify(null, signed.payload, key, signed.signature);
  } catch {
    valid = false; // e.g. a signature of the wrong length
  }
  if (!valid) throw new ManifestRejectedError('bad-signature', `signature does not verify with key ${signed.keyId}`);

  const pb = decodePayload(signed.payload);
  if (pb.rackId !== policy.rackId) {
    throw new ManifestRejectedError('wrong-rack', `manifest is for rack ${JSON.stringify(pb.rackId)}, this agent is rack ${JSON.stringify(policy.rackId)}`);
  }
  if (pb.version > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ManifestRejectedError('invalid', `version ${pb.version} is above ${Number.MAX_SAFE_INTEGER}, the largest this agent can order exactly`);
  }
  const version = Number(pb.version);
  if (policy.currentVersion !== undefined && version <= policy.currentVersion) {
    throw new ManifestRejectedError('rollback', `version ${version} is not newer than the version in force, ${policy.currentVersion}`);
  }
  const file = `signed manifest v${version}`;
  let manifest: Manifest;
  try {
    manifest = buildManifest(rawFromProto(pb, file), { file, ...(policy.talos ? { talos: policy.talos } : {}) });
  } catch (err) {
    if (err instanceof ManifestError) throw new ManifestRejectedError('invalid', err.message, { cause: err });
    throw err;
  }
  return {
    manifest,
    version,
    keyId: signed.keyId,
    ...(manifest.issuedAt !== undefined ? { issuedAt: manifest.issuedAt } : {}),
    bytes,
  };
}
