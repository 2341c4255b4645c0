// Runs the real agent (the compiled CLI, as an operator would) inside a rack namespace, where
// ports 67/69/80 are its own. Requires `npm run build` first (npm test does it).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import type { NodeRecord } from '../../agent/nodes/model.js';
import type { NodeSummary } from '../../agent/nodes/format.js';
import { stopChild, type Rack } from './netns.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []));
export const cliPath = path.join(repoRoot, 'dist', 'agent', 'cli.js');

export interface AgentInRack {
  readonly dataDir: string;
  readonly configFile: string;
  readonly process: ChildProcess;
  /** Everything the agent printed (pino JSON lines). */
  output(): string;
  nodes(): Promise<NodeSummary[]>;
  node(id: string): Promise<NodeRecord | undefined>;
  /** Polls a node until `predicate` holds; throws with the node's timeline on timeout. */
  waitForNode(id: string, predicate: (node: NodeRecord) => boolean, timeoutMs: number): Promise<NodeRecord>;
  /** Runs the CLI inside the rack namespace (e.g. `nodes`, `nodes <id>`). */
  cli(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export interface AgentOptions {
  readonly manifest: string;
  readonly assetsDir: string;
  /** Extra YAML appended to the generated config. */
  readonly extraConfig?: string;
  /** Extra keys of the config's dhcp section, one `key: value` per line (e.g. `mode: proxy`). */
  readonly dhcp?: string;
  /** Reuse a data dir (restart tests). */
  readonly dataDir?: string;
  /** Default debug; a flood test keeps its output small with warn. */
  readonly logLevel?: string;
  /** Extra environment for the agent process (secrets such as MASKIN_PUSH_TOKEN). */
  readonly env?: Readonly<Record<string, string>>;
}

export async function startAgentInRack(rack: Rack, opts: AgentOptions): Promise<AgentInRack> {
  const work = await mkdtemp(path.join(tmpdir(), 'maskin-agent-'));
  const dataDir = opts.dataDir ?? path.join(work, 'data');
  const manifestFile = path.join(work, 'manifest.yaml');
  await writeFile(manifestFile, opts.manifest);
  const prefix = rack.address.split('.').slice(0, 3).join('.');
  const configFile = path.join(work, 'agent.yaml');
  await writeFile(
    configFile,
    `agentId: test-${rack.ns}
provisioning: { interface: ${rack.bridge}, address: ${rack.address}, subnet: ${rack.subnet} }
dataDir: ${dataDir}
assetsDir: ${opts.assetsDir}
manifestFile: ${manifestFile}
dhcp:
  pool: { start: ${prefix}.100, end: ${prefix}.199 }
  leaseTime: 600
  routers: [${rack.address}]
  dns: [${rack.address}]
  ntp: [${rack.address}]
  domain: rack.test
${(opts.dhcp ?? '')
  .split('\n')
  .filter(Boolean)
  .map((l) => `  ${l}\n`)
  .join('')}logLevel: ${opts.logLevel ?? 'debug'}
${opts.extraConfig ?? ''}`,
  );
  let output = '';
  const child = rack.spawn(process.execPath, [cliPath, 'run', '--config', configFile], { env: { ...process.env, ...opts.env } });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const curl = (url: string): Promise<string> => rack.exec('curl', ['-sS', '--max-time', '5', '-f', url]);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode}:\n${output}`);
    try {
      // The boot server and the admin listener (admin.port's default) both answer.
      await curl('http://127.0.0.1/healthz');
      await curl('http://127.0.0.1:9180/healthz');
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`agent did not become healthy:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const agent: AgentInRack = {
    dataDir,
    configFile,
    process: child,
    output: () => output,
    async nodes() {
      return (JSON.parse(await curl('http://127.0.0.1:9180/v1/nodes')) as { nodes: NodeSummary[] }).nodes;
    },
    async node(id) {
      try {
        return JSON.parse(await curl(`http://127.0.0.1:9180/v1/nodes/${id}`)) as NodeRecord;
      } catch {
        return undefined;
      }
    },
    async waitForNode(id, predicate, timeoutMs) {
      const until = Date.now() + timeoutMs;
      let last: NodeRecord | undefined;
      for (;;) {
        last = await agent.node(id);
        if (last && predicate(last)) return last;
        if (Date.now() > until) throw new Error(`node ${id} did not reach the expected state; last seen:\n${JSON.stringify(last, null, 1)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    cli(args) {
      return rack.exec(process.execPath, [cliPath, ...args, '--config', configFile]);
    },
    async stop() {
      await stopChild(child);
      // A caller-given data dir lives outside `work` and survives, for restart tests.
      await rm(work, { recursive: true, force: true });
    },
  };
  return agent;
}
