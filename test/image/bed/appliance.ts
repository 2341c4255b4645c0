// Test bed for the appliance image: builds it with image/build (as an operator would) unless
// build/image holds one made from the same inputs, and seeds a copy's config partition with mtools,
// as an operator writes agent.yaml onto it.
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { copyFile, mkdir, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../bed/agent.js';

const run = promisify(execFile);
export const imageDir = path.join(repoRoot, 'build', 'image');

/** Every input of image/build: the recipe, the agent's sources and lock file, the unit. */
async function inputsHash(): Promise<string> {
  const { stdout } = await run(
    'git',
    ['ls-files', '--cached', '--others', '--exclude-standard', 'image', 'agent', 'systemd', 'config', 'package.json', 'package-lock.json'],
    {
      cwd: repoRoot,
      maxBuffer: 16 * 1024 * 1024,
    },
  );
  const hash = createHash('sha256');
  for (const file of stdout.split('\n').filter(Boolean).sort()) {
    const full = path.join(repoRoot, file);
    if (!existsSync(full)) continue;
    hash
      .update(file)
      .update('\0')
      .update(await readFile(full))
      .update('\0');
  }
  return hash.digest('hex').slice(0, 32);
}

export interface BuiltImage {
  readonly image: string;
  readonly version: string;
  /** Seconds image/build took in this run; undefined when the cached image was reused. */
  readonly buildSeconds: number | undefined;
}

let built: Promise<BuiltImage> | undefined;

/**
 * The image of the current inputs: reused from build/image when its stamp matches, else built;
 * once per test process, so an edit during a run does not start a second build.
 */
export function applianceImage(log: (line: string) => void): Promise<BuiltImage> {
  built ??= buildOrReuse(log);
  return built;
}

async function buildOrReuse(log: (line: string) => void): Promise<BuiltImage> {
  const version = (JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
  const image = path.join(imageDir, `maskin-agent_${version}.img`);
  const stamp = path.join(imageDir, 'inputs.sha256');
  const want = await inputsHash();
  if (existsSync(image) && existsSync(stamp) && (await readFile(stamp, 'utf8')).trim() === want) return { image, version, buildSeconds: undefined };
  const started = Date.now();
  const { stdout } = await run('bash', [path.join(repoRoot, 'image', 'build'), imageDir], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 });
  for (const line of stdout.split('\n')) if (line.startsWith('image:')) log(line);
  await writeFile(stamp, `${want}\n`);
  return { image, version, buildSeconds: Math.round((Date.now() - started) / 1000) };
}

interface SfdiskPartition {
  readonly start: number;
  readonly size: number;
  readonly name?: string;
}

/** Byte offset and size of the partition labelled `label` (GPT partition name). */
export async function partition(image: string, label: string): Promise<{ offset: number; size: number }> {
  const { stdout } = await run('sfdisk', ['--json', image]);
  const table = (JSON.parse(stdout) as { partitiontable: { sectorsize?: number; partitions: SfdiskPartition[] } }).partitiontable;
  const sector = table.sectorsize ?? 512;
  const found = table.partitions.find((p) => p.name === label);
  if (!found) throw new Error(`${image}: no partition labelled ${label} (${table.partitions.map((p) => p.name).join(', ')})`);
  return { offset: found.start * sector, size: found.size * sector };
}

/**
 * A copy of the image at `dest` whose config partition holds `files` (name → content; `a/b` makes
 * folder a), on a disk 1 GiB larger than the image, as the provisioning node's disk is: first boot
 * puts /var there.
 */
export async function seededCopy(image: string, dest: string, files: Readonly<Record<string, string | Buffer>>, scratch: string): Promise<void> {
  await copyFile(image, dest);
  await truncate(dest, (await stat(dest)).size + 1024 * 1024 * 1024);
  const { offset } = await partition(dest, 'maskin-config');
  const target = `${dest}@@${offset}`;
  const folders = new Set(
    Object.keys(files)
      .map((f) => path.posix.dirname(f))
      .filter((d) => d !== '.'),
  );
  for (const folder of folders) await run('mmd', ['-D', 's', '-i', target, `::/${folder}`]).catch(() => undefined);
  let i = 0;
  for (const [name, content] of Object.entries(files)) {
    const local = path.join(scratch, `seed-${i++}`);
    await writeFile(local, content);
    await run('mcopy', ['-o', '-i', target, local, `::/${name}`]);
  }
}

/** Flips one byte of the root slot's filesystem (its superblock, read by every mount). */
export async function tamperRoot(image: string, version: string): Promise<void> {
  const { offset } = await partition(image, `maskin-root_${version}`);
  // erofs keeps its superblock at byte 1024 of the filesystem.
  const at = offset + 1024 + 8;
  const fh = await (await import('node:fs/promises')).open(image, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = (b[0] ?? 0) ^ 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

/** A GnuPG home in `dir` with one signing key; `pubring` is its public key, as an operator exports it. */
export async function updateSigner(dir: string): Promise<{ sign(folder: string): Promise<void>; pubring: Buffer }> {
  const home = path.join(dir, 'gnupg');
  await mkdir(home, { recursive: true, mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: home };
  const gpg = (args: string[]) =>
    run('gpg', ['--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { env, encoding: 'buffer', maxBuffer: 1024 * 1024 });
  await gpg(['--quick-gen-key', 'maskin appliance test updates <updates@maskin.test>', 'ed25519', 'sign', 'never']);
  const { stdout } = await gpg(['--export']);
  return {
    pubring: stdout,
    async sign(folder) {
      await gpg(['--yes', '--detach-sign', '-o', path.join(folder, 'SHA256SUMS.gpg'), path.join(folder, 'SHA256SUMS')]);
    },
  };
}

/**
 * Update artifacts of `version` in `out/update/`: image/respin of the built image (the same root,
 * the agent's version set to `version`, then `hook` run on the root folder when given).
 */
export async function respun(version: string, out: string, hook?: string): Promise<string> {
  await run('bash', [path.join(repoRoot, 'image', 'respin'), imageDir, version, out, ...(hook ? [hook] : [])], { cwd: repoRoot, maxBuffer: 16 * 1024 * 1024 });
  return path.join(out, 'update');
}

/** A FAT disk image labelled MASKIN-UPD holding `folder`'s files, as an operator's USB stick. */
export async function updateMedium(folder: string, dest: string): Promise<void> {
  const files = (await readdir(folder)).map((f) => path.join(folder, f));
  let bytes = 0;
  for (const f of files) bytes += (await stat(f)).size;
  const kib = Math.ceil((bytes * 1.1) / 1024) + 65536;
  await run('mkfs.vfat', ['-C', '-n', 'MASKIN-UPD', dest, String(kib)]);
  await run('mcopy', ['-i', dest, ...files, '::/']);
}

/** File names in the ESP's EFI/Linux (the unified kernel images, with their boot counters). */
export async function espKernels(image: string): Promise<string[]> {
  const { offset } = await partition(image, 'maskin-esp');
  const { stdout } = await run('mdir', ['-b', '-i', `${image}@@${offset}`, '::/EFI/Linux']);
  return stdout
    .split('\n')
    .map((l) => path.posix.basename(l.trim()))
    .filter(Boolean)
    .sort();
}

/** GPT partition names of the disk image. */
export async function partitionLabels(image: string): Promise<string[]> {
  const { stdout } = await run('sfdisk', ['--json', image]);
  return (JSON.parse(stdout) as { partitiontable: { partitions: SfdiskPartition[] } }).partitiontable.partitions.map((p) => p.name ?? '');
}
