// Cached-asset serving benchmark (issue 4, "Prove it"): 50 concurrent downloads of a 100 MB pinned,
// cached asset from the agent (child process: bench/assetServer.ts, the real buildApp → sendBlob
// path over a real content store) vs nginx with sendfile serving the same bytes, in one run, same
// clients: wrk -t2 -c50 -d10s, and a one-shot of 50 concurrent curl fetches. Target: agent ≥ 0.9×
// nginx (worker_processes 1: one Node process against one nginx worker; `auto` reported for
// information), agent RSS < 200 MB throughout (sampled from /proc every 100 ms).
//   node dist/bench/assets.js
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { writeRandomFile } from './randomFile.js';
import { fileURLToPath } from 'node:url';

const SIZE = 100 * 1024 * 1024;
const CLIENTS = 50;
const WRK_SECONDS = 10;
const ASSET = 'bench/v1.9.0/initramfs-amd64.xz';
const TARGET = { ratio: 0.9, rssMb: 200 };

export interface ServerFigures {
  /** wrk aggregate Transfer/sec, MB/s (MiB). */
  readonly wrkMBps: number;
  readonly wrkRequestsPerSec: number;
  readonly wrkP99: string;
  /** 50 concurrent curl fetches, once each: wall time and aggregate MB/s. */
  readonly curlWallMs: number;
  readonly curlMBps: number;
}

export interface AssetsResult {
  readonly sizeMb: number;
  readonly clients: number;
  readonly agent: ServerFigures & { readonly peakRssMb: number };
  readonly nginx1: ServerFigures;
  readonly nginxAuto: ServerFigures;
  readonly ratioWrk: number;
  readonly ratioCurl: number;
  readonly target: typeof TARGET;
  readonly pass: boolean;
}

