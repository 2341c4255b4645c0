// Prometheus counters of the HTTP surface: requests refused (by reason), requests over a per-source
// rate limit (by route group), and refusal log lines held back by the per-source log budget.
import type { Counter, Registry } from 'prom-client';
import { counter } from '../runtime/metrics.js';

/** Why a request was refused; the `reason` label of maskin_http_refused_total. */
export type RefusalReason = 'not-found' | 'bad-url' | 'non-canonical' | 'directory' | 'hidden' | 'outside-root' | 'boot-token' | 'admin-auth' | 'push-auth';

export interface HttpMetrics {
  readonly refused: Counter<'reason'>;
}

export function httpMetrics(registry?: Registry): HttpMetrics {
  return {
    refused: counter(registry, {
      name: 'maskin_http_refused_total',
      help: 'HTTP requests refused, by reason: not-found, bad-url, non-canonical, directory, hidden, outside-root, boot-token, admin-auth, push-auth',
      labelNames: ['reason'],
    }),
  };
}
