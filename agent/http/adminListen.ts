// Where the admin listener serves: admin.listen's IPv4 addresses and NICs, resolved against the
// host's interfaces as they are now. A NIC found on the provisioning network (under any name: a
// bridge, a VLAN) is never served on, whatever the config says; load.ts refuses the rest.
import type { NetworkInterfaceInfo } from 'node:os';
import { isIPv4 } from 'node:net';
import { inSubnet, ipToInt, isLoopback, nicSubnet, subnetsOverlap, type Subnet } from '../net/ipv4.js';

export type Nics = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** Why an entry of admin.listen has no address to serve on now. */
export type WaitReason = 'absent' | 'no-address' | 'provisioning';

export interface ListenPlan {
  /** Addresses to listen on, each once, with the entry that named it. */
  readonly serve: readonly { readonly entry: string; readonly address: string }[];
  readonly waiting: readonly { readonly entry: string; readonly reason: WaitReason }[];
}

export interface ProvisioningSide {
  readonly subnet: Subnet;
  readonly address: string;
}

export const WAIT_TEXT: Readonly<Record<WaitReason, string>> = {
  absent: 'not on this host (yet)',
  'no-address': 'the NIC has no IPv4 address yet',
  provisioning: 'the NIC is on the provisioning network; the admin API is never served there',
};

function onProvisioning(addrs: readonly NetworkInterfaceInfo[], side: ProvisioningSide): boolean {
  return addrs.some((a) => a.family === 'IPv4' && (a.address === side.address || subnetsOverlap(nicSubnet(a), side.subnet)));
}

export function listenPlan(listen: readonly string[], nics: Nics, side: ProvisioningSide): ListenPlan {
  const serve: { entry: string; address: string }[] = [];
  const waiting: { entry: string; reason: WaitReason }[] = [];
  const seen = new Set<string>();
  const add = (entry: string, address: string): void => {
    if (seen.has(address)) return;
    seen.add(address);
    serve.push({ entry, address });
  };
  const all = Object.values(nics).flatMap((list) => list ?? []);
  for (const entry of listen) {
    if (isIPv4(entry)) {
      // An address on the provisioning network is refused at load; one that moved there since is skipped.
      if (inSubnet(ipToInt(entry), side.subnet)) waiting.push({ entry, reason: 'provisioning' });
      // Linux answers for every 127/8 address on lo (RFC 1122 §3.2.1.3), assigned or not.
      else if (isLoopback(entry) || all.some((a) => a.address === entry)) add(entry, entry);
      else waiting.push({ entry, reason: 'absent' });
      continue;
    }
    const addrs = nics[entry];
    if (!addrs) {
      waiting.push({ entry, reason: 'absent' });
      continue;
    }
    if (onProvisioning(addrs, side)) {
      waiting.push({ entry, reason: 'provisioning' });
      continue;
    }
    const v4 = addrs.filter((a) => a.family === 'IPv4');
    if (v4.length === 0) waiting.push({ entry, reason: 'no-address' });
    for (const a of v4) add(entry, a.address);
  }
  return { serve, waiting };
}
