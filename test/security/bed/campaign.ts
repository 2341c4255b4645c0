// The long fuzz campaign (`npm run fuzz`, not CI): 1,000,000 DHCP and 100,000 TFTP datagrams,
// mutated and random, from an attacker host against the running agent; prints the figures.
//   node dist/test/security/bed/campaign.js [DHCP_COUNT] [TFTP_COUNT] [SEED] [PER_SECOND]
import { bootFileSize, fuzzAgent } from './fuzzBed.js';

const [dhcpArg, tftpArg, seedArg, rateArg] = process.argv.slice(2);
const dhcp = Number(dhcpArg ?? 1_000_000);
const tftp = Number(tftpArg ?? 100_000);
const seed = Number(seedArg ?? Date.now() % 100_000);
const perSecond = Number(rateArg ?? 5000);
const cleanups: (() => Promise<void>)[] = [];
process.stdout.write(`fuzz campaign: ${dhcp} DHCP + ${tftp} TFTP datagrams at ${perSecond}/s, seed ${seed}\n`);
try {
  const f = await fuzzAgent({ tag: 'fuzzcmp', octet: 203, dhcp, tftp, seed, perSecond, maxMs: ((dhcp + tftp) / perSecond) * 1000 * 2 + 60_000 }, (fn) =>
    cleanups.push(fn),
  );
  const ok = f.alive && f.dhclientBound !== undefined && f.tftpBytes === (await bootFileSize());
  process.stdout.write(
    [
      `sent: ${f.sent.dhcp} DHCP, ${f.sent.tftp} TFTP in ${(f.sent.ms / 1000).toFixed(1)} s`,
      `agent alive: ${f.alive}; /healthz after: ${f.healthzMs} ms`,
      `counted: DHCP dropped ${f.dhcpDropped} (malformed ${f.dhcpMalformed}), TFTP dropped ${f.tftpDropped}`,
      `RSS: ${f.rssBeforeMb.toFixed(0)} MB before, ${f.rssAfterMb.toFixed(0)} MB after`,
      `after: dhclient ${f.dhclientBound ?? 'got NO lease'}; tftp-hpa ${f.tftpBytes ?? 'FAILED'} bytes`,
      ok ? 'PASS' : 'FAIL',
      '',
    ].join('\n'),
  );
  process.exitCode = ok ? 0 : 1;
} finally {
  for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
}
