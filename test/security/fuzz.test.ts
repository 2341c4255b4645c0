// Bounded fuzz in CI: 30,000 mutated and random DHCP and 10,000 TFTP datagrams from an attacker
// host against the running agent, 4,000 a second (about 10 s). `npm run fuzz` runs the long campaign.
import t from 'tap';
import { bootFileSize, fuzzAgent } from './bed/fuzzBed.js';

t.test('DHCP and TFTP fuzz: the agent stays up, counts the garbage, and still serves real clients', async (t) => {
  const cleanups: (() => Promise<void>)[] = [];
  t.teardown(async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  });
  const seed = Number(process.env.MASKIN_FUZZ_SEED ?? Date.now() % 100_000);
  t.comment(`seed ${seed} (replay with MASKIN_FUZZ_SEED=${seed})`);
  const f = await fuzzAgent({ tag: 'fuzz', octet: 202, dhcp: 30_000, tftp: 10_000, seed, maxMs: 40_000, perSecond: 4000 }, (fn) => cleanups.push(fn));
  t.comment(JSON.stringify(f));
  t.equal(f.sent.dhcp + f.sent.tftp, 40_000, 'every datagram was sent');
  t.ok(f.alive, 'the agent is still running');
  t.ok(f.healthzMs < 2000, `/healthz answered in ${f.healthzMs} ms`);
  t.ok(f.dhcpMalformed > 0, `malformed DHCP counted (${f.dhcpMalformed})`);
  t.ok(f.tftpDropped > 0, `bad TFTP counted (${f.tftpDropped})`);
  t.ok(f.rssAfterMb - f.rssBeforeMb < 150, `RSS ${f.rssBeforeMb.toFixed(0)} → ${f.rssAfterMb.toFixed(0)} MB`);
  t.match(f.dhclientBound ?? '', /^bound to 198\.18\.202\.20$/, 'a real dhclient for a manifest node gets its address');
  t.equal(f.tftpBytes, await bootFileSize(), 'a real tftp-hpa client fetches undionly.kpxe whole');
});
