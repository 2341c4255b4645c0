// The DHCP benchmark's readers of perfdhcp's report and of the kernel's UDP counters.
import t from 'tap';
import { parsePerf, udpRcvbufErrors } from '../../bench/dhcp.js';

t.test('udpRcvbufErrors reads the RcvbufErrors column of the Udp lines only', async (t) => {
  const snmp = [
    'Tcp: RtoAlgorithm RtoMin',
    'Tcp: 1 200',
    'Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors',
    'Udp: 95119 305 9995 105689 9994 0 0 0 0',
    'UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors',
    'UdpLite: 0 0 0 0 7 0 0 0 0',
  ].join('\n');
  t.equal(udpRcvbufErrors(snmp), 9994);
  t.equal(udpRcvbufErrors('Ip: Forwarding\nIp: 1\n'), 0, 'no Udp lines');
  t.equal(udpRcvbufErrors('Udp: InDatagrams\nUdp: 5\n'), 0, 'no RcvbufErrors column');
});

t.test('parsePerf sums both exchanges and carries the buffer drops', async (t) => {
  const out = [
    '***Rate statistics***',
    'Rate: 6854.15 4-way exchanges/second, expected rate: 8000',
    '***Statistics for: DISCOVER-OFFER***',
    'sent packets: 24000',
    'received packets: 23990',
    'drops: 10',
    'avg delay: 1.000 ms',
    '***Statistics for: REQUEST-ACK***',
    'sent packets: 23990',
    'received packets: 23980',
    'drops: 10',
    'avg delay: 3.000 ms',
  ].join('\n');
  const run = parsePerf(8000, out, { client: 20, server: 0 });
  t.equal(run.rate, 6854.15);
  t.equal(run.sent, 47990);
  t.equal(run.drops, 20);
  t.equal(run.avgDelayMs, 2);
  t.equal(run.clientBufferDrops, 20);
  t.equal(run.serverBufferDrops, 0);
  t.equal(parsePerf(8000, '').dropRatio, 1, 'no report is all dropped');
});
