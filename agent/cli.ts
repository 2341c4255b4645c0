#!/usr/bin/env node
// maskin-agent command line: run | check-config | nodes | node | status | cache | manifest.
import { parseArgs } from 'node:util';
import pino from 'pino';
import { loadConfigFile } from './config/load.js';
import { createSystemdNotifier } from './runtime/systemdNotify.js';
import type { AgentConfig } from './config/model.js';
import { MaskinError } from './errors.js';
import { agentVersion } from './runtime/version.js';
import type { AgentStatus } from './http/admin.js';
import { formatCache } from './images/format.js';
import { MANIFEST_USAGE, manifestCommand } from './manifest/cli.js';
import { loadManifest, runAgent } from './main.js';
import { udpServerProbe } from './net/serverProbe.js';
import { answeringServers, checkDhcpServers, dhcpServerFindings, holdsProvisioningAddress, missingAssets, missingBootFiles } from './preflight.js';
import type { ConsoleLine } from './console/lines.js';
import { formatConsole, formatNodeTable, formatTimeline, type NodeSummary } from './nodes/format.js';
import type { NodeRecord } from './nodes/model.js';
import { isManualAction } from './provision/plan.js';
import { formatStatus } from './uplink/format.js';

const USAGE = `usage:
  maskin-agent run --config FILE          run the agent
  maskin-agent --version                  print the agent's version
  maskin-agent check-config FILE [--no-probe]
                                          validate the agent config and the manifest it names, and ask
                                          each dhcp.ntp and dhcp.dns server one question (--no-probe: don't)
  maskin-agent nodes [ID [--console]] [--config FILE | --url URL]
                                          table of nodes from a running agent, or one node's timeline
                                          (--console: the node's own console lines, from Talos log delivery)
  maskin-agent node ID provision|reprovision|power-off|rescue|exit-rescue [--config FILE | --url URL]
                                          operator action on a node with a BMC: provision (discovered, failed or
                                          held), reprovision (installed, handed-over, failed or held), power-off;
                                          on any node: rescue (diskless Talos maintenance mode, disks untouched;
                                          with a BMC at once, else on its next PXE boot), exit-rescue (back to its
                                          disk, or installed if it never was)
  maskin-agent status [--config FILE | --url URL]
                                          manifest version/source/age, last pull, outbox depth
  maskin-agent cache status [--config FILE | --url URL]
                                          pinned images: cached, downloading (progress bars on a terminal), failed
  maskin-agent manifest keygen|sign|verify|show ...
                                          operator tools for signed manifests (see below)
environment: MASKIN_LOG_LEVEL, MASKIN_ADMIN_TOKEN, MASKIN_DATA_DIR, MASKIN_UPLINK_TOKEN, MASKIN_PUSH_TOKEN

${MANIFEST_USAGE}`;

