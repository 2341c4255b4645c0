// Whether the provisioning segment already has router advertisements of its own, read from what
// the kernel learnt from them (`ip -6 -j route show dev IF`; with a `proto` filter ip leaves the
// protocol out of its JSON): a router advertising a non-zero lifetime installs a default route with
// protocol "ra", an on-link prefix a route of protocol "kernel" that expires with the prefix's valid
// lifetime (RFC 4861 §6.3.4). Then the agent sends none: the network's own RAs end iPXE's wait.

export interface ForeignRouter {
  /** The advertising router's link-local address, when the route names one. */
  readonly router?: string;
  /** `default`, or the advertised prefix. */
  readonly route: string;
}

interface IpRoute {
  readonly dst?: unknown;
  readonly gateway?: unknown;
  readonly protocol?: unknown;
  readonly expires?: unknown;
}

/** Routes learnt from RAs in `ip -6 -j route` output; anything unparseable reads as none. */
export function foreignRouters(ipJson: string): ForeignRouter[] {
  let routes: unknown;
  try {
    routes = JSON.parse(ipJson);
  } catch {
    return [];
  }
  if (!Array.isArray(routes)) return [];
  const found: ForeignRouter[] = [];
  for (const r of routes as IpRoute[]) {
    if (r === null || typeof r !== 'object' || typeof r.dst !== 'string') continue;
    const advertisedPrefix = r.protocol === 'kernel' && typeof r.expires === 'number' && r.dst !== 'default' && !r.dst.startsWith('fe80:');
    if (r.protocol !== 'ra' && !advertisedPrefix) continue;
    found.push(typeof r.gateway === 'string' ? { route: r.dst, router: r.gateway } : { route: r.dst });
  }
  return found;
}
