// Address pool use, read on scrape: per pool (the provisioning subnet's, then each relayed subnet
// by its CIDR) its size and the addresses no current lease or offer holds and no reservation takes.
import type { Registry } from 'prom-client';
import type { AgentConfig } from '../config/model.js';
import { observedGauge } from '../runtime/metrics.js';
import type { LeaseRecord } from './leaseTable.js';
import { allPools, type AddressPool } from './pools.js';

/** Addresses of the pool that are free at `at`: not held by an unexpired lease or offer, not reserved. Pure. */
export function freeInPool(
  pool: Pick<AddressPool, 'start' | 'end'>,
  byIp: (ip: number) => LeaseRecord | undefined,
  reserved: (ip: number) => boolean,
  at: number,
): number {
  let free = 0;
  for (let ip = pool.start; ip <= pool.end; ip++) {
    const lease = byIp(ip);
    if (reserved(ip)) continue;
    if (lease === undefined || lease.state === 'released' || lease.expiresAt <= at) free++;
  }
  return free;
}

export function poolMetrics(
  registry: Registry,
  config: AgentConfig,
  leases: { byIp(ip: number): LeaseRecord | undefined },
  reserved: () => (ip: number) => boolean,
  now: () => number = Date.now,
): void {
  const name = (p: AddressPool): string => p.relay ?? config.provisioning.subnet;
  observedGauge(registry, { name: 'maskin_dhcp_pool_addresses', help: 'Addresses in each DHCP pool', labelNames: ['pool'] }, () =>
    allPools(config).map((p) => [{ pool: name(p) }, Math.max(0, p.end - p.start + 1)]),
  );
  observedGauge(
    registry,
    { name: 'maskin_dhcp_pool_free_addresses', help: 'Addresses of each DHCP pool that no lease, offer or reservation holds', labelNames: ['pool'] },
    () => {
      const isReserved = reserved();
      const at = now();
      return allPools(config).map((p) => [{ pool: name(p) }, freeInPool(p, (ip) => leases.byIp(ip), isReserved, at)]);
    },
  );
}
