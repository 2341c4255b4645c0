// The HTTP surface as a supervised service: listens on httpListen and ports.http, closes on stop.
import type { FastifyInstance } from 'fastify';
import type { AgentConfig } from '../config/model.js';
import type { Service } from '../runtime/service.js';
import { aborted } from '../runtime/wait.js';

export function createHttpService(app: FastifyInstance, config: Pick<AgentConfig, 'httpListen' | 'ports'>): Service {
  return {
    name: 'http',
    async run(stop) {
      await app.listen({ host: config.httpListen, port: config.ports.http });
      await aborted(stop);
      await app.close();
    },
  };
}
