// Address pools: the provisioning subnet's own, and one per relayed subnet chosen by giaddr
// (RFC 2131 §4.3.1: "from the subnet of the relay agent's address").
import type { AgentConfig } from '../config/model.js';
import { inSubnet, ipToInt, parseSubnet, type Subnet } from '../net/ipv4.js';
import { ZERO_IP } from './codec.js';

export interface AddressPool {
  readonly subnet: Subnet;
  /** Inclusive range, as numbers. */
  readonly start: number;
  readonly end: number;
  readonly routers: readonly string[];
  /** The relayed subnet's CIDR; undefined for the provisioning subnet. */
  readonly relay?: string;
}

interface Pools {
  readonly local: AddressPool;
  readonly relayed: readonly AddressPool[];
}

const cache = new WeakMap<AgentConfig, Pools>();

function poolsOf(config: AgentConfig): Pools {
  let pools = cache.get(config);
  if (!pools) {
    pools = {
      local: {
        subnet: parseSubnet(config.provisioning.subnet),
        start: ipToInt(config.dhcp.poolStart),
        end: ipToInt(config.dhcp.poolEnd),
        routers: config.dhcp.routers,
      },
      relayed: config.dhcp.relays.map((r) => ({
        subnet: parseSubnet(r.subnet),
        start: ipToInt(r.poolStart),
        end: ipToInt(r.poolEnd),
        routers: r.routers,
        relay: r.subnet,
      })),
    };
    cache.set(config, pools);
  }
  return pools;
}

/** Every pool this agent hands addresses from: the provisioning subnet's first, then the relayed ones. */
export function allPools(config: AgentConfig): readonly AddressPool[] {
  const pools = poolsOf(config);
  return [pools.local, ...pools.relayed];
}

/**
 * The pool whose subnet holds `ip` as a host this agent serves: the provisioning subnet's, else a
 * relayed subnet's; undefined for any other address, for the subnet's network and broadcast
 * addresses (prefixes up to /30) and for this agent's own address.
 */
export function poolHolding(ip: string, config: AgentConfig): AddressPool | undefined {
  const n = ipToInt(ip);
  if (Number.isNaN(n) || ip === config.provisioning.address) return undefined;
  const pools = poolsOf(config);
  const pool = [pools.local, ...pools.relayed].find((p) => inSubnet(n, p.subnet));
  if (!pool) return undefined;
  const { network, mask } = pool.subnet;
  const broadcast = (network | ~mask) >>> 0;
  // RFC 3021: a /31 has no network or broadcast address (nor has a /32).
  if (mask < 0xfffffffe && (n === network || n === broadcast)) return undefined;
  return pool;
}

/**
 * The pool a request draws from: no giaddr → the provisioning subnet; a giaddr inside the
 * provisioning subnet (a relay on our own segment, as perfdhcp acts) → that too; otherwise the relay
 * pool whose subnet holds giaddr, or undefined when no pool serves that relay.
 */
export function poolFor(giaddr: string, config: AgentConfig): AddressPool | undefined {
  const pools = poolsOf(config);
  if (giaddr === ZERO_IP) return pools.local;
  const gi = ipToInt(giaddr);
  if (inSubnet(gi, pools.local.subnet)) return pools.local;
  return pools.relayed.find((p) => inSubnet(gi, p.subnet));
}
