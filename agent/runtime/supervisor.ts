// Every long-running part of the agent is a Service run under one supervisor: when one fails, all
// are stopped; SIGTERM stops all cleanly.
import type { Logger } from 'pino';
import type { Service } from './service.js';

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
