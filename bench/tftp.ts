// Boot-storm benchmark for TFTP: 100 concurrent fetches of ipxe.efi with blksize 1468,
// against tftpd-hpa and against our service, in the same run, on loopback high ports.
// Client: our raw-dgram client (test/tftp/rawClient.ts), 100 transfers in this one process; the
// same client against both servers is what makes the ratio fair. Both servers run as their own
// processes. tftpd-hpa 5.2 knows no windowsize, so the headline ratio is lockstep (windowsize 1)
// for both; ours with windowsize 8 is reported alongside for information. The storm is repeated
// with 100 curl processes as the client; there, client processes outnumber the cores and the
// figures mostly measure the client (a CPU profile of our server shows it idle ~40% of the time).
//   node dist/bench/tftp.js
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stopChild } from '../test/bed/netns.js';
import { fetchTftp } from '../test/tftp/rawClient.js';

export interface TftpRun {
  /** Wall time of each round, ms. */
  readonly roundsMs: number[];
  readonly medianMs: number;
  /** Every copy of every round was byte-identical to the file. */
  readonly allIdentical: boolean;
}

export interface TftpBenchResult {
  readonly file: string;
  readonly bytes: number;
  readonly concurrency: number;
  readonly blksize: number;
  readonly tftpdHpa: TftpRun;
  readonly ours: TftpRun;
  readonly oursWindowsize8: TftpRun;
  /** The same storm with 100 curl processes as the client (windowsize 1 for both). */
  readonly curl: { readonly tftpdHpa: TftpRun; readonly ours: TftpRun; readonly ratio: number };
  /** ours.medianMs / tftpdHpa.medianMs with the Node client; target ≤ 1.5. */
  readonly ratio: number;
  readonly target: number;
  readonly pass: boolean;
}

const SOURCE = '/usr/lib/ipxe/ipxe.efi';
const HOST = '127.0.0.1';
const here = path.dirname(fileURLToPath(import.meta.url));
const serveEntry = path.join(here, '../test/tftp/bed/serve-tftp.js');

async function freePort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

