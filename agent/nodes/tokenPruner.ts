// Expired boot tokens leave the store once a minute while the agent runs; a failed prune is logged
// and the next one tries again.
import type { Logger } from 'pino';
import type { Service } from '../runtime/service.js';
import { aborted } from '../runtime/wait.js';
import type { BootTokens } from './tokens.js';

export function createTokenPruner(tokens: Pick<BootTokens, 'prune'>, log: Logger, intervalMs = 60_000): Service {
  return {
    name: 'token-pruner',
    async run(stop) {
      const timer = setInterval(() => void tokens.prune().catch((err: unknown) => log.warn({ err }, 'token prune failed')), intervalMs);
      await aborted(stop);
      clearInterval(timer);
    },
  };
}
