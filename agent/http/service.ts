// The HTTP surface as a supervised service: listens on httpListen and ports.http (then `ready`
// resolves), closes on stop.
import type { FastifyInstance } from 'fastify';
import type { AgentConfig } from '../config/model.js';
import type { Service } from '../runtime/service.js';
import { aborted } from '../runtime/wait.js';

export function createHttpService(app: FastifyInstance, config: Pick<AgentConfig, 'httpListen' | 'ports'>): Service & { readonly ready: Promise<void> } {
  let listening: () => void = () => undefined;
  let failed: (err: unknown) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    listening = resolve;
    failed = reject;
  });
  ready.catch(() => undefined);
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
