// Signed-manifest benchmark: a 10,000-node manifest, decode + verify (Ed25519 over the
// payload, protobuf decode, rawFromProto, buildManifest with the Talos base-config check warm),
// its time and the RSS it adds while the model is held. Targets: < 300 ms, RSS growth < 50 MB.
//   node dist/bench/manifest.js   (measures in a child started with --expose-gc)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { create } from '@bufbuild/protobuf';
import {
  generateKeyPair,
  loadPrivateKey,
  loadPublicKey,
  signManifest,
  verifySignedManifest,
  type VerifiedManifest,
  type VerifyPolicy,
} from '../agent/manifest/signature.js';
import { talosChecks } from '../agent/talos/checks.js';
import { Arch, BootLocal, DesiredState, ManifestSchema, type Manifest as PbManifest } from '../agent/uplink/gen/maskin/v1/manifest_pb.js';
import { VANILLA_SCHEMATIC } from '../test/fakes/manifest.js';

export interface ManifestBenchResult {
  readonly nodes: number;
  readonly signedBytes: number;
  /** Each timed decode+verify, ms. */
  readonly runsMs: number[];
  /** The first run after warm-up (schemas compiled, code not yet hot for this size). */
  readonly firstMs: number;
  readonly medianMs: number;
  /** RSS with one verified model held minus RSS before the first 10k-node verify, after GC; MB.
   *  Measured in a child process that holds only the signed bytes, as an agent after a pull. */
  readonly rssGrowthMb: number;
  /** Growth of the process's peak RSS over that first verify (transient decode garbage included); MB. */
  readonly peakRssGrowthMb: number;
  /** Heap one more held model adds (the first verify's baseline is blurred by one-off caches); MB. */
  readonly modelHeapMb: number;
  readonly gcExposed: boolean;
  readonly targetMs: number;
  readonly targetRssMb: number;
  readonly pass: boolean;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const SCHEMATIC = VANILLA_SCHEMATIC;

function baseConfig(): string {
  for (const rel of ['../config/examples/worker.machineconfig.yaml', '../../config/examples/worker.machineconfig.yaml']) {
    try {
      return readFileSync(path.join(here, rel), 'utf8');
    } catch {
      // try the next layout (source tree or dist/)
    }
  }
  throw new Error('config/examples/worker.machineconfig.yaml not found');
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
const mac = (i: number, nic: number): string => `52:54:${hex2(nic)}:${hex2((i >> 16) & 0xff)}:${hex2((i >> 8) & 0xff)}:${hex2(i & 0xff)}`;

/** `count` nodes on one profile; 2 MACs, a reserved address, a BMC each; patches on every 10th. */
export function largeManifest(count: number, version = 2): PbManifest {
  return create(ManifestSchema, {
    rackId: 'rack-bench',
    version: BigInt(version),
    issuedAtUnixMs: BigInt(Date.now()),
    profiles: [
      { name: 'workers', talosVersion: 'v1.13.9', schematic: SCHEMATIC, arch: Arch.AMD64, install: { disk: '/dev/sda' }, machineConfigYaml: baseConfig() },
    ],
    nodes: Array.from({ length: count }, (_, i) => {
      const id = `r1-n${String(i).padStart(5, '0')}`;
      return {
        id,
        macs: [mac(i, 0), mac(i, 1)],
        serial: `SN-${String(i).padStart(8, '0')}`,
        hostname: id,
        profile: 'workers',
        // 198.18.0.0/15 has room for 131,072 hosts.
        ipv4: `198.${18 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`,
        patchesJson: i % 10 === 0 ? [JSON.stringify({ machine: { nodeLabels: { 'maskin.dev/rack': 'rack-bench', 'maskin.dev/slot': String(i) } } })] : [],
        desired: DesiredState.INSTALLED,
        generation: 1n,
        bootLocal: BootLocal.EXIT,
        bmc: { driver: 'redfish', address: `https://198.19.${(i >> 8) & 0xff}.${i & 0xff}`, credentialsRef: 'rack-bmc' },
      };
    }),
  });
}

const gc = (globalThis as { gc?: () => void }).gc;
const settle = (): void => {
  gc?.();
  gc?.();
};
const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

interface Measurement {
  readonly runsMs: number[];
  readonly rssGrowthMb: number;
  readonly peakRssGrowthMb: number;
  readonly modelHeapMb: number;
  readonly gcExposed: boolean;
}

/**
 * In a fresh process that holds only the signed bytes, as an agent does when a pull returns:
 * building and signing 10k nodes would otherwise already have raised the RSS being measured.
 */
function measure(dir: string, nodes: number, rounds: number): Measurement {
  const policy: VerifyPolicy = {
    trustedKeys: new Map([['bench', loadPublicKey(readFileSync(path.join(dir, 'bench.pub')))]]),
    rackId: 'rack-bench',
    currentVersion: 1,
    maxBytes: 256 * 1024 * 1024,
    talos: talosChecks,
  };
  // Warm-up on a small manifest: compiles the manifest and Talos schemas, as an agent has at start.
  verifySignedManifest(readFileSync(path.join(dir, 'small.pb')), policy);
  const bytes = readFileSync(path.join(dir, 'large.pb'));

  settle();
  const before = process.memoryUsage();
  const peakBefore = process.resourceUsage().maxRSS;
  let held: VerifiedManifest[] = [verifySignedManifest(bytes, policy)];
  const peakAfter = process.resourceUsage().maxRSS;
  settle();
  const after = process.memoryUsage();
  held.push(verifySignedManifest(bytes, policy));
  settle();
  const afterSecond = process.memoryUsage();
  if (held.some((v) => v.manifest.nodes.length !== nodes)) throw new Error(`verified a model without ${nodes} nodes`);
  held = [];

  const runsMs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    settle();
    const started = process.hrtime.bigint();
    verifySignedManifest(bytes, policy);
    runsMs.push(Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10);
  }
  return {
    runsMs,
    rssGrowthMb: mb(after.rss - before.rss),
    peakRssGrowthMb: mb((peakAfter - peakBefore) * 1024),
    modelHeapMb: mb(afterSecond.heapUsed - after.heapUsed),
    gcExposed: gc !== undefined,
  };
}

export async function benchManifest(nodes = 10_000, rounds = 7): Promise<ManifestBenchResult> {
  const pair = generateKeyPair();
  const key = loadPrivateKey(pair.privatePem);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'maskin-bench-manifest-'));
  try {
    const large = signManifest(largeManifest(nodes), 'bench', key);
    await writeFile(path.join(dir, 'bench.pub'), pair.publicPem);
    await writeFile(path.join(dir, 'small.pb'), signManifest(largeManifest(10), 'bench', key));
    await writeFile(path.join(dir, 'large.pb'), large);
    const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--measure', dir, String(nodes), String(rounds)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (child.status !== 0) throw new Error(`measuring process exited ${child.status}`);
    const m = JSON.parse(child.stdout) as Measurement;
    const sorted = [...m.runsMs].sort((a, b) => a - b);
    const medianMs = sorted[Math.floor(sorted.length / 2)]!;
    const targetMs = 300;
    const targetRssMb = 50;
    return {
      nodes,
      signedBytes: large.length,
      ...m,
      firstMs: m.runsMs[0]!,
      medianMs,
      targetMs,
      targetRssMb,
      pass: medianMs < targetMs && m.rssGrowthMb < targetRssMb && m.peakRssGrowthMb < targetRssMb,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function table(r: ManifestBenchResult): string {
  return [
    `signed manifest: ${r.nodes} nodes, ${r.signedBytes} bytes signed`,
    `decode+verify (Ed25519, protobuf, rawFromProto, buildManifest, Talos check warm): median ${r.medianMs} ms, runs ${r.runsMs.join('/')} ms (target: median < ${r.targetMs} ms)`,
    `RSS growth holding the verified model ${r.rssGrowthMb} MB (target < ${r.targetRssMb} MB), peak RSS growth ${r.peakRssGrowthMb} MB, model heap ${r.modelHeapMb} MB${r.gcExposed ? '' : ' — run with --expose-gc for steady figures'}`,
    r.pass ? 'PASS' : 'FAIL',
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === '--measure') {
  process.stdout.write(JSON.stringify(measure(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]))));
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchManifest();
  process.stdout.write(JSON.stringify(result, null, 2) + '\n' + table(result) + '\n');
  process.exitCode = result.pass ? 0 : 1;
}
