// An attacker host floods the real agent's TFTP server with read requests asking for timeout 255
// and never ACKs: the agent stays up, holds at most its bounds, ignores the timeout, counts every
// refusal, and a real tftp-hpa client on a legitimate host then fetches its boot file. Then the
// same with the agent's descriptors almost used up (prlimit on the running process): transfers
// that find no socket are refused and counted, and the server recovers once they free.
// Rack 198.18.169.0/24, namespaces maskin-tfflood*. Needs `npx tsc -p .` first (npm test does it).
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { repoRoot, startAgentInRack } from '../bed/agent.js';
import { createRack, sh, type Rack } from '../bed/netns.js';
import type { FloodSummary } from './bed/tftpFlood.js';

const FILE = 'snponly.efi';
const floodEntry = path.join(repoRoot, 'dist/test/security/bed/tftpFlood.js');
const MAX_TRANSFERS = 32;
const PER_CLIENT = 8;

/** Runs the flooder in `ns` until it reports (every started transfer ended, or its deadline). */
function flood(rack: Rack, ns: string, sources: readonly string[], perSource: number): Promise<FloodSummary> {
  const spec = { server: rack.address, port: 69, file: FILE, sources, perSource, deadlineMs: 30_000 };
  const child = rack.spawn(process.execPath, [floodEntry, JSON.stringify(spec)], { ns });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || line === undefined) reject(new Error(`flooder exited ${code}: ${out}`));
      else resolve(JSON.parse(line) as FloodSummary);
    });
  });
}

/** Sum of a metric's samples whose labels include `labels`, from the agent's /metrics text. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let found: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) found = (found ?? 0) + Number(m[3]);
  }
  return found;
}

t.test('a TFTP flood (timeout 255, never ACKed) is bounded and counted; a real client still boots', async (t) => {
  t.ok(existsSync(floodEntry), `${floodEntry} is built (run npx tsc -p . first)`);
  const work = await mkdtemp(path.join(os.tmpdir(), 'maskin-tfflood-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const rack = await createRack('tfflood', 169);
  t.teardown(() => rack.destroy());
  const attacker = await rack.addHost('atk', { address: '198.18.169.50/24' });
  const sources = ['198.18.169.50', '198.18.169.51', '198.18.169.52', '198.18.169.53', '198.18.169.54', '198.18.169.55'];
  for (const extra of sources.slice(1)) await rack.exec('ip', ['addr', 'add', `${extra}/24`, 'dev', 'eth0'], attacker);
  const legit = await rack.addHost('legit', { address: '198.18.169.20/24' });
  const agent = await startAgentInRack(rack, {
    manifest: 'version: 1\nprofiles: {}\nnodes: []\n',
    assetsDir: work,
    extraConfig: `bootBinariesDir: /usr/lib/ipxe\ntftp: { maxTransfers: ${MAX_TRANSFERS}, maxTransfersPerClient: ${PER_CLIENT} }\n`,
  });
  t.teardown(() => agent.stop());
  const metrics = (): Promise<string> => rack.exec('curl', ['-sS', '--max-time', '5', '-f', 'http://127.0.0.1:9180/metrics']);
  const expected = await readFile(path.join('/usr/lib/ipxe', FILE));

  // Six source addresses, 200 requests each, one after another.
  const first = await flood(rack, attacker, sources, 200);
  t.equal(first.timedOut, false, 'every started transfer ended before the flooder gave up');
  t.equal(first.sent, 1200);
  t.equal(first.started, MAX_TRANSFERS, 'the server-wide bound held');
  t.equal(first.timeoutGranted, 0, 'timeout 255 was ignored, never granted');
  t.ok(first.longestMs < 15_000, `a started transfer gave up after ${first.longestMs} ms, not 5 x 255 s`);
  t.same(first.ended, { 'timed out': MAX_TRANSFERS }, 'each started transfer ended with its own ERROR');
  const clientRefusals = first.refused['too many transfers from this address'] ?? 0;
  t.equal(clientRefusals, 4 * (200 - PER_CLIENT), 'the first four addresses: all but their share told so');
  t.equal(first.silent, 2 * 200, 'the last two found the server full and were dropped unanswered');

  t.equal(agent.process.exitCode, null, 'the agent is up', { log: agent.output().slice(-3000) });
  const after = await metrics();
  t.equal(sample(after, 'maskin_tftp_refused_total', { reason: 'client-limit' }), clientRefusals, 'client-limit refusals counted');
  const kernelDrops = sample(after, 'maskin_udp_receive_drops_total', { service: 'tftp' });
  t.ok(kernelDrops !== undefined, `the TFTP listener's kernel drops are exported (${kernelDrops})`);
  t.equal((sample(after, 'maskin_tftp_refused_total', { reason: 'server-limit' }) ?? 0) + (kernelDrops ?? 0), first.silent, 'every unanswered one counted');
  t.equal(sample(after, 'maskin_tftp_active_transfers'), 0, 'nothing left running');

  const fetch = async (n: number): Promise<Buffer> => {
    const local = path.join(work, `legit-${n}-${FILE}`);
    await rack.exec('tftp', ['-m', 'binary', rack.address, '-c', 'get', FILE, local], legit);
    return readFile(local).catch(() => Buffer.alloc(0));
  };
  t.ok((await fetch(1)).equals(expected), 'tftp-hpa from a legitimate host fetches snponly.efi byte-identical');

  // The agent's descriptors nearly used up: room for a dozen sockets more than it holds now.
  const pid = agent.process.pid ?? 0;
  t.match(await readlink(`/proc/${pid}/exe`), /node/, 'the agent process itself');
  const limit = (await readdir(`/proc/${pid}/fd`)).length + 12;
  await sh('prlimit', ['--pid', String(pid), `--nofile=${limit}:${limit}`]);
  const second = await flood(rack, attacker, sources.slice(0, 3), 10);
  t.equal(second.timedOut, false);
  t.ok(second.started > 0 && second.started < 3 * PER_CLIENT, `only ${second.started} transfers found a socket (${3 * PER_CLIENT} slots)`);
  t.equal(agent.process.exitCode, null, 'the agent is up', { log: agent.output().slice(-3000) });
  const exhausted = await metrics();
  const noSocket = sample(exhausted, 'maskin_tftp_refused_total', { reason: 'no-socket' }) ?? 0;
  const moreDrops = (sample(exhausted, 'maskin_udp_receive_drops_total', { service: 'tftp' }) ?? 0) - (kernelDrops ?? 0);
  // A request refused for want of a socket hands its slot back at once, so how many were admitted
  // depends on timing; what holds is that every unanswered one is counted.
  t.ok(noSocket > 0, `${noSocket} refused for want of a socket`);
  t.equal(second.silent, noSocket + moreDrops, `each request without a socket refused and counted: ${JSON.stringify(second)}`);
  t.equal(second.started + second.silent + Object.values(second.refused).reduce((a, b) => a + b, 0), second.sent, 'every request accounted for');
  t.ok((await fetch(2)).equals(expected), 'once the flood ended, sockets are free again and a real client fetches its file');
  const refusalLogs = agent
    .output()
    .split('\n')
    .filter((l) => l.includes('tftp request refused')).length;
  t.ok(refusalLogs <= 6, `refusals logged at most once per 10 s per reason (${refusalLogs} lines for ${clientRefusals + first.silent + noSocket})`);
  t.notMatch(agent.output(), /uncaught|unhandled|"level":(60|"fatal")/i, 'nothing fatal in the log');
});
