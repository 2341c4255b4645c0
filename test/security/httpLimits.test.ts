// Guessing is bounded per source address, with the default limits: boot-token routes (config and
// installer reports together) 30 requests a minute, the admin API 120 from a non-loopback address
// (loopback is never limited), manifest pushes 30. Over the limit: 429 with a clear body, counted.
// Refusal log lines are bounded per source too (20 a minute), the rest summed up in one line.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { ATTACKER, httpBed, NODE } from './httpBed.js';

const guess = () => randomBytes(24).toString('base64url');
const OTHER = '198.18.9.67';

t.test('token guessing is limited per source; the node itself is not held up', async (t) => {
  const bed = await httpBed(t);
  for (let i = 0; i < 30; i += 1) {
    const res = await bed.app.inject({ url: `/v1/boot/${guess()}/config`, remoteAddress: ATTACKER });
    if (res.statusCode !== 403) return t.fail(`guess ${i + 1} answered ${res.statusCode}`);
  }
  const limited = await bed.app.inject({ url: `/v1/boot/${guess()}/config`, remoteAddress: ATTACKER });
  t.equal(limited.statusCode, 429);
  t.match(limited.json(), { error: 'rate-limited', fix: /at most 30 requests .* per 60 s/ });
  t.ok(Number(limited.headers['retry-after']) > 0, 'Retry-After says when');
  const report = await bed.app.inject({ method: 'POST', url: `/v1/boot/${guess()}/events`, remoteAddress: ATTACKER, payload: { step: 'install-complete' } });
  t.equal(report.statusCode, 429, 'installer reports share the budget');
  t.equal((await bed.app.inject({ url: `/v1/boot/${bed.token}/config`, remoteAddress: ATTACKER })).statusCode, 429, 'even a real token, once over');
  t.equal((await bed.app.inject({ url: `/v1/boot/${guess()}/config`, remoteAddress: OTHER })).statusCode, 403, 'another source has its own budget');
  t.equal((await bed.app.inject({ url: `/v1/boot/${bed.token}/config`, remoteAddress: NODE.ip })).statusCode, 200, 'the node gets its config');
  t.equal(await bed.metric('maskin_http_rate_limited_total', { group: 'boot-token' }), 3);
  t.equal(await bed.metric('maskin_http_refused_total', { reason: 'boot-token' }), 31);
});

t.test('admin guesses are limited per non-loopback source; loopback is not limited', async (t) => {
  const bed = await httpBed(t);
  const wrong = { authorization: 'Bearer wrong' };
  for (let i = 0; i < 120; i += 1) {
    const res = await bed.admin.inject({ url: '/v1/nodes', remoteAddress: ATTACKER, headers: wrong });
    if (res.statusCode !== 401) return t.fail(`guess ${i + 1} answered ${res.statusCode}`);
  }
  const limited = await bed.admin.inject({ url: '/metrics', remoteAddress: ATTACKER, headers: wrong });
  t.equal(limited.statusCode, 429, 'every admin route shares the budget');
  t.match(limited.json(), { error: 'rate-limited', fix: /at most 120 requests .* per 60 s/ });
  const right = await bed.admin.inject({ url: '/v1/nodes', remoteAddress: ATTACKER, headers: { authorization: 'Bearer admin-secret' } });
  t.equal(right.statusCode, 429, 'the right token does not get past the limit: guessing learns nothing more');
  for (let i = 0; i < 300; i += 1) {
    const res = await bed.admin.inject({ url: '/v1/nodes', remoteAddress: '127.0.0.1' });
    if (res.statusCode !== 200) return t.fail(`loopback request ${i + 1} answered ${res.statusCode}`);
  }
  t.pass('300 loopback requests in a row, all answered');
  t.equal(await bed.metric('maskin_http_rate_limited_total', { group: 'admin' }), 2);
  t.equal((await bed.admin.inject({ url: '/healthz', remoteAddress: ATTACKER })).statusCode, 200, '/healthz stays open');
});

t.test('push guesses are limited per source, before the body is read', async (t) => {
  const bed = await httpBed(t);
  const put = (token: string) => ({
    method: 'PUT' as const,
    url: '/v1/manifest',
    remoteAddress: ATTACKER,
    headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${token}` },
    payload: Buffer.from([1, 2, 3]),
  });
  for (let i = 0; i < 30; i += 1) {
    const res = await bed.app.inject(put('wrong'));
    if (res.statusCode !== 401) return t.fail(`guess ${i + 1} answered ${res.statusCode}`);
  }
  const limited = await bed.app.inject(put('wrong'));
  t.equal(limited.statusCode, 429);
  t.match(limited.json(), { error: 'rate-limited' });
  t.equal(await bed.metric('maskin_http_rate_limited_total', { group: 'push' }), 1);
  t.equal(await bed.metric('maskin_http_refused_total', { reason: 'push-auth' }), 30);
});

t.test('refusal log lines are bounded per source, then summed up in one line', async (t) => {
  const bed = await httpBed(t);
  const shapes = [`/v1/boot/${guess()}/config`, '/nope', '/v1/%62oot/x', '/boot/escape.efi', '/v1/nodes'];
  for (let i = 0; i < 200; i += 1) await bed.app.inject({ url: shapes[i % shapes.length]!, remoteAddress: ATTACKER });
  await bed.app.inject({ url: '/nope', remoteAddress: OTHER });
  for (let i = 0; i < 50; i += 1) await bed.app.inject({ url: '/boot/undionly.kpxe', remoteAddress: NODE.ip });
  // At info and above, the default level (the node registry's debug lines about unattributed steps are not HTTP's).
  const about = (ip: string) => bed.lines().filter((l) => (l['level'] as number) >= 30 && JSON.stringify(l).includes(`"${ip}"`));
  const written = about(ATTACKER).length;
  t.ok(written > 0 && written <= 20, `${written} lines about the attacker's 200 refused requests`);
  const suppressed = await bed.metric('maskin_http_log_lines_suppressed_total');
  t.ok(suppressed >= 200 - written, `${suppressed} lines held back`);
  t.ok(about(OTHER).length > 0, "another source's refusals are still logged");
  const served = bed.lines().filter((l) => l['msg'] === 'request completed' && JSON.stringify(l).includes(`"${NODE.ip}"`));
  t.equal(served.length, 50, 'served requests are all logged, one line each');
  t.ok(
    served.every((l) => l['level'] === 20),
    'at debug: wait loops and scrapes do not flood the info log',
  );
  // Closing ends every window; each source with lines held back gets its summary then.
  await bed.app.close();
  const summaries = bed.lines().filter((l) => l['msg'] === 'refusal log lines suppressed');
  t.match(summaries, [{ level: 40, from: ATTACKER, suppressed, windowSeconds: 60 }], 'one summary, for the attacker');
});
