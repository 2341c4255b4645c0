// Prometheus counters of the TFTP service. Without a registry the metrics still count (tests read
// them) but are exposed nowhere.
import { Counter, Gauge, type Registry } from 'prom-client';

export interface TftpMetrics {
  readonly dropped: Counter<'reason'>;
  readonly transfers: Counter<'result'>;
  readonly bytes: Counter;
  readonly retransmits: Counter;
  readonly active: Gauge;
}

function reuse<T>(registry: Registry | undefined, name: string, make: (registers: Registry[]) => T): T {
  const existing = registry?.getSingleMetric(name);
  return existing !== undefined ? (existing as T) : make(registry ? [registry] : []);
}

export function tftpMetrics(registry?: Registry): TftpMetrics {
  return {
    dropped: reuse(registry, 'maskin_tftp_dropped_total', (registers) =>
      new Counter({
        name: 'maskin_tftp_dropped_total',
        help: 'TFTP datagrams dropped: malformed, or not expected in the current state',
        labelNames: ['reason'] as const,
        registers,
      }),
    ),
    transfers: reuse(registry, 'maskin_tftp_transfers_total', (registers) =>
      new Counter({
        name: 'maskin_tftp_transfers_total',
        help: 'TFTP requests by result: ok, failed, not-found, refused',
        labelNames: ['result'] as const,
        registers,
      }),
    ),
    bytes: reuse(registry, 'maskin_tftp_sent_bytes_total', (registers) =>
      new Counter({ name: 'maskin_tftp_sent_bytes_total', help: 'File bytes delivered by completed TFTP transfers', registers }),
    ),
    retransmits: reuse(registry, 'maskin_tftp_retransmits_total', (registers) =>
      new Counter({ name: 'maskin_tftp_retransmits_total', help: 'TFTP windows or OACKs sent again after a timeout', registers }),
    ),
    active: reuse(registry, 'maskin_tftp_active_transfers', (registers) =>
      new Gauge({ name: 'maskin_tftp_active_transfers', help: 'TFTP transfers in progress', registers }),
    ),
  };
}
