// The pre-flight's DNS question and the reply header (RFC 1035 §4.1).
import t from 'tap';
import { decodeDnsReplyHeader, encodeRootNsQuery } from '../../agent/net/dnsQuery.js';

t.test('`. NS` query: id, RD, one question, root name, type NS, class IN', async (t) => {
  t.same([...encodeRootNsQuery(0xbeef)], [0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);
});

t.test('reply header: only a response (QR) with our id counts', async (t) => {
  const answer = Buffer.from(encodeRootNsQuery(7));
  answer.writeUInt16BE(0x8180 | 2, 2); // QR RD RA, SERVFAIL
  answer.writeUInt16BE(13, 6);
  t.same(decodeDnsReplyHeader(answer, 7), { id: 7, rcode: 2, answers: 13 });
  t.equal(decodeDnsReplyHeader(answer, 8), undefined, 'another id');
  t.equal(decodeDnsReplyHeader(encodeRootNsQuery(7), 7), undefined, 'a query, not a response');
  t.equal(decodeDnsReplyHeader(answer.subarray(0, 11), 7), undefined, 'short');
});
