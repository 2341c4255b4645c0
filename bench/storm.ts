// Boot storm: N simulated nodes (bench/stormClient.ts) power on within one second and each runs
// the whole netboot chain from its own leased address, against the agent and against an anchor
// stack of dnsmasq (DHCP + TFTP) and nginx serving the same files, in the same run.
//   node dist/bench/storm.js [N ...]        (default 50 200 500)
// Reports time until all are installed, per-node p50/p99, failures, server CPU and peak RSS.
// Addresses: 198.19.0.0/16 on the bench rack's bridge (inside 198.18.0.0/15), so 500+ leases fit.
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { createRack, sh, type Rack } from '../test/bed/netns.js';
import { VANILLA_SCHEMATIC } from '../test/fakes/manifest.js';
import type { NodeRun, StormClientInput, StormClientResult } from './stormClient.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const CLI = path.join(REPO, 'dist', 'agent', 'cli.js');
const CLIENT = path.join(HERE, 'stormClient.js');
const STANDIN = path.join(REPO, 'build', 'standin');
const SCHEMATIC = VANILLA_SCHEMATIC;
const TALOS = 'v1.13.9';
const SERVER = '198.19.0.1';
const CLIENT_ADDRESS = '198.19.0.2';
const POOL = ['198.19.1.0', '198.19.4.255'] as const;
const SPREAD_MS = 1000;
const DEADLINE_MS = 600_000;
const CLK_TCK = 100;

export type Stack = 'agent' | 'dnsmasq+nginx';
export interface StormRun {
  readonly stack: Stack;
  readonly nodes: number;
  /** Storm start to the last node's install-complete answered, s. */
  readonly allInstalledS: number;
  readonly p50S: number;
  readonly p99S: number;
  /** Nodes that did not finish (client side), plus, for the agent, nodes it does not record installed. */
  readonly failures: number;
  readonly firstErrors: string[];
  /** Server user+system CPU during the storm, s (the anchor: dnsmasq + nginx master and workers). */
  readonly cpuS: number;
  /** The storm client's own CPU, s (it runs on the same two cores). */
  readonly clientCpuS: number;
  /** Peak resident set (VmHWM), MB; the anchor's is the sum over its processes. */
  readonly peakRssMb: number;
  readonly phaseP50Ms: Record<string, number>;
  readonly retries: { dhcp: number; naks: number; tftp: number; http: number };
  /** Bytes each node downloaded (boot file, kernel, initramfs). */
  readonly bytesPerNode: number;
  /** The agent's DHCP and UDP counters after the storm (received, answered, dropped and why). */
  readonly counters?: string[];
}

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
const round = (n: number, d = 2): number => Math.round(n * 10 ** d) / 10 ** d;

