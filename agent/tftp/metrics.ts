// Prometheus counters of the TFTP service. Without a registry the metrics still count (tests read
// them) but are exposed nowhere.
import type { Counter, Gauge, Registry } from 'prom-client';
import { counter, gauge } from '../runtime/metrics.js';

export interface TftpMetrics {
  readonly dropped: Counter<'reason'>;
  readonly transfers: Counter<'result'>;
  readonly refused: Counter<'reason'>;
  readonly bytes: Counter;
  readonly retransmits: Counter;
  readonly active: Gauge;
}

/** What the gauges read on scrape. */
export interface TftpGaugeSources {
  /** Bytes the file cache holds (files.ts accounting). */
  cacheBytes(): number;
}

export function tftpMetrics(registry: Registry | undefined, sources: TftpGaugeSources): TftpMetrics {
  gauge(registry, {
    name: 'maskin_tftp_cache_bytes',
    help: 'Bytes of served files the TFTP cache holds (file contents per transfer mode), never above its bound',
    collect() {
      this.set(sources.cacheBytes());
    },
  });
  return {
    dropped: counter(registry, {
      name: 'maskin_tftp_dropped_total',
      help: 'TFTP datagrams dropped: malformed, or not expected in the current state',
      labelNames: ['reason'],
    }),
    transfers: counter(registry, {
      name: 'maskin_tftp_transfers_total',
      help: 'TFTP requests by result: ok, failed, not-found, refused',
      labelNames: ['result'],
    }),
    refused: counter(registry, {
      name: 'maskin_tftp_refused_total',
      help:
        'TFTP read requests turned away before a transfer started: client-limit (answered with ERROR 0), ' +
        'server-limit and no-socket (dropped unanswered, so the client retransmits its RRQ)',
      labelNames: ['reason'],
    }),
    bytes: counter(registry, { name: 'maskin_tftp_sent_bytes_total', help: 'File bytes delivered by completed TFTP transfers' }),
    retransmits: counter(registry, { name: 'maskin_tftp_retransmits_total', help: 'TFTP windows or OACKs sent again after a timeout' }),
    active: gauge(registry, { name: 'maskin_tftp_active_transfers', help: 'TFTP transfers in progress' }),
  };
}
