// IPv4 addresses as unsigned 32-bit numbers, for the DHCP lease pool (hot path: no throwing,
// NaN for a malformed address) and for config validation; and whether an HTTP caller is loopback.

export function ipToInt(ip: string): number {
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || octet > 255) return Number.NaN;
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      octet = octet * 10 + (c - 48);
      digits++;
    } else {
      return Number.NaN;
    }
  }
  if (dots !== 3 || digits === 0 || octet > 255) return Number.NaN;
  return (n * 256 + octet) >>> 0;
}

export function intToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export interface Subnet {
  readonly network: number;
  readonly mask: number;
  /** Dotted mask, for option 1. */
  readonly maskIp: string;
}

export function parseSubnet(cidr: string): Subnet {
  const slash = cidr.indexOf('/');
  const prefix = Number(cidr.slice(slash + 1));
  const base = ipToInt(cidr.slice(0, slash));
  if (slash < 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > 32 || Number.isNaN(base)) {
    throw new Error(`not a CIDR: ${cidr}`);
  }
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (base & mask) >>> 0, mask, maskIp: intToIp(mask) };
}

export function inSubnet(ip: number, subnet: Subnet): boolean {
  return (ip & subnet.mask) >>> 0 === subnet.network;
}

/** The subnet of an interface address as os.networkInterfaces() gives it (address and CIDR; a /32 without one). */
export function nicSubnet(nic: { readonly address: string; readonly cidr: string | null }): Subnet {
  const prefix = nic.cidr ? Number(nic.cidr.split('/')[1]) : 32;
  return parseSubnet(`${nic.address}/${prefix}`);
}

/** Whether two subnets share an address: one lies inside the other. */
export function subnetsOverlap(a: Subnet, b: Subnet): boolean {
  return inSubnet(a.network, b) || inSubnet(b.network, a);
}

/** Whether `ip` (as a socket reports it: IPv4, IPv6, or IPv4-mapped IPv6) is a loopback address. */
export function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');
}