const run = (cmd: string, args: string[], timeoutMs = 60_000): Promise<string> =>
  new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd}: ${err.message}\n${stderr}`)) : resolve(stdout))),
  );

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, deadlineMs = 10_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listening on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** wrk's "1.23GB" → MiB. */
function toMiB(value: string, unit: string): number {
  const scale: Record<string, number> = { B: 1 / 1024 / 1024, KB: 1 / 1024, MB: 1, GB: 1024 };
  return Number(value) * (scale[unit] ?? NaN);
}

async function wrk(url: string): Promise<Pick<ServerFigures, 'wrkMBps' | 'wrkRequestsPerSec' | 'wrkP99'>> {
  const out = await run('wrk', ['-t2', `-c${CLIENTS}`, `-d${WRK_SECONDS}s`, '--latency', '--timeout', '60s', url], (WRK_SECONDS + 30) * 1000);
  const transfer = /Transfer\/sec:\s*([\d.]+)([KMG]?B)/.exec(out);
  const rps = /Requests\/sec:\s*([\d.]+)/.exec(out);
  const p99 = /\s99%\s+(\S+)/.exec(out);
  if (!transfer || !rps) throw new Error(`cannot parse wrk output:\n${out}`);
  if (/Non-2xx/.test(out)) throw new Error(`wrk saw non-2xx responses:\n${out}`);
  return { wrkMBps: Math.round(toMiB(transfer[1]!, transfer[2]!)), wrkRequestsPerSec: Number(rps[1]), wrkP99: p99?.[1] ?? '?' };
}

async function curlStorm(url: string): Promise<Pick<ServerFigures, 'curlWallMs' | 'curlMBps'>> {
  const started = performance.now();
  const outs = await Promise.all(Array.from({ length: CLIENTS }, () => run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', url])));
  const wall = performance.now() - started;
  for (const o of outs) {
    const [status, size] = o.trim().split(' ');
    if (status !== '200' || Number(size) !== SIZE) throw new Error(`a curl fetch got HTTP ${status}, ${size} of ${SIZE} bytes from ${url}`);
  }
  return { curlWallMs: Math.round(wall), curlMBps: Math.round(((SIZE / 1024 / 1024) * CLIENTS) / (wall / 1000)) };
}

async function measure(url: string): Promise<ServerFigures> {
  const c = await curlStorm(url);
  const w = await wrk(url);
  return { ...w, ...c };
}

async function startAgent(tmp: string, file: string, digest: string): Promise<{ child: ChildProcess; port: number }> {
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), 'assetServer.js');
  const child = spawn(process.execPath, [entry, path.join(tmp, 'agent'), file, digest, ASSET], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    child.once('exit', (code) => reject(new Error(`assetServer exited (${code}) before listening`)));
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /listening (\d+)/.exec(buf);
      if (m) resolve(Number(m[1]));
    });
  });
  return { child, port };
}

async function startNginx(tmp: string, root: string, workers: '1' | 'auto'): Promise<{ child: ChildProcess; port: number }> {
  const prefix = path.join(tmp, `nginx-${workers}`);
  await mkdir(prefix, { recursive: true });
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  await writeFile(
    conf,
    `daemon off;\nworker_processes ${workers};\npid ${prefix}/nginx.pid;\nerror_log ${prefix}/error.log;\n` +
      `events { worker_connections 1024; }\n` +
      `http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  default_type application/octet-stream;\n` +
      `  client_body_temp_path ${prefix}/body;\n  proxy_temp_path ${prefix}/proxy;\n  fastcgi_temp_path ${prefix}/fastcgi;\n  uwsgi_temp_path ${prefix}/uwsgi;\n  scgi_temp_path ${prefix}/scgi;\n` +
      `  server {\n    listen 127.0.0.1:${port};\n    root ${root};\n  }\n}\n`,
  );
  const child = spawn('nginx', ['-c', conf, '-p', prefix], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port);
  return { child, port };
}

async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

export async function benchAssets(): Promise<AssetsResult> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'maskin-bench-assets-'));
  // nginx workers drop to an unprivileged user: they must be able to reach the served file.
  await chmod(tmp, 0o755);
  const children: ChildProcess[] = [];
  try {
    const root = path.join(tmp, 'www');
    const file = path.join(root, ASSET);
    await mkdir(path.dirname(file), { recursive: true });
    const digest = await writeRandomFile(file, SIZE);

    const agentProc = await startAgent(tmp, file, digest);
    children.push(agentProc.child);
    const pid = agentProc.child.pid!;
    let peakKb = 0;
    const sample = async (): Promise<void> => {
      const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    };
    await sample();
    const sampler = setInterval(() => void sample(), 100);
    let agent: ServerFigures;
    try {
      agent = await measure(`http://127.0.0.1:${agentProc.port}/assets/${ASSET}`);
    } finally {
      clearInterval(sampler);
    }
    await sample();
    await stop(agentProc.child);

    const figures: Record<'1' | 'auto', ServerFigures> = {} as Record<'1' | 'auto', ServerFigures>;
    for (const workers of ['1', 'auto'] as const) {
      const n = await startNginx(tmp, root, workers);
      children.push(n.child);
      figures[workers] = await measure(`http://127.0.0.1:${n.port}/${ASSET}`);
      await stop(n.child);
    }
    const nginx1 = figures['1'];
    const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
    const ratioWrk = ratio(agent.wrkMBps, nginx1.wrkMBps);
    const ratioCurl = ratio(agent.curlMBps, nginx1.curlMBps);
    const peakRssMb = Math.round(peakKb / 1024);
    return {
      sizeMb: SIZE / 1024 / 1024,
      clients: CLIENTS,
      agent: { ...agent, peakRssMb },
      nginx1,
      nginxAuto: figures.auto,
      ratioWrk,
      ratioCurl,
      target: TARGET,
      pass: ratioWrk >= TARGET.ratio && ratioCurl >= TARGET.ratio && peakRssMb < TARGET.rssMb,
    };
  } finally {
    await Promise.all(children.map(stop));
    await rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await benchAssets();
  process.stdout.write(JSON.stringify(r, null, 2) + '\n\n');
  const row = (name: string, f: ServerFigures, extra = ''): string =>
    `${name.padEnd(22)} ${String(f.wrkMBps).padStart(8)} ${f.wrkRequestsPerSec.toFixed(1).padStart(8)} ${f.wrkP99.padStart(9)} ${String(f.curlWallMs).padStart(10)} ${String(f.curlMBps).padStart(9)} ${extra}\n`;
  process.stdout.write(
    `${r.clients} × ${r.sizeMb} MB            wrk MB/s    req/s   wrk p99  curl ms  curl MB/s\n` +
      row('agent (1 process)', r.agent, `peak RSS ${r.agent.peakRssMb} MB`) +
      row('nginx (1 worker)', r.nginx1) +
      row('nginx (auto workers)', r.nginxAuto, '(information)') +
      `agent/nginx(1): wrk ${r.ratioWrk}×, curl ${r.ratioCurl}× (target ≥${r.target.ratio}×); peak RSS ${r.agent.peakRssMb} MB (target <${r.target.rssMb} MB): ${r.pass ? 'PASS' : 'FAIL'}\n`,
  );
}
