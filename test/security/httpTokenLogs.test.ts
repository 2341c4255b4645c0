// A boot token reaches no log line, whatever shape of URL carries it: near misses of the token
// routes (trailing slash, doubled slashes, a suffix, other case), encoded aliases, URLs the router
// cannot decode, over-long parameters, bodies it cannot parse. Only the canonical URL answers.
import t from 'tap';
import { redactText, redactUrl } from '../../agent/http/redact.js';
import { ATTACKER, httpBed, NODE, rawGet } from './httpBed.js';

t.test('no spelling of a token URL puts the token in the log', async (t) => {
  // Budgets high enough that every line is written and looked at.
  const bed = await httpBed(t, { extraConfig: 'http: { limits: { bootToken: 10000, refusalLogLines: 10000 } }' });
  const T = bed.token;
  const upper = T.toUpperCase() === T ? T.toLowerCase() : T.toUpperCase();
  const firstEncoded = `%${T.charCodeAt(0).toString(16).toUpperCase()}${T.slice(1)}`;

  // The canonical URL, from the node's address, is the only way to the config.
  const served = await bed.app.inject({ url: `/v1/boot/${T}/config`, remoteAddress: NODE.ip });
  t.equal(served.statusCode, 200);
  t.equal((await bed.app.inject({ url: `/v1/boot/${T}/config`, remoteAddress: ATTACKER })).statusCode, 403, 'another address is refused');

  const injected: [string, number][] = [
    [`/v1/boot/${T}/config/`, 404],
    [`//v1/boot/${T}/config`, 400],
    [`/v1//boot/${T}/config`, 400],
    [`/v1/boot//${T}/config`, 400],
    [`/v1/boot/${T}/configx`, 404],
    [`/v1/boot/${T}/config.yaml`, 404],
    [`/v1/boot/${T}`, 404],
    [`/v1/boot/${T}/`, 404],
    [`/v1/boot/${T}x/config`, 403],
    [`/v1/boot/x${T}/config`, 403],
    [`/v1/boot${T}/config`, 404],
    [`/V1/BOOT/${T}/CONFIG`, 404],
    [`/v1/boot/${upper}/config`, 403],
    [`/v1/%62oot/${T}/config`, 400],
    [`/v1/b%6Fot/${T}/config`, 400],
    [`/%76%31/boot/${T}/config`, 400],
    [`/v1/boot/${firstEncoded}/config`, 400],
    [`/v1/boot/${T}/%63onfig`, 400],
    [`/v1/boot/${T}%2Fconfig`, 400],
    [`/v1/boot%2F${T}%2Fconfig`, 400],
    [`/v1/boot/${T}%2fconfig`, 400],
    [`/v1/boot/%2562oot/${T}`, 400],
    [`/v1/boot/${T}%00/config`, 400],
    [`/v1/boot/${T}%zz/config`, 400],
    [`/v1/boot/${T};x/config`, 403],
    [`/v1/boot/${T}/config?again=${T}`, 403],
    [`/v1/boot/${T.repeat(4)}/config`, 414],
    [`/v1/boot/${T}/events`, 404],
  ];
  for (const [url, status] of injected) {
    const res = await bed.app.inject({ url, remoteAddress: ATTACKER });
    t.equal(res.statusCode, status, url);
    t.notMatch(res.body, /machine:/, `${url}: no config`);
  }
  // Methods the routes do not serve, and bodies the events route cannot take.
  t.equal((await bed.app.inject({ method: 'PUT', url: `/v1/boot/${T}/config`, remoteAddress: ATTACKER })).statusCode, 404);
  t.equal((await bed.app.inject({ method: 'DELETE', url: `/v1/boot/${T}/events`, remoteAddress: ATTACKER })).statusCode, 404);
  const badJson = { 'content-type': 'application/json' };
  t.equal((await bed.app.inject({ method: 'POST', url: `/v1/boot/${T}/events`, remoteAddress: ATTACKER, headers: badJson, payload: '{' })).statusCode, 400);
  const odd = { 'content-type': 'text/x-nope' };
  t.equal((await bed.app.inject({ method: 'POST', url: `/v1/boot/${T}/events`, remoteAddress: ATTACKER, headers: odd, payload: 'x' })).statusCode, 415);
  const big = { method: 'POST' as const, url: `/v1/boot/${T}/events`, remoteAddress: ATTACKER, headers: badJson, payload: `{"a":"${'x'.repeat(70_000)}"}` };
  t.equal((await bed.app.inject(big)).statusCode, 413);

  // Byte for byte on the wire: inject's URL parsing would normalise these.
  const raw: [string, number][] = [
    [`/v1/boot/${T}/config/..`, 400],
    [`/v1/boot/${T}/../${T}/config`, 400],
    [`/v1/boot/./${T}/config`, 400],
    [`/v1/boot/%2E/${T}/config`, 400],
    [`/v1/boot/${T}\\config`, 400],
    [`/v1\\boot\\${T}\\config`, 400],
    [`/v1/boot/${T}/config#frag`, 400],
    [`/v1/boot/${T}/config%23`, 404],
  ];
  for (const [path, status] of raw) t.equal((await rawGet(bed.app, path)).status, status, path);

  const text = bed.text();
  t.ok(bed.lines().length > injected.length + raw.length, 'the requests were logged');
  for (const piece of [T, T.slice(0, 16), T.slice(-16), upper])
    t.notOk(text.includes(piece), `no log line holds ${piece === T ? 'the token' : 'a piece of it'}`);
  t.match(text, /<token>/, 'the redacted URLs are there');
});

