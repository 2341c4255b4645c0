// SNTP request and reply (RFC 4330): the request a server answers, replies matched to it, the offset.
import t from 'tap';
import { clockOffsetSeconds, decodeSntpReply, encodeSntpRequest } from '../../agent/net/sntp.js';

const NOW = Date.UTC(2026, 11, 2, 12, 0, 0, 250);

/** A server's answer to `request`, as RFC 4330 §5 has it: originate = the request's transmit. */
function reply(request: Buffer, opts: { leap?: number; stratum?: number; receiveMs: number; transmitMs: number }): Buffer {
  const buf = encodeSntpRequest(opts.transmitMs);
  buf[0] = ((opts.leap ?? 0) << 6) | (4 << 3) | 4;
  buf[1] = opts.stratum ?? 10;
  request.copy(buf, 24, 40, 48);
  encodeSntpRequest(opts.receiveMs).copy(buf, 32, 40, 48);
  return buf;
}

t.test('the request is 48 bytes, LI 0, version 4, mode 3, with the send time as transmit timestamp', async (t) => {
  const req = encodeSntpRequest(NOW);
  t.equal(req.length, 48);
  t.equal(req[0], 0b00_100_011);
  t.ok(
    req.subarray(1, 40).every((b) => b === 0),
    'everything else zero',
  );
  // 2026-12-02T12:00:00Z in NTP seconds (from 1900), fraction 0.25.
  t.equal(req.readUInt32BE(40), NOW / 1000 - 0.25 + 2_208_988_800);
  t.equal(req.readUInt32BE(44), 2 ** 30);
});

t.test('a reply decodes to its fields and times; offset is ((T2 - T1) + (T3 - T4)) / 2', async (t) => {
  const req = encodeSntpRequest(NOW);
  const r = decodeSntpReply(reply(req, { receiveMs: NOW + 1010, transmitMs: NOW + 1012, stratum: 3 }), req);
  t.ok(r);
  t.same([r!.leap, r!.version, r!.stratum], [0, 4, 3]);
  t.ok(Math.abs(r!.receiveMs - (NOW + 1010)) < 0.001);
  // Sent at NOW, received 4 ms later: the server is ~1.009 s ahead.
  t.ok(Math.abs(clockOffsetSeconds(r!, NOW, NOW + 4) - 1.009) < 1e-6);
});

t.test('what is not the answer to this request is no reply', async (t) => {
  const req = encodeSntpRequest(NOW);
  const good = reply(req, { receiveMs: NOW, transmitMs: NOW });
  t.equal(decodeSntpReply(good.subarray(0, 47), req), undefined, 'short');
  const client = Buffer.from(good);
  client[0] = (4 << 3) | 3;
  t.equal(decodeSntpReply(client, req), undefined, 'mode 3, not a server reply');
  t.equal(decodeSntpReply(good, encodeSntpRequest(NOW + 1)), undefined, "originate is another request's transmit timestamp");
  t.equal(decodeSntpReply(reply(req, { leap: 3, stratum: 0, receiveMs: NOW, transmitMs: NOW }), req)?.leap, 3, 'unsynchronised still decodes');
});

t.test('timestamps after 2036 (era 1) come out after 2036', async (t) => {
  const later = Date.UTC(2040, 0, 1);
  const req = encodeSntpRequest(later);
  t.equal(decodeSntpReply(reply(req, { receiveMs: later, transmitMs: later }), req)?.transmitMs, later);
});
