// The HTTP surfaces as supervised services: the boot server listens on httpListen and ports.http,
// the admin listener on admin.listen's addresses and admin.port (then `ready` resolves); both close on stop.
import { createServer, type Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { AgentConfig } from '../config/model.js';
import { parseSubnet } from '../net/ipv4.js';
import type { Service } from '../runtime/service.js';
import { aborted, sleep } from '../runtime/wait.js';
import { listenPlan, WAIT_TEXT, type Nics } from './adminListen.js';

/** A service's `ready`, and the calls that settle it (a rejection nobody awaits is not unhandled). */
function readiness(): { ready: Promise<void>; listening: () => void; failed: (err: unknown) => void } {
  let listening!: () => void;
  let failed!: (err: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    listening = resolve;
    failed = reject;
  });
  ready.catch(() => undefined);
  return { ready, listening, failed };
}

export function createHttpService(app: FastifyInstance, config: Pick<AgentConfig, 'httpListen' | 'ports'>): Service & { readonly ready: Promise<void> } {
  const { ready, listening, failed } = readiness();
  return {
    name: 'http',
    ready,
    async run(stop) {
      try {
        await app.listen({ host: config.httpListen, port: config.ports.http });
      } catch (err) {
        failed(err);
        throw err;
      }
      listening();
      await aborted(stop);
      await app.close();
    },
  };
}

/** How often admin.listen's NICs are looked at again (an address added, moved or gone). */
export const ADMIN_RECHECK_MS = 30_000;
/** Connections open at once per admin address; an operator's browser and CLI need a handful. */
export const ADMIN_MAX_CONNECTIONS = 128;

export interface AdminServiceDeps {
  readonly config: Pick<AgentConfig, 'admin' | 'provisioning'>;
  readonly log: Logger;
  /** Default: os.networkInterfaces (tests give a changing view). */
  readonly interfaces?: () => Nics;
  readonly recheckMs?: number;
}

/**
 * The admin app on each address admin.listen resolves to (adminListen.ts), one node:http server
 * per address routed into the one fastify instance. Rechecked every ADMIN_RECHECK_MS: an address
 * its NIC lost is closed, a new one opened. The port taken at start is fatal (another agent or
 * service has it); everything later is a warning and a retry.
 */
export function createAdminService(app: FastifyInstance, deps: AdminServiceDeps): Service & { readonly ready: Promise<void>; addresses(): string[] } {
  const { config, log } = deps;
  const port = config.admin.port;
  const nics = deps.interfaces ?? networkInterfaces;
  const side = { subnet: parseSubnet(config.provisioning.subnet), address: config.provisioning.address };
  const servers = new Map<string, Server>();
  const said = new Map<string, string>();
  const { ready, listening, failed } = readiness();

  /** Logs an entry's state once per change: a NIC absent on purpose (no oob0 here) is no flood. */
  const tell = (entry: string, state: string, level: 'info' | 'warn', fields: Record<string, unknown>, msg: string): void => {
    if (said.get(entry) === state) return;
    said.set(entry, state);
    log[level]({ entry, port, ...fields }, msg);
  };

  const open = (address: string): Promise<Server> =>
    new Promise((resolve, reject) => {
      const server = createServer((req, res) => app.routing(req, res));
      server.maxConnections = ADMIN_MAX_CONNECTIONS;
      server.once('error', reject);
      server.listen({ host: address, port }, () => {
        server.off('error', reject);
        server.on('error', (err) => log.warn({ err, address, port }, 'admin listener error'));
        resolve(server);
      });
    });

  const shut = async (server: Server): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Event streams and keep-alive connections would hold close() open.
    server.closeAllConnections();
    await closed;
  };

  async function reconcile(first: boolean): Promise<void> {
    let view: Nics;
    try {
      view = nics();
    } catch (err) {
      log.warn({ err }, 'cannot read the host NICs; the admin listener keeps its addresses');
      return;
    }
    const plan = listenPlan(config.admin.listen, view, side);
    const wanted = new Map(plan.serve.map((s) => [s.address, s.entry]));
    for (const [address, server] of servers)
      if (!wanted.has(address)) {
        servers.delete(address);
        await shut(server);
        log.warn({ address, port }, 'admin listener closed on an address its NIC no longer has (or that moved to the provisioning network)');
      }
    for (const w of plan.waiting)
      tell(
        w.entry,
        w.reason,
        w.reason === 'absent' ? 'info' : 'warn',
        { reason: w.reason },
        `admin.listen ${w.entry}: ${WAIT_TEXT[w.reason]}; looked at again every ${ADMIN_RECHECK_MS / 1000} s`,
      );
    for (const [address, entry] of wanted) {
      if (servers.has(address)) continue;
      try {
        servers.set(address, await open(address));
        tell(entry, `serving ${address}`, 'info', { address }, `admin listener on http://${address}:${port}/`);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (first && code === 'EADDRINUSE')
          throw new Error(`admin.port ${port} is in use on ${address}: another process (or another agent) listens there; stop it or set admin.port`, {
            cause: err,
          });
        tell(entry, `bind ${address} ${code}`, 'warn', { address, err }, `admin listener cannot listen on ${address}:${port} (${code ?? 'error'}); retried`);
      }
    }
  }

  return {
    name: 'admin',
    ready,
    addresses: () => [...servers.keys()],
    async run(stop) {
      try {
        await app.ready();
        await reconcile(true);
      } catch (err) {
        failed(err);
        for (const server of servers.values()) await shut(server);
        throw err;
      }
      listening();
      try {
        while (!stop.aborted) {
          await sleep(deps.recheckMs ?? ADMIN_RECHECK_MS, stop);
          if (!stop.aborted) await reconcile(false);
        }
      } finally {
        for (const server of servers.values()) await shut(server);
        servers.clear();
        await app.close();
      }
    },
  };
}
