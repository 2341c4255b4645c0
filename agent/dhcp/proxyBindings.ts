// Proxy mode's address evidence. Another server leases the addresses, so the agent learns which
// address a PXE client holds from the client itself: its boot-server REQUEST on port 4011 comes
// from that address (policy.ts, decideBootServer). Kept in memory, bounded, and for one lease time;
// a bound lease of this agent's own DHCP always comes first (withProxyBindings).
import type { LeaseView } from './leaseView.js';

export interface ProxyBindings extends LeaseView {
  /** The client `mac` showed it holds `ip`; replaces its earlier address and any other MAC's claim to `ip`. */
  bind(mac: string, ip: string): void;
  size(): number;
}

interface Binding {
  readonly mac: string;
  readonly ip: string;
  readonly until: number;
}

/** `ttlMs`: how long a binding counts (the lease time); `max`: entries kept, the oldest dropped first. */
export function createProxyBindings(opts: { ttlMs: number; max: number; now?: () => number }): ProxyBindings {
  const now = opts.now ?? Date.now;
  // Insertion order is age order: bind() deletes before it sets.
  const byMac = new Map<string, Binding>();
  const byIp = new Map<string, string>();
  const live = (b: Binding | undefined): Binding | undefined => (b && b.until > now() ? b : undefined);
  return {
    bind(mac, ip) {
      const key = mac.toLowerCase();
      const earlier = byMac.get(key);
      if (earlier) {
        byMac.delete(key);
        if (byIp.get(earlier.ip) === key) byIp.delete(earlier.ip);
      }
      const holder = byIp.get(ip);
      if (holder !== undefined) byMac.delete(holder);
      byMac.set(key, { mac: key, ip, until: now() + opts.ttlMs });
      byIp.set(ip, key);
      while (byMac.size > opts.max) {
        const [oldest, b] = byMac.entries().next().value as [string, Binding];
        byMac.delete(oldest);
        if (byIp.get(b.ip) === oldest) byIp.delete(b.ip);
      }
    },
    ipOf: (mac) => live(byMac.get(mac.toLowerCase()))?.ip,
    macOf(ip) {
      const mac = byIp.get(ip);
      return mac === undefined ? undefined : live(byMac.get(mac))?.mac;
    },
    size: () => byMac.size,
  };
}

/** The agent's own bound leases first, then what proxy clients showed. */
export function withProxyBindings(leases: LeaseView, proxy: LeaseView): LeaseView {
  return {
    ipOf: (mac) => leases.ipOf(mac) ?? proxy.ipOf(mac),
    macOf: (ip) => leases.macOf(ip) ?? proxy.macOf(ip),
  };
}
