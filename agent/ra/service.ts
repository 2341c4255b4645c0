// The router-advertisement service: runs Debian's radvd with radvdConf() on provisioning.interface
// while the segment has no router advertisements of its own (foreignRouters()), so iPXE's IPv6
// autoconfiguration ends at once. Nothing here is needed for provisioning: a missing radvd, a
// crash or a foreign router is a log line, a metric and a recheck, never a stop of the agent.
import { spawn as spawnChild, execFile, type ChildProcess } from 'node:child_process';
import { access, constants, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AgentConfig } from '../config/model.js';
import { gauge } from '../runtime/metrics.js';
import type { Service } from '../runtime/service.js';
import { aborted, sleep } from '../runtime/wait.js';
import { foreignRouters, type ForeignRouter } from './foreignRouters.js';
import { radvdConf } from './radvdConf.js';

/** How often the segment is looked at again for routers of its own (and a stopped radvd restarted). */
export const RECHECK_MS = 30_000;
/** A radvd that exits within this long of its start counts as failing to start. */
const QUICK_EXIT_MS = 60_000;
export const MAX_RETRY_MS = 600_000;
/** radvd's last stderr lines kept for the log line when it exits. */
const TAIL_LINES = 10;
const TAIL_LINE_CHARS = 300;

export type RaState = 'off' | 'no-radvd' | 'sending' | 'foreign-router' | 'restarting';

export interface RaDeps {
  readonly config: AgentConfig;
  readonly log: Logger;
  readonly registry?: Registry;
  /** Folder for radvd.conf and its pid file (below dataDir). */
  readonly dir: string;
  readonly recheckMs?: number;
  /** `ip -6 -j route show dev IF` output (tests may give a fixed one). */
  readonly routes?: (iface: string) => Promise<string>;
  /** net.ipv6.conf.IF.accept_ra, undefined when unreadable. */
  readonly acceptRa?: (iface: string) => Promise<number | undefined>;
}

function ipRoutes(iface: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('ip', ['-6', '-j', 'route', 'show', 'dev', iface], { timeout: 5000, maxBuffer: 1024 * 1024 }, (err, stdout) => resolve(err ? '[]' : stdout));
  });
}

/**
 * The kernel's accept_ra for the interface; undefined when unreadable or when systemd-networkd
 * manages the link (its state file names a .network): networkd takes RAs in userspace with
 * accept_ra 0 and installs their routes as `proto ra` itself (IPv6AcceptRA=).
 */
