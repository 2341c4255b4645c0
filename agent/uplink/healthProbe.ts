// The health probes (systeminformation) run in a worker thread, never in the agent's own. Out of
// file descriptors, si.networkStats('*') throws from os.networkInterfaces() inside a
// process.nextTick of its own: an uncaught exception, which no try/catch or .catch of the caller
// can reach and which ends the process. In a worker the same throw ends only the worker; the agent
// sees an 'error' event and a failed probe. A probe that does not answer in time has its worker
// terminated. One worker serves the calls of one snapshot and is terminated once none is pending.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { HealthProbe } from './health.js';

/** CommonJS, evaluated in the worker: runs `module`'s methods as the agent asks and posts what they resolve with. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const probes = require(workerData.module);
parentPort.on('message', ({ id, method, args }) => {
  let result;
  try {
    result = Promise.resolve(probes[method](...args));
  } catch (err) {
    result = Promise.reject(err);
  }
  result.then(
    (value) => parentPort.postMessage({ id, ok: true, value }),
    (err) => parentPort.postMessage({ id, ok: false, error: String((err && err.message) || err) }),
  );
});
`;

export interface IsolatedProbeOptions {
  /** Module whose mem/fsSize/networkStats are called; default systeminformation. */
  readonly module?: string;
  /** A call not answered by then fails and its worker is terminated; default 20 s. */
  readonly timeoutMs?: number;
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

type Reply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: string };

export function isolatedProbe(opts: IsolatedProbeOptions = {}): HealthProbe {
  // Resolved on first use, inside the call's error handling: resolving reads package.json files,
  // which fails (throws) while the process is out of descriptors.
  let module = opts.module;
  const timeoutMs = opts.timeoutMs ?? 20_000;
  let worker: Worker | undefined;
  let nextId = 0;
  const pending = new Map<number, Pending>();

  /** Fails every pending call and lets the worker go. */
  function retire(why: string): void {
    const gone = worker;
    worker = undefined;
    for (const [id, call] of pending) {
      pending.delete(id);
      clearTimeout(call.timer);
      call.reject(new Error(why));
    }
    gone?.removeAllListeners();
    // A listener stays: an error raised while terminating must not reach the process.
    gone?.on('error', () => undefined);
    gone?.terminate().catch(() => undefined);
  }

  function started(): Worker {
    if (worker) return worker;
    module ??= createRequire(import.meta.url).resolve('systeminformation');
    const created = new Worker(WORKER_SOURCE, { eval: true, workerData: { module }, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    created.unref();
    created.on('message', (reply: Reply) => {
      const call = pending.get(reply.id);
      if (!call) return;
      pending.delete(reply.id);
      clearTimeout(call.timer);
      if (reply.ok) call.resolve(reply.value);
      else call.reject(new Error(reply.error));
      if (pending.size === 0 && worker === created) retire('idle');
    });
    // Uncaught in the worker (systeminformation's own throws), or it could not start (EMFILE).
    created.on('error', (err) => worker === created && retire(`health probe worker failed: ${err.message}`));
    created.on('messageerror', (err) => worker === created && retire(`health probe reply unreadable: ${err.message}`));
    created.on('exit', (code) => worker === created && retire(`health probe worker exited with ${code}`));
    worker = created;
    return created;
  }

  function call<T>(method: keyof HealthProbe, args: readonly unknown[]): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let target: Worker;
      try {
        target = started();
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      const id = (nextId += 1);
      const timer = setTimeout(() => worker === target && retire(`health probe ${method} did not answer in ${timeoutMs} ms`), timeoutMs);
      timer.unref();
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      try {
        target.postMessage({ id, method, args });
      } catch (err) {
        retire(`health probe ${method} not sent: ${String(err)}`);
      }
    });
  }

  return {
    mem: () => call('mem', []),
    fsSize: () => call('fsSize', []),
    networkStats: (ifaces?: string) => call('networkStats', ifaces === undefined ? [] : [ifaces]),
  } as HealthProbe;
}
