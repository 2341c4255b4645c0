// The lease table's data model and the read-only view the pure policy takes as input. The pool in
// leases.ts owns the table and applies the changes the policy returns.

export type LeaseState = 'offered' | 'bound' | 'released' | 'declined';

export interface LeaseRecord {
  readonly ip: string;
  /** Lower-case colon MAC of the holder; for a declined address, the client that declined it. */
  readonly mac: string;
  readonly state: LeaseState;
  /** ms since the epoch; an offer's hold, a binding's lease end, a decline's quarantine end. */
  readonly expiresAt: number;
}

/** What the policy may ask of the lease table: synchronous reads of the in-memory index. */
export interface LeaseTable {
  byMac(mac: string): LeaseRecord | undefined;
  byIp(ip: number): LeaseRecord | undefined;
  /**
   * An address in [start, end] for a newcomer: never used first, then expired ones (so a MAC that
   * comes back after its lease ran out still finds its old address while there is room).
   */
  freeAddress(start: number, end: number, now: number, reserved: (ip: number) => boolean): number | undefined;
}

/** A change the policy asks for. `bind`, `release` and `decline` must be durable before replying. */
export type LeaseChange =
  | { readonly op: 'offer'; readonly mac: string; readonly ip: string; readonly until: number }
  | { readonly op: 'bind'; readonly mac: string; readonly ip: string; readonly until: number }
  | { readonly op: 'release'; readonly mac: string; readonly ip: string; readonly at: number }
  | { readonly op: 'decline'; readonly mac: string; readonly ip: string; readonly until: number }
  /** The client took another server's offer (RFC 2131 §4.3.2): our hold goes back to the pool. */
  | { readonly op: 'forget-offer'; readonly mac: string; readonly ip: string; readonly at: number };

export function isDurable(change: LeaseChange): boolean {
  return change.op === 'bind' || change.op === 'release' || change.op === 'decline';
}
