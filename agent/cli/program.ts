// maskin-agent's command line on commander: the commands, their flags and help, --json on every
// read command, and exit codes 0 (done), 1 (failed), 2 (usage mistake). `run` lives in run.ts.
import { Argument, Command, CommanderError, Option } from 'commander';
import type { ConsoleLine } from '../console/lines.js';
import type { AgentStatus } from '../http/admin.js';
import { cacheSettled, formatCache } from '../images/format.js';
import { manifestCommand } from '../manifest/cli.js';
import { formatConsole, formatNodeTable, formatTimeline, type NodeSummary } from '../nodes/format.js';
import type { NodeRecord } from '../nodes/model.js';
import { isManualAction, MANUAL_ACTIONS } from '../provision/plan.js';
import { agentVersion } from '../runtime/version.js';
import { formatStatus } from '../uplink/format.js';
import { checkConfig, formatCheck } from './check.js';
import { adminBase, adminClient, CliError, configPath, DEFAULT_CONFIG, type AdminClient } from './client.js';
import { colourWanted, paint, type Paint } from './term.js';

export interface CliIo {
  readonly stdout: { write(text: string): unknown; readonly isTTY?: boolean };
  readonly stderr: { write(text: string): unknown };
  readonly env: NodeJS.ProcessEnv;
  readonly now?: () => Date;
  readonly fetch?: typeof fetch;
  /** Waits between `cache status --watch` polls; injected for tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** `run`: the agent itself (run.ts); injected so the parser is testable without starting one. */
  readonly runAgent?: (configFile: string) => Promise<number>;
}

const ENVIRONMENT = `
Environment:
  MASKIN_CONFIG        agent config file when --config is not given (default ${DEFAULT_CONFIG})
  MASKIN_ADMIN_TOKEN   bearer token for the admin API when not calling from the agent's host
  MASKIN_LOG_LEVEL     log level of run (trace, debug, info, warn, error)
  MASKIN_DATA_DIR, MASKIN_UPLINK_TOKEN, MASKIN_PUSH_TOKEN   override the config's dataDir and tokens
  NO_COLOR             set to anything: no colour even on a terminal

Exit codes: 0 done, 1 failed (the message says why), 2 usage mistake.
`;

interface ClientFlags {
  config?: string;
  url?: string;
  json?: boolean;
}

const json = (value: unknown): string => JSON.stringify(value, null, 2) + '\n';

