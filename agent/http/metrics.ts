// Prometheus counters of the HTTP surface: requests refused (by reason), requests over a per-source
// rate limit (by route group), and refusal log lines held back by the per-source log budget.
import type { Counter, Registry } from 'prom-client';
import { counter } from '../runtime/metrics.js';

/** Why a request was refused; the `reason` label of maskin_http_refused_total. */
export type RefusalReason = 'not-found' | 'bad-url' | 'non-canonical' | 'directory' | 'hidden' | 'outside-root' | 'boot-token' | 'admin-auth' | 'push-auth';

export interface HttpMetrics {
  readonly refused: Counter<'reason'>;
  readonly rateLimited: Counter<'group'>;
  readonly logLinesSuppressed: Counter;
}

export function httpMetrics(registry?: Registry): HttpMetrics {
  return {
    refused: counter(registry, {
      name: 'maskin_http_refused_total',
      help: 'HTTP requests refused, by reason: not-found, bad-url, non-canonical, hidden, outside-root, boot-token, admin-auth, push-auth',
      labelNames: ['reason'],
    }),
    rateLimited: counter(registry, {
      name: 'maskin_http_rate_limited_total',
      help: 'HTTP requests answered 429 for being over their per-source limit, by route group: boot-token, admin, push',
      labelNames: ['group'],
    }),
    logLinesSuppressed: counter(registry, {
      name: 'maskin_http_log_lines_suppressed_total',
      help: 'Log lines about refused HTTP requests not written because their source had used its budget for the window',
    }),
  };
}
