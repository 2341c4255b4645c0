// A fuzz campaign against the real agent process: an attacker host in its own namespace sends
// mutated and random DHCP and TFTP datagrams (bed/fuzzer.ts); afterwards the agent must be up,
// answer /healthz, have counted the garbage, hold its memory, and still serve a real dhclient and a
// real tftp-hpa client. Used by test/security/fuzz.test.ts (bounded, CI) and fuzzCampaign.ts.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot, startAgentInRack } from '../../bed/agent.js';
import { createRack, type Rack } from '../../bed/netns.js';
import { manifestFor } from '../../e2e/scenario.js';

export interface FuzzOptions {
  readonly tag: string;
  readonly octet: number;
  readonly dhcp: number;
  readonly tftp: number;
  readonly seed: number;
  readonly maxMs: number;
  /** Datagrams per second the attacker sends. */
  readonly perSecond: number;
}

export interface FuzzFigures {
  readonly sent: { readonly dhcp: number; readonly tftp: number; readonly ms: number };
  readonly rssBeforeMb: number;
  readonly rssAfterMb: number;
  readonly alive: boolean;
  readonly healthzMs: number;
  readonly dhcpMalformed: number;
  readonly dhcpDropped: number;
  readonly tftpDropped: number;
  readonly dhclientBound: string | undefined;
  readonly tftpBytes: number | undefined;
}

const FUZZER = path.join(repoRoot, 'dist/test/security/bed/fuzzer.js');
const BOOT_FILE = '/usr/lib/ipxe/undionly.kpxe';

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/** Sum of a Prometheus counter's samples whose labels match `labels` (a substring of the label set). */
function counterSum(metrics: string, name: string, labels = ''): number {
  let sum = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const m = /^(\w+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? '').includes(labels)) sum += Number(m[3]);
  }
  return sum;
}

function waitFor(child: ReturnType<Rack['spawn']>, pattern: RegExp, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let seen = '';
    const timer = setTimeout(() => resolve(undefined), ms);
    const on = (chunk: Buffer): void => {
      seen += chunk.toString();
      const m = pattern.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(pattern.exec(seen)?.[0]);
    });
  });
}

export async function fuzzAgent(opts: FuzzOptions, onCleanup: (fn: () => Promise<void>) => void): Promise<FuzzFigures> {
  const rack = await createRack(opts.tag, opts.octet);
  onCleanup(() => rack.destroy());
  const dir = await mkdtemp(path.join(tmpdir(), `maskin-${opts.tag}-`));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  const prefix = rack.address.split('.').slice(0, 3).join('.');
  const mac = `52:54:00:${opts.octet.toString(16).padStart(2, '0')}:00:01`;
  // The legitimate node has a fixed address: the campaign's random MACs may take the whole pool.
  const manifest = manifestFor([{ id: `${opts.tag}-n1`, mac }]).replace(`id: ${opts.tag}-n1,`, `id: ${opts.tag}-n1, ipv4: ${prefix}.20,`);
  const agent = await startAgentInRack(rack, { manifest, assetsDir: dir, logLevel: 'warn' });
  onCleanup(() => agent.stop());
  const pid = agent.process.pid!;
  const rssBeforeMb = await rssMb(pid);

  const attacker = await rack.addHost('atk', { address: `${prefix}.66/24` });
  const fuzzer = rack.spawn(
    process.execPath,
    [FUZZER, rack.address, String(opts.dhcp), String(opts.tftp), String(opts.seed), String(opts.maxMs), String(opts.perSecond)],
    {
      ns: attacker,
    },
  );
  let out = '';
  fuzzer.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await once(fuzzer, 'exit');
  const sent = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as FuzzFigures['sent'];

  const alive = agent.process.exitCode === null && agent.process.signalCode === null;
  const t0 = Date.now();
  await rack.exec('curl', ['-sS', '-f', '--max-time', '5', 'http://127.0.0.1/healthz']);
  const healthzMs = Date.now() - t0;
  const metrics = await rack.exec('curl', ['-sS', '-f', '--max-time', '5', 'http://127.0.0.1:9180/metrics']);
  const rssAfterMb = await rssMb(pid);

  const good = await rack.addHost('good', { mac });
  const dhclient = rack.spawn(
    'dhclient',
    ['-4', '-d', '-1', '-lf', path.join(dir, 'dhclient.leases'), '-pf', path.join(dir, 'dhclient.pid'), '-sf', '/bin/true', 'eth0'],
    { ns: good },
  );
  const dhclientBound = await waitFor(dhclient, /bound to [0-9.]+/, 30_000);
  dhclient.kill('SIGTERM');
  // Without the lease's address configured, tftp-hpa still reaches the agent from the attacker host.
  const local = path.join(dir, 'undionly.kpxe');
  const tftp = spawn('ip', ['netns', 'exec', attacker, 'tftp', '-m', 'binary', rack.address, '-c', 'get', 'undionly.kpxe', local], { stdio: 'ignore' });
  await once(tftp, 'exit');
  const tftpBytes = await stat(local).then(
    (s) => s.size,
    () => undefined,
  );
  await writeFile(path.join(dir, 'figures.json'), out);
  return {
    sent,
    rssBeforeMb,
    rssAfterMb,
    alive,
    healthzMs,
    dhcpMalformed: counterSum(metrics, 'maskin_dhcp_dropped_total', 'reason="malformed"'),
    dhcpDropped: counterSum(metrics, 'maskin_dhcp_dropped_total'),
    tftpDropped: counterSum(metrics, 'maskin_tftp_dropped_total'),
    dhclientBound,
    tftpBytes,
  };
}

export const bootFileSize = async (): Promise<number> => (await stat(BOOT_FILE)).size;