/** Runs the command line `argv` (without node and the script); resolves with the exit code. */
export async function cliMain(argv: readonly string[], io: CliIo): Promise<number> {
  const now = io.now ?? (() => new Date());
  const colours: Paint = paint(colourWanted(io.stdout, io.env));
  const out = (text: string): void => {
    io.stdout.write(text);
  };
  let exitCode = 0;
  const client = (flags: ClientFlags): AdminClient => adminClient(adminBase(flags, io.env), io.env, io.fetch);

  const program = new Command('maskin-agent')
    .description('Per-rack edge agent of Maskin: DHCP, TFTP and HTTP netboot of Talos Linux nodes, driven by a signed manifest.')
    .version(agentVersion(), '-V, --version', "print the agent's version")
    .helpOption('-h, --help', 'show help for a command')
    .addHelpText('after', ENVIRONMENT)
    .showHelpAfterError('(maskin-agent --help lists the commands, maskin-agent COMMAND --help shows one)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`maskin-agent: ${s.replace(/^error: /, '')}`),
    })
    .enablePositionalOptions()
    .exitOverride();

  // Flags every command that asks a running agent takes.
  const reader = (cmd: Command, withJson = true): Command => {
    cmd
      .option('-c, --config <file>', `agent config, for the admin port (default: MASKIN_CONFIG, else ${DEFAULT_CONFIG} if present)`)
      .option('--url <url>', 'admin API base URL instead (a reverse proxy prefix is kept)');
    if (withJson) cmd.option('--json', 'print the answer as JSON');
    return cmd;
  };

  program
    .command('run')
    .description('run the agent (DHCP, TFTP, HTTP, uplink) until SIGTERM or SIGINT; SIGHUP reloads a local manifest file')
    .option('-c, --config <file>', `agent config (default: MASKIN_CONFIG, else ${DEFAULT_CONFIG})`)
    .action(async (flags: { config?: string }) => {
      const { file } = configPath(flags.config, io.env);
      if (!io.runAgent) throw new CliError('run is not available here');
      exitCode = await io.runAgent(file);
    });

  program
    .command('check-config')
    .description('validate the agent config and the manifest it names, then ask each dhcp.ntp and dhcp.dns server one question')
    .argument('[file]', `agent config (default: MASKIN_CONFIG, else ${DEFAULT_CONFIG})`)
    .option('-c, --config <file>', 'the same as FILE')
    .option('--no-probe', 'do not ask the NTP and DNS servers, nor listen for other DHCP servers')
    .option('--json', 'print the result as JSON')
    .action(async (file: string | undefined, flags: { config?: string; probe: boolean; json?: boolean }) => {
      const result = await checkConfig(configPath(file ?? flags.config, io.env).file, { probe: flags.probe });
      out(flags.json ? json(result) : formatCheck(result, colours));
    });

  reader(program.command('nodes'))
    .description("the rack's nodes (manifest nodes never seen included), or one node's timeline")
    .argument('[node]', 'node id, MAC or manifest hostname: show its facts, lifecycle and timeline')
    .option('--console', "the node's own console lines (Talos log delivery) instead of its timeline")
    .action(async (node: string | undefined, flags: ClientFlags & { console?: boolean }) => {
      const admin = client(flags);
      if (flags.console) {
        if (node === undefined) throw new CliError('nodes --console needs a node: maskin-agent nodes NODE --console', 2);
        const answer = await admin.request<{ node: string; lines: ConsoleLine[]; dropped: number }>(`v1/nodes/${encodeURIComponent(node)}/console`);
        out(flags.json ? json(answer) : formatConsole(answer.node, answer.lines, answer.dropped));
      } else if (node !== undefined) {
        const record = await admin.request<NodeRecord>(`v1/nodes/${encodeURIComponent(node)}`);
        out(flags.json ? json(record) : formatTimeline(record, colours));
      } else {
        const { nodes } = await admin.request<{ nodes: NodeSummary[] }>('v1/nodes');
        out(flags.json ? json({ nodes }) : formatNodeTable(nodes, now(), colours));
      }
    });

  reader(program.command('node'), false)
    .description(
      'operator action on a node: provision (discovered, failed or held), reprovision (installed, handed-over, failed or held), ' +
        'power-off (nodes with a BMC); rescue (diskless Talos maintenance mode, disks untouched) and exit-rescue on any node',
    )
    .argument('<node>', 'node id, MAC or manifest hostname')
    .addArgument(new Argument('<action>', 'what to do').choices(MANUAL_ACTIONS))
    .action(async (node: string, action: string, flags: ClientFlags) => {
      if (!isManualAction(action)) throw new CliError(`unknown action ${action}; use one of ${MANUAL_ACTIONS.join(', ')}`, 2);
      const answer = await client(flags).request<{ node: string }>(`v1/nodes/${encodeURIComponent(node)}/actions`, { action });
      out(`${action} of node ${answer.node} accepted; follow it with: maskin-agent nodes ${answer.node}\n`);
    });

  reader(program.command('status'))
    .description('the agent: manifest version, source and age, last pull, outbox depth, DHCP mode and other DHCP servers')
    .action(async (flags: ClientFlags) => {
      const status = await client(flags).request<AgentStatus>('v1/status');
      out(flags.json ? json(status) : formatStatus(status, now()));
    });

  const cache = program.command('cache').description('the verified image cache');
  reader(cache.command('status'))
    .description('pinned images: cached, downloading (progress bars on a terminal), missing or failed')
    .addOption(new Option('--watch', 'redraw until no pinned image is downloading or missing; exit 1 if one failed').conflicts('json'))
    .option('--interval <seconds>', 'seconds between redraws with --watch', '1')
    .action(async (flags: ClientFlags & { watch?: boolean; interval: string }) => {
      const admin = client(flags);
      const read = async (): Promise<NonNullable<AgentStatus['cache']>> => {
        const { cache: view } = await admin.request<AgentStatus>('v1/status');
        if (!view) throw new CliError('this agent reports no image cache');
        return view;
      };
      const bars = io.stdout.isTTY === true;
      if (!flags.watch) {
        const view = await read();
        out(flags.json ? json(view) : formatCache(view, { bars, paint: colours }));
        return;
      }
      const interval = Number(flags.interval);
      if (!Number.isFinite(interval) || interval <= 0) throw new CliError(`--interval ${flags.interval}: give a number of seconds above 0`, 2);
      const sleep = io.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
      let shown = '';
      for (;;) {
        const view = await read();
        const text = formatCache(view, { bars, paint: colours });
        if (text !== shown) {
          // On a terminal the previous frame is overwritten in place (cursor up, clear to the end).
          if (bars && shown) out(`\u001b[${shown.split('\n').length - 1}A\u001b[J`);
          out(text);
          shown = text;
        }
        if (cacheSettled(view)) {
          if (view.assets.some((a) => a.state === 'failed')) throw new CliError('a pinned image failed to download; see its line above');
          return;
        }
        await sleep(interval * 1000);
      }
    });

  program
    .command('manifest')
    .description('operator tools for signed manifests: keygen, sign, verify, show (maskin-agent manifest --help)')
    .helpOption(false)
    .passThroughOptions()
    .allowUnknownOption()
    .argument('[args...]', 'keygen | sign | verify | show, then their flags')
    .action(async (args: string[]) => {
      exitCode = await manifestCommand(args, io);
    });

  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return 2;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end in CommanderError too.
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return 0;
      return 2;
    }
    if (err instanceof CliError) {
      io.stderr.write(`maskin-agent: ${err.message}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
