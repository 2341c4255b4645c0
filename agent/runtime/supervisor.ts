// Every long-running part of the agent is a Service run under one supervisor: when one fails, all
// are stopped; SIGTERM stops all cleanly. A service that does not stop within the grace period is
// named in the log and left behind, so the agent still exits inside systemd's stop timeout.
import type { Logger } from 'pino';
import type { Service } from './service.js';

export interface SuperviseOptions {
  /** How long stopping may take before the supervisor stops waiting (default 4 s). */
  readonly graceMs?: number;
}

/** Why the agent stops, for the log: a signal name, or the failure that stopped it. */
function stopReason(reason: unknown): Record<string, unknown> {
  if (typeof reason === 'string') return { signal: reason };
  if (reason instanceof Error) return { reason: reason.message };
  return {};
}

export async function supervise(services: readonly Service[], signal: AbortSignal, log: Logger, opts: SuperviseOptions = {}): Promise<void> {
  const stop = new AbortController();
  const running = new Set(services.map((s) => s.name));
  let graceTimer: NodeJS.Timeout | undefined;
  let gaveUp: () => void = () => {};
  const graceOver = new Promise<void>((resolve) => (gaveUp = resolve));
  stop.signal.addEventListener(
    'abort',
    () => {
      log.info(stopReason(stop.signal.reason), 'stopping');
      const graceMs = opts.graceMs ?? 4000;
      graceTimer = setTimeout(() => {
        log.warn({ services: [...running], graceMs }, 'services still stopping after the grace period; not waiting for them');
        gaveUp();
      }, graceMs);
      graceTimer.unref();
    },
    { once: true },
  );
  const onAbort = (): void => stop.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  let failure: unknown;
  const all = Promise.all(
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
      } finally {
        running.delete(service.name);
      }
    }),
  );
  await Promise.race([all, graceOver]);
  clearTimeout(graceTimer);
  signal.removeEventListener('abort', onAbort);
  if (failure !== undefined) throw failure;
}
