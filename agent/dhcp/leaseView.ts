// Read-only view of the DHCP lease table for other subsystems (HTTP binds boot tokens to the
// leased address; TFTP attributes transfers to a MAC).

export interface LeaseView {
  /** Address currently leased (bound) to this MAC, if any. */
  ipOf(mac: string): string | undefined;
  /** MAC holding this address, if any. */
  macOf(ip: string): string | undefined;
}

export const emptyLeaseView: LeaseView = { ipOf: () => undefined, macOf: () => undefined };
