// The uplink client refuses bad TLS material at construction, naming the config field; the token
// becomes the authorization header; there is no way to skip verification.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { UplinkFileError } from '../../agent/errors.js';
import { classifyRequestError, createUplinkClient, statusError } from '../../agent/uplink/client.js';
import { makeTestPki } from '../central/pki.js';

t.test('construction errors name the field', async (t) => {
  const pki = makeTestPki();
  t.teardown(() => pki.remove());
  const dir = t.testdir();
  const junk = path.join(dir, 'junk.pem');
  writeFileSync(junk, 'not a certificate\n');
  const refused = (opts: Parameters<typeof createUplinkClient>[0], field: string, message: RegExp) =>
    t.throws(() => createUplinkClient(opts), { constructor: UplinkFileError, code: 'MASKIN_ERR_UPLINK_FILE', field, message }, field);

  refused({ timeoutMs: 1000, caFile: path.join(dir, 'missing.pem') }, 'uplink.caFile', /uplink\.caFile: .*missing\.pem: cannot read it \(ENOENT\)/);
  refused({ timeoutMs: 1000, caFile: junk }, 'uplink.caFile', /not a usable PEM CA/);
  refused({ timeoutMs: 1000, certFile: pki.clientCertFile }, 'uplink.keyFile', /both certFile and keyFile/);
  refused({ timeoutMs: 1000, keyFile: pki.clientKeyFile }, 'uplink.certFile', /both certFile and keyFile/);
  refused({ timeoutMs: 1000, certFile: pki.clientCertFile, keyFile: path.join(dir, 'nokey') }, 'uplink.keyFile', /cannot read it/);
  refused({ timeoutMs: 1000, certFile: pki.clientCertFile, keyFile: pki.serverKeyFile }, 'uplink.certFile', /not a usable pair/);

  const ok = createUplinkClient({ timeoutMs: 1000, caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile, token: 'abc' });
  t.same(ok.headers, { authorization: 'Bearer abc' });
  await ok.close();
  const bare = createUplinkClient({ timeoutMs: 1000 });
  t.same(bare.headers, {}, 'no token, no header');
  await bare.close();
});

t.test('request errors map to the catalogue with retryability', async (t) => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  t.match(classifyRequestError(refused), { reason: 'unreachable', retryable: true, code: 'MASKIN_ERR_UPLINK_UNREACHABLE' });
  const headers = Object.assign(new Error('Headers Timeout Error'), { code: 'UND_ERR_HEADERS_TIMEOUT' });
  t.match(classifyRequestError(headers), { reason: 'timeout', retryable: true });
  const cert = Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  t.match(classifyRequestError(new Error('fetch failed', { cause: cert })), { reason: 'tls', retryable: false }, 'found through cause');
  t.match(statusError(503, 'x'), { reason: 'status', status: 503, retryable: true });
  t.match(statusError(429, 'x'), { retryable: true });
  t.match(statusError(404, 'x'), { retryable: false, message: /HTTP 404/ });
});
