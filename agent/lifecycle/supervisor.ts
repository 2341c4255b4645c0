// Every long-running part of the agent is a Service run under one supervisor: when one fails, all
// are stopped; SIGTERM stops all cleanly.
import type { Logger } from 'pino';

export interface Service {
  readonly name: string;
  /** Resolves when the service has stopped after `signal` aborted; rejects on a fatal failure. */
  run(signal: AbortSignal): Promise<void>;
}

export async function supervise(services: readonly Service[], signal: AbortSignal, log: Logger): Promise<void> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  let failure: unknown;
  await Promise.all(
    services.map(async (service) => {
      try {
        await service.run(stop.signal);
        if (!stop.signal.aborted) {
          failure ??= new Error(`service ${service.name} stopped unexpectedly`);
          stop.abort(failure);
        }
      } catch (err) {
        log.error({ err, service: service.name }, 'service failed; stopping the agent');
        failure ??= err;
        stop.abort(err);
      }
    }),
  );
  signal.removeEventListener('abort', onAbort);
  if (failure !== undefined) throw failure;
}

/** Resolves when the signal aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * Resolves after `ms`, when `signal` aborts, or when `hook`'s wake-up is called, whichever is
 * first: the one wait every service loop uses, so stopping the agent never waits out a timer.
 */
export function sleep(ms: number, signal: AbortSignal, hook?: (wakeUp: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    hook?.(done);
  });
}
