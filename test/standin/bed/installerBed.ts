// Shared set-up of the stand-in tests: build the stand-in, then a rack namespace holding a DHCP
// server (busybox udhcpd) and installerServer.js (config + events) in place of the agent.
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createRack, type Rack } from '../../bed/netns.js';

const run = promisify(execFile);

export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the test');
    dir = up;
  }
  return dir;
}

export interface StandinImages {
  kernel: string;
  initrd: string;
}

/** Runs test/standin/build.sh into build/standin/ (cached: a no-op when up to date). */
export async function buildStandin(): Promise<StandinImages> {
  const root = repoRoot();
  const out = join(root, 'build', 'standin');
  await run('bash', [join(root, 'test', 'standin', 'build.sh'), out], { maxBuffer: 4 * 1024 * 1024 });
  return { kernel: join(out, 'kernel-amd64'), initrd: join(out, 'initramfs-amd64.xz') };
}

export interface ServerRecord {
  kind: 'listening' | 'request' | 'event';
  method?: string;
  path?: string;
  status?: number;
  contentType?: string;
  body?: { step?: string; [key: string]: unknown };
}

export interface InstallerBed {
  rack: Rack;
  configUrl: string;
  eventsUrl: string;
  assetsUrl: string;
  records: ServerRecord[];
  events(): NonNullable<ServerRecord['body']>[];
  /** Resolves when an event with this step has arrived. */
  waitForEvent(step: string, timeoutMs: number): Promise<void>;
  destroy(): Promise<void>;
}

/** The Talos PXE kernel arguments Talos requires, pointing at this bed, minus any listed in `omit`. */
export function talosCmdline(bed: Pick<InstallerBed, 'configUrl' | 'eventsUrl'>, omit: string[] = []): string {
  const args = [
    'talos.platform=metal',
    'console=tty0',
    'console=ttyS0',
    'consoleblank=0',
    'printk.devkmsg=on',
    'init_on_alloc=1',
    'slab_nomerge',
    'pti=on',
    `talos.config=${bed.configUrl}`,
    `maskin.events=${bed.eventsUrl}`,
  ];
  return args.filter((a) => !omit.includes(a)).join(' ');
}

function serverScript(root: string): string {
  const js = join(root, 'dist', 'test', 'standin', 'bed', 'installerServer.js');
  const ts = join(root, 'test', 'standin', 'bed', 'installerServer.ts');
  if (!existsSync(js) || statSync(js).mtimeMs < statSync(ts).mtimeMs) {
    throw new Error(`${js} is missing or older than its source: run \`npx tsc -p .\` first (npm test does)`);
  }
  return js;
}

export interface InstallerBedOptions {
  /** Rack tag (≤ 8 chars) and third octet, both unique per test file. */
  tag: string;
  octet: number;
  /** Machine config served at /config. */
  config: string;
  /** 404 the first N config requests. */
  failFirst?: number;
  /** Serve the stand-in's own kernel and initramfs at `assetsUrl` (for maskin.diskos). */
  serveAssets?: boolean;
}

export async function startInstallerBed(opts: InstallerBedOptions): Promise<InstallerBed> {
  const root = repoRoot();
  const script = serverScript(root);
  const dir = await mkdtemp(join(tmpdir(), `maskin-${opts.tag}-`));
  const rack = await createRack(opts.tag, opts.octet);
  const prefix = `198.18.${opts.octet}`;
  const records: ServerRecord[] = [];
  const waiters: Array<() => void> = [];
  try {
    await writeFile(join(dir, 'config.yaml'), opts.config);
    await writeFile(
      join(dir, 'udhcpd.conf'),
      [
        `interface ${rack.bridge}`,
        `start ${prefix}.100`,
        `end ${prefix}.150`,
        `lease_file ${join(dir, 'udhcpd.leases')}`,
        `pidfile ${join(dir, 'udhcpd.pid')}`,
        'opt subnet 255.255.255.0',
        'opt lease 600',
        '',
      ].join('\n'),
    );
    await writeFile(join(dir, 'udhcpd.leases'), '');
    // setpriv's parent-death signal: no orphans if the test process dies before its teardown.
    const orphanless = (cmd: string, args: string[]): string[] => ['--pdeathsig', 'KILL', '--', cmd, ...args];
    rack.spawn('setpriv', orphanless('busybox', ['udhcpd', '-f', join(dir, 'udhcpd.conf')]), { stdio: 'ignore' });
    const args = [
      script,
      '--config',
      join(dir, 'config.yaml'),
      '--fail-first',
      String(opts.failFirst ?? 0),
      ...(opts.serveAssets ? ['--assets', join(root, 'build', 'standin')] : []),
    ];
    const server = rack.spawn('setpriv', orphanless('node', args), { stdio: ['ignore', 'pipe', 'inherit'] });
    const listening = new Promise<void>((resolve, reject) => {
      server.once('exit', (code) => reject(new Error(`installerServer exited (${code})`)));
      createInterface({ input: server.stdout! }).on('line', (line) => {
        const record = JSON.parse(line) as ServerRecord;
        records.push(record);
        if (record.kind === 'listening') resolve();
        for (const wake of waiters.splice(0)) wake();
      });
    });
    await listening;
  } catch (err) {
    await rack.destroy();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const events = (): NonNullable<ServerRecord['body']>[] => records.filter((r) => r.kind === 'event' && r.body).map((r) => r.body!);
  return {
    rack,
    configUrl: `http://${rack.address}/config?node=standin`,
    assetsUrl: `http://${rack.address}/assets`,
    eventsUrl: `http://${rack.address}/events`,
    records,
    events,
    waitForEvent(step, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`event ${step} not received within ${timeoutMs} ms`)), timeoutMs);
        const check = (): void => {
          if (events().some((e) => e.step === step)) {
            clearTimeout(timer);
            resolve();
          } else {
            waiters.push(check);
          }
        };
        check();
      });
    },
    async destroy() {
      await rack.destroy();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A Talos-like multi-document machine config; the v1alpha1 document is not the first. */
export const SAMPLE_CONFIG = `apiVersion: v1alpha1
kind: HostnameConfig
hostname: standin-1
---
version: v1alpha1
debug: false
persist: true
machine:
  type: controlplane
  token: standin.0123456789abcdef
  network:
    hostname: ignored
  install:
    image: factory.talos.dev/metal-installer/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba:v1.12.0
    disk: "/dev/vda" # the virtio disk
    wipe: false
cluster:
  clusterName: standin
  controlPlane:
    endpoint: https://198.18.0.10:6443
---
apiVersion: v1alpha1
kind: RegistryMirrorConfig
name: factory.talos.dev
endpoints:
  - url: http://198.18.0.1:5000
`;
