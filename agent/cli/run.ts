// `maskin-agent run`: the agent in the foreground, under systemd (Type=notify, watchdog) or a shell.
import { MaskinError } from '../errors.js';
import { runAgent } from '../main.js';
import { createLogger } from '../runtime/log.js';
import { createSystemdNotifier } from '../runtime/systemdNotify.js';
import { loadConfigOrFail } from './client.js';

/** Runs until SIGTERM/SIGINT; resolves with the exit code (and then ends the process: see below). */
export async function runCommand(file: string): Promise<number> {
  const config = loadConfigOrFail(file);
  const log = createLogger({ level: config.logLevel, base: { agent: config.agentId }, env: process.env });
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
  let code = 0;
  try {
    await runAgent(config, log, stop.signal, (agent) => {
      reload = () => agent.reloadManifest();
      systemd.ready(`serving DHCP, TFTP and HTTP on ${config.provisioning.interface} (${config.provisioning.address})`);
    });
    log.info('stopped');
  } catch (err) {
    if (err instanceof MaskinError) log.fatal({ code: err.code }, err.message);
    else log.fatal({ err }, 'agent failed');
    code = 1;
  }
  stopWatchdog();
  // The stores are closed; a service left behind by the supervisor's grace period must not keep
  // the process alive past systemd's stop timeout.
  log.flush();
  process.exit(code);
}
