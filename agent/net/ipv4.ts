// IPv4 arithmetic shared by config validation and the DHCP lease pool.

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  let n = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) throw new Error(`not an IPv4 address: ${ip}`);
    const octet = Number(part);
    if (octet > 255) throw new Error(`not an IPv4 address: ${ip}`);
    n = n * 256 + octet;
  }
  return n >>> 0;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export interface Cidr {
  readonly network: number;
  readonly prefix: number;
  readonly mask: number;
}

export function parseCidr(cidr: string): Cidr {
  const [addr, bits] = cidr.split('/');
  const prefix = Number(bits);
  if (addr === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) throw new Error(`not a CIDR: ${cidr}`);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (ipToInt(addr) & mask) >>> 0, prefix, mask };
}

export function inCidr(ip: string | number, cidr: Cidr): boolean {
  const n = typeof ip === 'number' ? ip : ipToInt(ip);
  return ((n & cidr.mask) >>> 0) === cidr.network;
}

export function maskOf(cidr: Cidr): string {
  return intToIp(cidr.mask);
}