function fail(message: string, code = 1): never {
  process.stderr.write(`maskin-agent: ${message}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  // The manifest tools parse their own flags.
  if (command === 'manifest') {
    process.exitCode = await manifestCommand(rest);
    return;
  }
  if (command === '--version' || command === '-V' || command === 'version') {
    process.stdout.write(`${agentVersion()}\n`);
    return;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        url: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        'no-probe': { type: 'boolean' },
        console: { type: 'boolean' },
      },
    });
  } catch (err) {
    // parseArgs reports unknown or malformed flags with ERR_PARSE_ARGS_* codes: a usage error.
    fail(`${(err as Error).message.split('. ')[0]}; see maskin-agent --help`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help || command === undefined || command === 'help' || command === '--help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  switch (command) {
    case 'run':
      return run(values.config ?? fail('run needs --config FILE', 2));
    case 'check-config':
      return checkConfig(positionals[0] ?? values.config ?? fail('check-config needs a FILE', 2), values['no-probe'] !== true);
    case 'nodes':
      if (values.console && positionals[0] === undefined) fail('nodes --console needs a node ID', 2);
      if (values.console) return consoleOf(positionals[0]!, values.config, values.url);
      return nodes(positionals[0], values.config, values.url);
    case 'node':
      return nodeAction(positionals[0], positionals[1], values.config, values.url);
    case 'status':
      return status(values.config, values.url);
    case 'cache':
      if (positionals[0] !== 'status') fail('usage: maskin-agent cache status [--config FILE | --url URL]', 2);
      return cacheStatus(values.config, values.url);
    default:
      fail(`unknown command ${command}\n${USAGE}`, 2);
  }
}

function loadOrExit(file: string): AgentConfig {
  try {
    return loadConfigFile(file);
  } catch (err) {
    if (err instanceof MaskinError) fail(err.message);
    throw err;
  }
}

async function run(file: string): Promise<void> {
  const config = loadOrExit(file);
  const log = pino({ level: config.logLevel, base: { agent: config.agentId } });
  const stop = new AbortController();
  const systemd = createSystemdNotifier(process.env, { onError: (err) => log.warn({ err: err.message }, 'systemd-notify failed') });
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      systemd.stopping();
      stop.abort(sig);
    });
  const stopWatchdog = systemd.startWatchdog();
  // SIGHUP before readiness is ignored rather than ending the process (its default action).
  let reload = (): boolean => false;
  process.on('SIGHUP', () => {
    const ok = reload();
    log.info({ reloaded: ok }, 'SIGHUP: manifest file reload');
  });
  try {
    await runAgent(config, log, stop.signal, (agent) => {
      reload = () => agent.reloadManifest();
      systemd.ready(`serving DHCP, TFTP and HTTP on ${config.provisioning.interface} (${config.provisioning.address})`);
    });
    log.info('stopped');
  } catch (err) {
    if (err instanceof MaskinError) log.fatal({ code: err.code }, err.message);
    else log.fatal({ err }, 'agent failed');
    process.exitCode = 1;
  }
  stopWatchdog();
  // The stores are closed; a service left behind by the supervisor's grace period must not keep
  // the process alive past systemd's stop timeout.
  log.flush();
  process.exit();
}

async function checkConfig(file: string, probe: boolean): Promise<void> {
  const config = loadOrExit(file);
  let directory;
  try {
    directory = loadManifest(config);
  } catch (err) {
    if (err instanceof MaskinError) fail(err.message);
    throw err;
  }
  const nodes = directory.all();
  process.stdout.write(
    `config ok: ${file}\n  provisioning ${config.provisioning.address} (${config.provisioning.subnet}) on ${config.provisioning.interface}\n` +
      `  dhcp pool ${config.dhcp.poolStart}-${config.dhcp.poolEnd}, http ${config.httpBaseUrl}, tftp port ${config.ports.tftp}\n` +
      (config.manifestFile === undefined
        ? 'manifest: none configured (manifestFile); the agent serves DHCP and discovery until a signed manifest arrives\n'
        : `manifest ok: ${config.manifestFile}: ${nodes.length} node(s), ${new Set(nodes.map((n) => n.profile)).size} profile(s) in use, ` +
          "every node's machine config validated\n"),
  );
  // What this host and the network must provide: warnings, since files may arrive and servers
  // start before the first boot.
  const findings = [...missingBootFiles(config, directory), ...missingAssets(config, directory)];
  if (probe) {
    const checks = await checkDhcpServers(config, udpServerProbe());
    for (const line of answeringServers(checks)) process.stdout.write(`  ${line}\n`);
    findings.push(...dhcpServerFindings(config, checks, holdsProvisioningAddress(config)));
  }
  for (const f of findings) process.stdout.write(`warning: ${f.field}: ${f.message}\n`);
}

/**
 * A request to a running agent's admin API (loopback, or MASKIN_ADMIN_TOKEN): a GET, or a POST of
 * `body`; exits with the agent's own reason when refused. `T` is what the route answers (agent/http/admin.ts).
 */
async function adminRequest<T>(path: string, configFile: string | undefined, url: string | undefined, body?: unknown): Promise<T> {
  let base = url;
  if (!base) {
    const port = configFile ? loadOrExit(configFile).ports.http : 80;
    base = `http://127.0.0.1${port === 80 ? '' : `:${port}`}`;
  }
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  if (process.env.MASKIN_ADMIN_TOKEN) headers.authorization = `Bearer ${process.env.MASKIN_ADMIN_TOKEN}`;
  const target = `${base}${path}`;
  let response: Response;
  try {
    response = await fetch(target, {
      headers,
      signal: AbortSignal.timeout(5000),
      ...(body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) }),
    });
  } catch (err) {
    fail(`cannot reach the agent at ${base} (${(err as Error).message}); is it running? pass --config or --url`);
  }
  if (!response.ok) {
    const text = await response.text();
    let reason: string | undefined;
    try {
      reason = (JSON.parse(text) as { reason?: string }).reason;
    } catch {
      reason = undefined;
    }
    fail(reason ?? `${target} answered ${response.status}: ${text}`);
  }
  return (await response.json()) as T;
}

async function nodes(id: string | undefined, configFile: string | undefined, url: string | undefined): Promise<void> {
  if (id) process.stdout.write(formatTimeline(await adminRequest<NodeRecord>(`/v1/nodes/${encodeURIComponent(id)}`, configFile, url)));
  else process.stdout.write(formatNodeTable((await adminRequest<{ nodes: NodeSummary[] }>('/v1/nodes', configFile, url)).nodes, new Date()));
}

async function consoleOf(id: string, configFile: string | undefined, url: string | undefined): Promise<void> {
  const answer = await adminRequest<{ node: string; lines: ConsoleLine[]; dropped: number }>(`/v1/nodes/${encodeURIComponent(id)}/console`, configFile, url);
  process.stdout.write(formatConsole(answer.node, answer.lines, answer.dropped));
}

async function nodeAction(id: string | undefined, action: string | undefined, configFile: string | undefined, url: string | undefined): Promise<void> {
  if (id === undefined || action === undefined || !isManualAction(action))
    fail('usage: maskin-agent node ID provision|reprovision|power-off|rescue|exit-rescue [--config FILE | --url URL]', 2);
  await adminRequest<unknown>(`/v1/nodes/${encodeURIComponent(id)}/actions`, configFile, url, { action });
  process.stdout.write(`${action} of node ${id} accepted; follow it with: maskin-agent nodes ${id}\n`);
}

async function cacheStatus(configFile: string | undefined, url: string | undefined): Promise<void> {
  const { cache } = await adminRequest<AgentStatus>('/v1/status', configFile, url);
  if (!cache) fail('this agent reports no image cache');
  process.stdout.write(formatCache(cache, { bars: process.stdout.isTTY === true }));
}

async function status(configFile: string | undefined, url: string | undefined): Promise<void> {
  process.stdout.write(formatStatus(await adminRequest<AgentStatus>('/v1/status', configFile, url), new Date()));
}

// Anything that still escapes is a bug, not bad input: one line, and the stack only when asked for.
main(process.argv.slice(2)).catch((err: unknown) => {
  const debug = process.env.MASKIN_LOG_LEVEL === 'debug' || process.env.MASKIN_LOG_LEVEL === 'trace';
  fail(debug ? ((err as Error).stack ?? String(err)) : `internal error: ${(err as Error).message ?? String(err)} (MASKIN_LOG_LEVEL=debug shows where)`);
});