async function waitForUdp(port: number, file: string): Promise<void> {
  const until = Date.now() + 5000;
  for (;;) {
    try {
      await fetchTftp({ host: HOST, port, file, blksize: 1468, timeoutMs: 200, deadlineMs: 2000 });
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function storm(port: number, file: string, expected: Buffer, concurrency: number, windowsize?: number): Promise<{ ms: number; identical: boolean }> {
  const started = process.hrtime.bigint();
  const results = await Promise.all(
    Array.from({ length: concurrency }, () =>
      fetchTftp({ host: HOST, port, file, blksize: 1468, ...(windowsize ? { windowsize } : {}), timeoutMs: 1000, deadlineMs: 60000 }),
    ),
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  return { ms, identical: results.every((r) => r.data.equals(expected)) };
}

/** The same storm with 100 curl processes (`curl tftp://... --tftp-blksize 1468`), a C client. */
async function curlStorm(port: number, file: string, expected: Buffer, concurrency: number, outDir: string): Promise<{ ms: number; identical: boolean }> {
  const started = process.hrtime.bigint();
  const codes = await Promise.all(
    Array.from(
      { length: concurrency },
      (_, i) =>
        new Promise<number | null>((resolve) => {
          const args = ['-s', '--max-time', '60', '--tftp-blksize', '1468', '-o', path.join(outDir, `${port}-${i}`), `tftp://${HOST}:${port}/${file}`];
          spawn('curl', args, { stdio: 'ignore' }).once('exit', resolve);
        }),
    ),
  );
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  let identical = codes.every((code) => code === 0);
  for (let i = 0; i < concurrency && identical; i += 1) {
    identical = (await readFile(path.join(outDir, `${port}-${i}`)).catch(() => Buffer.alloc(0))).equals(expected);
  }
  return { ms, identical };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

export async function benchTftp(opts: { concurrency?: number; rounds?: number } = {}): Promise<TftpBenchResult> {
  const concurrency = opts.concurrency ?? 100;
  const rounds = opts.rounds ?? 3;
  const root = await mkdtemp(path.join(os.tmpdir(), 'maskin-bench-tftp-'));
  const children: ChildProcess[] = [];
  try {
    // in.tftpd chroots and drops to user tftp: the directory must be world-readable.
    await chmod(root, 0o755);
    const file = path.basename(SOURCE);
    await copyFile(SOURCE, path.join(root, file));
    await chmod(path.join(root, file), 0o644);
    const expected = await readFile(path.join(root, file));

    const hpaPort = await freePort();
    children.push(spawn('in.tftpd', ['-L', '-s', root, '-a', `${HOST}:${hpaPort}`], { stdio: 'ignore' }));
    const oursPort = await freePort();
    children.push(spawn(process.execPath, [serveEntry, root, HOST, String(oursPort), String(concurrency)], { stdio: 'ignore' }));
    await waitForUdp(hpaPort, file);
    await waitForUdp(oursPort, file);

    const outDir = path.join(root, 'out');
    await mkdir(outDir);
    const runs = { tftpdHpa: [] as number[], ours: [] as number[], oursWindowsize8: [] as number[], curlTftpdHpa: [] as number[], curlOurs: [] as number[] };
    const identical = { tftpdHpa: true, ours: true, oursWindowsize8: true, curlTftpdHpa: true, curlOurs: true };
    // Alternate servers round by round so drift (thermal, other load) hits both alike.
    for (let round = 0; round < rounds; round += 1) {
      for (const [name, port, windowsize] of [
        ['tftpdHpa', hpaPort, undefined],
        ['ours', oursPort, undefined],
        ['oursWindowsize8', oursPort, 8],
      ] as const) {
        const { ms, identical: same } = await storm(port, file, expected, concurrency, windowsize);
        runs[name].push(ms);
        identical[name] &&= same;
      }
      for (const [name, port] of [
        ['curlTftpdHpa', hpaPort],
        ['curlOurs', oursPort],
      ] as const) {
        const { ms, identical: same } = await curlStorm(port, file, expected, concurrency, outDir);
        runs[name].push(ms);
        identical[name] &&= same;
      }
    }
    const summary = (name: keyof typeof runs): TftpRun => ({
      roundsMs: runs[name].map((ms) => Math.round(ms)),
      medianMs: Math.round(median(runs[name])),
      allIdentical: identical[name],
    });
    const tftpdHpa = summary('tftpdHpa');
    const ours = summary('ours');
    const ratio = Math.round((median(runs.ours) / median(runs.tftpdHpa)) * 100) / 100;
    return {
      file: SOURCE,
      bytes: expected.length,
      concurrency,
      blksize: 1468,
      tftpdHpa,
      ours,
      oursWindowsize8: summary('oursWindowsize8'),
      curl: {
        tftpdHpa: summary('curlTftpdHpa'),
        ours: summary('curlOurs'),
        ratio: Math.round((median(runs.curlOurs) / median(runs.curlTftpdHpa)) * 100) / 100,
      },
      ratio,
      target: 1.5,
      pass: ratio <= 1.5 && tftpdHpa.allIdentical && ours.allIdentical,
    };
  } finally {
    await Promise.all(children.map((child) => stopChild(child)));
    await rm(root, { recursive: true, force: true });
  }
}

function table(result: TftpBenchResult): string {
  const row = (name: string, run: TftpRun): string =>
    `${name.padEnd(26)} ${String(run.medianMs).padStart(8)} ms   rounds ${run.roundsMs.join('/')} ms   identical ${run.allIdentical}`;
  return [
    `TFTP: ${result.concurrency} concurrent fetches of ${path.basename(result.file)} (${result.bytes} B), blksize ${result.blksize}`,
    'client: node raw-dgram client, 100 transfers in one process',
    row('tftpd-hpa (windowsize 1)', result.tftpdHpa),
    row('ours (windowsize 1)', result.ours),
    row('ours (windowsize 8)', result.oursWindowsize8),
    `ratio ours/tftpd-hpa ${result.ratio} (target <= ${result.target}): ${result.pass ? 'PASS' : 'FAIL'}`,
    'same storm, 100 curl processes as the client:',
    row('tftpd-hpa', result.curl.tftpdHpa),
    row('ours', result.curl.ours),
    `ratio ours/tftpd-hpa with curl ${result.curl.ratio}`,
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchTftp();
  process.stdout.write(JSON.stringify(result, null, 2) + '\n' + table(result) + '\n');
}