function macOf(i: number): string {
  return `02:5a:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}:01`;
}
function uuidOf(i: number): string {
  return `5a5a5a5a-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

/** The processes of a stack: the given PIDs and their children (nginx workers). */
async function pidsOf(roots: readonly number[]): Promise<number[]> {
  const out: number[] = [];
  for (const pid of roots) {
    out.push(pid);
    for (const task of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
      const children = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '');
      for (const c of children.split(' ').filter(Boolean)) out.push(Number(c));
    }
  }
  return out;
}
async function cpuTicks(pids: readonly number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // Fields after the parenthesised command: utime and stime are fields 14 and 15 (proc(5)).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks;
}
async function peakRssMb(pids: readonly number[]): Promise<number> {
  let kb = 0;
  for (const pid of pids) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    kb += Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
  }
  return kb / 1024;
}

function manifest(n: number, machineConfig: string): string {
  const nodes = Array.from(
    { length: n },
    (_, i) => `  - { id: storm-${i}, macs: ["${macOf(i)}"], profile: standin, hostname: storm-${i}, generation: 1, bootLocal: exit }`,
  );
  return `version: 1
profiles:
  standin:
    talosVersion: ${TALOS}
    schematic: ${SCHEMATIC}
    arch: amd64
    install: { disk: /dev/vda }
    machineConfigFile: ${machineConfig}
nodes:
${nodes.join('\n')}
`;
}

async function waitFor(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > until) throw new Error(`${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The child's last 20 kB of output, plus every line matching `keep` (at most 20). */
function collect(child: ChildProcess, keep?: RegExp): { tail(): string; kept: string[] } {
  let out = '';
  const kept: string[] = [];
  const on = (b: Buffer): void => {
    const text = b.toString();
    out = (out + text).slice(-20_000);
    if (keep) for (const line of text.split('\n')) if (keep.test(line) && kept.length < 20) kept.push(line.trim());
  };
  child.stdout?.on('data', on);
  child.stderr?.on('data', on);
  return { tail: () => out, kept };
}

/** Starts the agent as an operator would (the CLI), with the stand-in as the profile's images. */
async function startAgent(
  rack: Rack,
  dir: string,
  n: number,
): Promise<{ pids: number[]; installed(): Promise<number>; counters(): Promise<string[]>; output(): string }> {
  const assets = path.join(dir, 'assets', SCHEMATIC, TALOS);
  await mkdir(assets, { recursive: true });
  for (const f of ['kernel-amd64', 'initramfs-amd64.xz']) await copyFile(path.join(STANDIN, f), path.join(assets, f));
  await writeFile(path.join(dir, 'manifest.yaml'), manifest(n, path.join(REPO, 'config', 'examples', 'worker.machineconfig.yaml')));
  await writeFile(
    path.join(dir, 'agent.yaml'),
    `agentId: storm-bench
provisioning: { interface: ${rack.bridge}, address: ${SERVER}, subnet: 198.19.0.0/16 }
dataDir: ${path.join(dir, 'data')}
assetsDir: ${path.join(dir, 'assets')}
manifestFile: ${path.join(dir, 'manifest.yaml')}
dhcp:
  mode: full
  pool: { start: ${POOL[0]}, end: ${POOL[1]} }
  leaseTime: 3600
  routers: [${SERVER}]
  dns: [${SERVER}]
  ntp: [${SERVER}]
  domain: storm.test
routerAdvertisements: { mode: off }
logLevel: warn
`,
  );
  const child = rack.spawn(process.execPath, [CLI, 'run', '--config', path.join(dir, 'agent.yaml')]);
  const { tail: output } = collect(child);
  const curl = (url: string): Promise<string> => rack.exec('curl', ['-sf', '--max-time', '5', url]);
  await waitFor('agent /healthz', 30_000, async () => {
    if (child.exitCode !== null) throw new Error(`agent exited:\n${output()}`);
    return (await curl('http://127.0.0.1/healthz')).length > 0;
  });
  // The profile's images verified in the cache: the storm then measures serving, not caching.
  await waitFor('images cached', 120_000, async () => (await curl(`http://${SERVER}/assets/${SCHEMATIC}/${TALOS}/initramfs-amd64.xz`)).length > 0);
  return {
    pids: [child.pid ?? -1],
    output,
    async installed() {
      const { nodes } = JSON.parse(await curl('http://127.0.0.1:9180/v1/nodes')) as { nodes: Array<{ state: string }> };
      return nodes.filter((x) => x.state === 'installed').length;
    },
    async counters() {
      const text = await curl('http://127.0.0.1:9180/metrics');
      return text.split('\n').filter((l) => /^maskin_(dhcp_(packets|replies|dropped)_total|udp_receive_drops_total)/.test(l));
    },
  };
}

/** The anchor: dnsmasq for DHCP (iPXE chainloading by user class) and TFTP, nginx for HTTP. */
async function startAnchor(
  rack: Rack,
  dir: string,
): Promise<{ pids: number[]; installed?: undefined; counters?: undefined; naks: string[]; output(): string }> {
  const www = path.join(dir, 'www');
  const tftp = path.join(dir, 'tftp');
  await mkdir(www, { recursive: true });
  await mkdir(tftp, { recursive: true });
  await mkdir(path.join(dir, 'nginx-tmp'), { recursive: true });
  await copyFile('/usr/lib/ipxe/undionly.kpxe', path.join(tftp, 'undionly.kpxe'));
  for (const f of ['kernel-amd64', 'initramfs-amd64.xz']) await copyFile(path.join(STANDIN, f), path.join(www, f));
  await copyFile(path.join(REPO, 'config', 'examples', 'worker.machineconfig.yaml'), path.join(www, 'config'));
  const base = `http://${SERVER}`;
  await writeFile(path.join(www, 'boot.ipxe'), `#!ipxe\nimgfetch --name maskin ${base}/ipxe?mac=\${netX/mac:hexhyp}&uuid=\${uuid} && imgexec maskin\n`);
  await writeFile(
    path.join(www, 'ipxe'),
    `#!ipxe\nkernel ${base}/kernel-amd64 talos.platform=metal console=ttyS0 talos.config=${base}/config maskin.events=${base}/events\ninitrd ${base}/initramfs-amd64.xz\nboot\n`,
  );
  await writeFile(
    path.join(dir, 'dnsmasq.conf'),
    [
      'port=0',
      `interface=${rack.bridge}`,
      'bind-interfaces',
      'user=root',
      `dhcp-range=${POOL[0]},${POOL[1]},255.255.0.0,1h`,
      'dhcp-lease-max=4096',
      // No ICMP probe before an offer: the agent makes none either.
      'no-ping',
      'dhcp-userclass=set:ipxe,iPXE',
      `dhcp-boot=tag:!ipxe,undionly.kpxe,,${SERVER}`,
      `dhcp-boot=tag:ipxe,${base}/boot.ipxe`,
      `dhcp-option=option:router,${SERVER}`,
      `dhcp-option=option:ntp-server,${SERVER}`,
      `dhcp-leasefile=${path.join(dir, 'dnsmasq.leases')}`,
      'enable-tftp',
      `tftp-root=${tftp}`,
      // The agent's TFTP default (tftp.maxTransfers); dnsmasq's own default is 50.
      'tftp-max=256',
      'log-facility=-',
      '',
    ].join('\n'),
  );
  await writeFile(
    path.join(dir, 'nginx.conf'),
    `user root;
daemon off;
worker_processes 2;
pid ${path.join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  default_type application/octet-stream;
  client_body_temp_path ${path.join(dir, 'nginx-tmp')};
  server {
    listen ${SERVER}:80;
    root ${www};
    location = /events { return 204; }
  }
}
`,
  );
  const dnsmasq = rack.spawn('dnsmasq', ['-k', `--conf-file=${path.join(dir, 'dnsmasq.conf')}`]);
  const nginx = rack.spawn('nginx', ['-c', path.join(dir, 'nginx.conf'), '-p', dir]);
  const outD = collect(dnsmasq, /DHCPNAK/);
  const outN = collect(nginx);
  const output = (): string => `${outD.tail()}\n${outN.tail()}`;
  await waitFor('nginx', 15_000, async () => {
    if (nginx.exitCode !== null || dnsmasq.exitCode !== null) throw new Error(`anchor exited:\n${output()}`);
    return (await rack.exec('curl', ['-sf', '--max-time', '5', `${base}/boot.ipxe`])).length > 0;
  });
  // dnsmasq is listening once its UDP 67 socket is in the namespace's table.
  await waitFor('dnsmasq', 15_000, async () => /:0043 /.test(await rack.exec('cat', ['/proc/net/udp'])));
  return { pids: [dnsmasq.pid ?? -1, nginx.pid ?? -1], output, naks: outD.kept };
}

async function runStorm(stack: Stack, n: number): Promise<StormRun> {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-bench-storm-'));
  const rack = await createRack('storm', 80);
  try {
    await sh('ip', ['-n', rack.ns, 'addr', 'add', `${SERVER}/16`, 'dev', rack.bridge]);
    const host = await rack.addHost('c', { address: `${CLIENT_ADDRESS}/16` });
    // Broadcasts to 255.255.255.255 leave by the route to it.
    await sh('ip', ['-n', host, 'route', 'add', 'default', 'dev', 'eth0']);
    const server = stack === 'agent' ? await startAgent(rack, dir, n) : await startAnchor(rack, dir);
    const pids = await pidsOf(server.pids);
    const cpuBefore = await cpuTicks(pids);
    const input: StormClientInput = {
      nodes: Array.from({ length: n }, (_, i) => ({ mac: macOf(i), uuid: uuidOf(i) })),
      device: 'eth0',
      prefix: 16,
      spreadMs: SPREAD_MS,
      deadlineMs: DEADLINE_MS,
    };
    const out = await rack.exec(process.execPath, [CLIENT, JSON.stringify(input)], host);
    const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as StormClientResult;
    const cpuS = ((await cpuTicks(pids)) - cpuBefore) / CLK_TCK;
    const rss = await peakRssMb(pids);
    const ok = result.nodes.filter((x) => x.ok);
    const totals = ok.map((x) => x.totalMs / 1000).sort((a, b) => a - b);
    let failures = n - ok.length;
    const firstErrors = [...new Set(result.nodes.filter((x) => !x.ok).map((x) => x.error ?? '?'))].slice(0, 5);
    if (server.installed) {
      const installed = await server.installed();
      if (installed < ok.length) {
        failures += ok.length - installed;
        firstErrors.push(`the agent records ${installed} of ${ok.length} finished nodes installed`);
      }
    }
    if (failures > 0 && !server.installed) {
      const naks = server
        .output()
        .split('\n')
        .filter((l) => /DHCPNAK/.test(l));
      if (naks.length > 0) firstErrors.push(`dnsmasq sent ${naks.length} NAKs, e.g. ${naks[0]!.trim()}`);
    }
    const counters = await server.counters?.();
    const phases = ['dhcp', 'tftp', 'ipxeDhcp', 'scripts', 'images', 'install'] as const;
    const phaseP50Ms = Object.fromEntries(
      phases.map((p) => [
        p,
        quantile(
          ok.map((x: NodeRun) => x.phaseMs[p] ?? 0).sort((a, b) => a - b),
          0.5,
        ),
      ]),
    );
    return {
      stack,
      nodes: n,
      allInstalledS: round(Math.max(0, ...ok.map((x) => x.totalMs)) / 1000 + SPREAD_MS / 1000),
      p50S: round(quantile(totals, 0.5)),
      p99S: round(quantile(totals, 0.99)),
      failures,
      firstErrors,
      cpuS: round(cpuS),
      clientCpuS: round(result.clientCpuS),
      peakRssMb: round(rss, 1),
      phaseP50Ms,
      retries: { dhcp: result.dhcpRetransmits, naks: result.dhcpNaks, tftp: result.tftpRetries, http: result.httpRetries },
      bytesPerNode: ok[0]?.bytes ?? 0,
      ...(counters ? { counters } : {}),
    };
  } finally {
    await rack.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

function table(runs: readonly StormRun[]): string {
  const rows = [['nodes', 'stack', 'all installed s', 'p50 s', 'p99 s', 'failures', 'CPU s', 'peak RSS MB', 'client CPU s', 'retries dhcp/nak/tftp/http']];
  for (const r of runs) {
    rows.push([
      String(r.nodes),
      r.stack,
      r.allInstalledS.toFixed(2),
      r.p50S.toFixed(2),
      r.p99S.toFixed(2),
      String(r.failures),
      r.cpuS.toFixed(2),
      r.peakRssMb.toFixed(1),
      r.clientCpuS.toFixed(2),
      `${r.retries.dhcp}/${r.retries.naks}/${r.retries.tftp}/${r.retries.http}`,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const sizes = process.argv
    .slice(2)
    .map(Number)
    .filter((x) => x > 0);
  const runs: StormRun[] = [];
  for (const [i, n] of (sizes.length ? sizes : [50, 200, 500]).entries()) {
    // Alternate which stack goes first, so neither always meets the warmer machine.
    const order: Stack[] = i % 2 === 0 ? ['agent', 'dnsmasq+nginx'] : ['dnsmasq+nginx', 'agent'];
    for (const stack of order) {
      const r = await runStorm(stack, n);
      runs.push(r);
      process.stdout.write(`${JSON.stringify(r)}\n`);
    }
  }
  process.stdout.write(`\n${table(runs)}\n`);
  const failed = runs.filter((r) => r.failures > 0);
  if (failed.length > 0) {
    process.stdout.write(`\nFAILURES in ${failed.map((r) => `${r.stack} × ${r.nodes}`).join(', ')}\n`);
    process.exitCode = 1;
  }
}
