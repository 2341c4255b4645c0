// SignedManifest bytes for uplink transport tests. The signature is zeros: these tests are about
// moving bytes; signature checks are the manifest verifier's tests.
import { create, toBinary } from '@bufbuild/protobuf';
import { ManifestSchema, SignedManifestSchema } from '../../agent/uplink/gen/maskin/v1/manifest_pb.js';

export function signedManifestBytes(rack: string, version: number): Uint8Array {
  const payload = toBinary(ManifestSchema, create(ManifestSchema, { rackId: rack, version: BigInt(version) }));
  return toBinary(SignedManifestSchema, create(SignedManifestSchema, { payload, keyId: 'k1', signature: new Uint8Array(64) }));
}