t.test('redactUrl and redactText: token-shaped runs after `boot`, nothing else', async (t) => {
  const T = 'c9sjexw0eCbDtNpdeSx0gNuIJfGIidLv';
  const cases: [string, string][] = [
    [`/v1/boot/${T}/config`, '/v1/boot/<token>/config'],
    [`/v1/boot/${T}/events`, '/v1/boot/<token>/events'],
    [`//v1/boot/${T}/config/`, '//v1/boot/<token>/config/'],
    [`/V1/BOOT/${T}/CONFIG`, '/V1/BOOT/<token>/CONFIG'],
    [`/v1/%62oot/${T}/config`, '/v1/%62oot/<token>/config'],
    [`/v1/%2562oot/${T}/config`, '/v1/%2562oot/<token>/config'],
    [`/v1/boot%2F${T}%2Fconfig`, '/v1/<token>'],
    [`/v1\\boot\\${T}\\config`, '/<token>'],
    [`/v1/boot${T}/config`, '/v1/<token>/config'],
    [`/v1/boot/x${T}x/config`, '/v1/boot/<token>/config'],
    [`/v1/boot/%${T.charCodeAt(0).toString(16)}${T.slice(1)}/config`, '/v1/boot/<token>/config'],
    [`/v1/boot/x/config?t=${T}`, '/v1/boot/x/config?<redacted>'],
    ['/boot/snponly.efi', '/boot/snponly.efi'],
    ['/boot.ipxe', '/boot.ipxe'],
    [`/assets/${'ab'.repeat(32)}/v1.13.9/kernel-amd64`, `/assets/${'ab'.repeat(32)}/v1.13.9/kernel-amd64`],
    ['/ipxe?mac=52:54:00:aa:00:01&uuid=11111111-2222-3333-4444-555555555555', '/ipxe?mac=52:54:00:aa:00:01&uuid=11111111-2222-3333-4444-555555555555'],
    [`/v2/siderolabs/installer/blobs/sha256:${'ab'.repeat(32)}`, `/v2/siderolabs/installer/blobs/sha256:${'ab'.repeat(32)}`],
  ];
  for (const [url, redacted] of cases) t.equal(redactUrl(url), redacted, url);
  t.equal(redactText(`'/v1/boot/${T}%zz/config' is not a valid url component`), "'/v1/boot/<token>/config' is not a valid url component");
  t.equal(redactText('boot file named by DHCP is missing from bootBinariesDir'), 'boot file named by DHCP is missing from bootBinariesDir');
});