async function sysctlAcceptRa(iface: string): Promise<number | undefined> {
  try {
    const index = (await readFile(path.join('/sys/class/net', iface, 'ifindex'), 'utf8')).trim();
    const state = await readFile(path.join('/run/systemd/netif/links', index), 'utf8').catch(() => '');
    if (/^NETWORK_FILE=./m.test(state)) return undefined;
  } catch {
    // no such interface: the sysctl read below says so too
  }
  try {
    const n = Number((await readFile(path.join('/proc/sys/net/ipv6/conf', iface, 'accept_ra'), 'utf8')).trim());
    return Number.isInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export function createRaService(deps: RaDeps): Service {
  const { config, log } = deps;
  const settings = config.routerAdvertisements;
  const iface = config.provisioning.interface;
  const sending = gauge(deps.registry, {
    name: 'maskin_ra_sending',
    help: 'Whether the agent sends router advertisements for iPXE on the provisioning interface (1) or not (0); see the log for why not',
  });
  const routes = deps.routes ?? ipRoutes;
  const acceptRa = deps.acceptRa ?? sysctlAcceptRa;
  let state: RaState | undefined;
  const enter = (next: RaState, fields: Record<string, unknown>, message: string, level: 'info' | 'warn' = 'info'): void => {
    sending.set(next === 'sending' ? 1 : 0);
    if (next === state) return;
    state = next;
    log[level]({ interface: iface, state: next, ...fields }, message);
  };

  return {
    name: 'router-advertisements',
    async run(signal) {
      if (settings.mode === 'off') {
        enter('off', {}, 'router advertisements off (routerAdvertisements.mode): iPXE waits about 12 s for IPv6 on every boot');
        return aborted(signal);
      }
      try {
        await access(settings.radvd, constants.X_OK);
      } catch {
        enter(
          'no-radvd',
          { radvd: settings.radvd, fix: 'install Debian package radvd, or set routerAdvertisements.radvd or mode: off' },
          'router advertisements off: radvd not found; iPXE waits about 12 s for IPv6 on every boot',
          'warn',
        );
        return aborted(signal);
      }
      const confPath = path.join(deps.dir, 'radvd.conf');
      await mkdir(deps.dir, { recursive: true });
      await writeFile(confPath, radvdConf({ interface: iface, maxIntervalSeconds: settings.maxIntervalSeconds }));
      if ((await acceptRa(iface)) === 0)
        log.info({ interface: iface }, 'net.ipv6.conf accept_ra is 0 on the provisioning interface: other routers on the segment cannot be seen');

      let child: ChildProcess | undefined;
      let exited: Promise<void> = Promise.resolve();
      const start = (): void => {
        const tail: string[] = [];
        let proc: ChildProcess;
        try {
          proc = spawnChild(settings.radvd, ['-n', '-m', 'stderr', '-C', confPath, '-p', path.join(deps.dir, 'radvd.pid')], {
            stdio: ['ignore', 'ignore', 'pipe'],
          });
        } catch (err) {
          enter('restarting', { reason: (err as Error).message }, 'radvd could not be started; retrying', 'warn');
          return;
        }
        child = proc;
        proc.stderr?.setEncoding('utf8');
        proc.stderr?.on('data', (chunk: string) => {
          for (const line of chunk.split('\n').filter(Boolean)) {
            tail.push(line.slice(0, TAIL_LINE_CHARS));
            if (tail.length > TAIL_LINES) tail.shift();
          }
        });
        exited = new Promise((resolve) => {
          proc.once('error', (err) => {
            if (child === proc) child = undefined;
            enter('restarting', { reason: err.message }, 'radvd could not be started; retrying', 'warn');
            resolve();
          });
          proc.once('exit', (code, sig) => {
            if (child === proc) {
              child = undefined;
              if (!signal.aborted) enter('restarting', { code, signal: sig, radvd: tail.join('\n') }, 'radvd exited; restarting it', 'warn');
            }
            resolve();
          });
        });
        enter('sending', { maxIntervalSeconds: settings.maxIntervalSeconds }, 'sending router advertisements for iPXE (lifetime 0, no prefix, M=O=0)');
      };
      const stop = async (): Promise<void> => {
        const proc = child;
        if (!proc) return;
        child = undefined;
        proc.kill('SIGTERM');
        const killer = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(killer);
      };

      const recheckMs = deps.recheckMs ?? RECHECK_MS;
      // radvd that keeps exiting soon after its start (no link-local address yet, no CAP_NET_RAW)
      // is retried less and less often, up to every MAX_RETRY_MS.
      let quickExits = 0;
      let startedAt = 0;
      try {
        while (!signal.aborted) {
          const foreign: ForeignRouter[] = foreignRouters(await routes(iface));
          if (foreign.length > 0) {
            await stop();
            enter('foreign-router', { routers: foreign.slice(0, 4) }, 'the segment has router advertisements of its own: sending none');
          } else if (!child) {
            if (startedAt > 0) quickExits = Date.now() - startedAt < QUICK_EXIT_MS ? quickExits + 1 : 0;
            if (quickExits > 0) {
              await sleep(Math.min(MAX_RETRY_MS, recheckMs * 2 ** Math.min(quickExits - 1, 16)), signal);
              if (signal.aborted) break;
            }
            startedAt = Date.now();
            start();
          }
          await sleep(recheckMs, signal);
        }
      } finally {
        await stop();
      }
    },
  };
}
