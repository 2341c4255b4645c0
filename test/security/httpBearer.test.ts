// The Authorization scheme is case-insensitive (RFC 9110 §11.1): `bearer` is `Bearer`. The token
// itself is compared exactly, in constant time; anything else never matches.
import t from 'tap';
import { bearerMatches } from '../../agent/http/bearer.js';
import { ATTACKER, httpBed } from './httpBed.js';

const TOKEN = 'admin-secret';
const table: [string | undefined, boolean][] = [
  ['Bearer admin-secret', true],
  ['bearer admin-secret', true],
  ['BEARER admin-secret', true],
  ['bEaReR admin-secret', true],
  ['Bearer  admin-secret', true],
  [undefined, false],
  ['', false],
  ['Bearer', false],
  ['Bearer ', false],
  ['Bearer admin-secre', false],
  ['Bearer admin-secretX', false],
  ['Bearer ADMIN-SECRET', false],
  ['Bearer admin-secret extra', false],
  ['Bearer\tadmin-secret', false],
  ['Bearer:admin-secret', false],
  ['Bearer,admin-secret', false],
  ['Bearerx admin-secret', false],
  ['Basic admin-secret', false],
  ['Basic YWRtaW46YWRtaW4tc2VjcmV0', false],
  ['admin-secret', false],
  [' Bearer admin-secret', false],
];
for (const [header, expected] of table) {
  t.test(`bearerMatches(${JSON.stringify(header)})`, async (t) => {
    t.equal(bearerMatches(header, TOKEN), expected);
  });
}

t.test('admin and push take the scheme in any case', async (t) => {
  const bed = await httpBed(t);
  for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
    const res = await bed.admin.inject({ url: '/v1/nodes', remoteAddress: ATTACKER, headers: { authorization: `${scheme} admin-secret` } });
    t.equal(res.statusCode, 200, `admin: ${scheme}`);
    const push = await bed.app.inject({
      method: 'PUT',
      url: '/v1/manifest',
      remoteAddress: ATTACKER,
      headers: { 'content-type': 'application/x-protobuf', authorization: `${scheme} push-secret` },
      payload: Buffer.from([1, 2, 3]),
    });
    t.equal(push.statusCode, 200, `push: ${scheme}`);
  }
  const wrong = await bed.admin.inject({ url: '/v1/nodes', remoteAddress: ATTACKER, headers: { authorization: 'bearer ADMIN-SECRET' } });
  t.equal(wrong.statusCode, 401, 'the token itself is case-sensitive');
});
