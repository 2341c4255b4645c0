// Prometheus metrics of the mDNS announcer. Without a registry they still count (tests read them)
// but are exposed nowhere.
import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../runtime/metrics.js';

export interface AnnounceMetrics {
  /** 1 while the agent answers and announces on the interface. */
  readonly up: Gauge<'interface'>;
  readonly failures: Counter<'interface' | 'reason'>;
  readonly dropped: Counter<'reason'>;
  readonly answers: Counter<'kind'>;
  readonly conflicts: Counter<'interface'>;
}

export function announceMetrics(registry: Registry | undefined): AnnounceMetrics {
  return {
    up: gauge(registry, {
      name: 'maskin_announce_up',
      help: 'Whether the agent announces itself over mDNS on the interface (1) or not (0)',
      labelNames: ['interface'],
    }),
    failures: counter(registry, {
      name: 'maskin_announce_failures_total',
      help: 'mDNS announcement failures by interface and reason: no-interface, no-address, provisioning-subnet, bind, socket, send; never fatal',
      labelNames: ['interface', 'reason'],
    }),
    dropped: counter(registry, {
      name: 'maskin_announce_dropped_total',
      help: 'mDNS datagrams not answered: malformed, foreign-source (not from the interface subnet), rate-limited (unicast budget), internal',
      labelNames: ['reason'],
    }),
    answers: counter(registry, {
      name: 'maskin_announce_answers_total',
      help: 'mDNS answers sent by kind: multicast, unicast (QU), legacy-unicast (RFC 6762 6.7), announcement, goodbye',
      labelNames: ['kind'],
    }),
    conflicts: counter(registry, {
      name: 'maskin_announce_conflicts_total',
      help: "Responses from another host claiming this agent's instance or host name with other data",
      labelNames: ['interface'],
    }),
  };
}
