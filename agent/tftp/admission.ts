// Admission of TFTP read requests. Every accepted transfer holds a UDP socket of its own (its TID,
// RFC 1350 §4), a file descriptor and timers until it ends, so how many run at once is bounded,
// server-wide and per client address. `admit` is the pure decision; TransferSlots is the counter
// the server keeps, whose table only holds addresses with a transfer in progress.

export interface AdmissionLimits {
  /** Transfers in progress at once, all clients together. */
  readonly maxTransfers: number;
  /** Transfers in progress at once from one client address. */
  readonly maxTransfersPerClient: number;
}

/** Why a request is turned away: this address already holds its share, or the server is full. */
export type Refusal = 'client-limit' | 'server-limit';

export interface Load {
  /** Transfers in progress, all clients. */
  readonly total: number;
  /** Transfers in progress from the requesting address. */
  readonly client: number;
}

/**
 * Undefined admits the request. The per-client bound is checked first: a client over its share is
 * told so even while the server is full, and never takes a slot another client could use.
 */
export function admit(load: Load, limits: AdmissionLimits): Refusal | undefined {
  if (load.client >= limits.maxTransfersPerClient) return 'client-limit';
  if (load.total >= limits.maxTransfers) return 'server-limit';
  return undefined;
}

/** An admitted transfer's place; release() is idempotent. */
export interface Slot {
  release(): void;
}

export type Taken = { readonly ok: true; readonly slot: Slot } | { readonly ok: false; readonly reason: Refusal };

export class TransferSlots {
  private total = 0;
  /** Addresses with at least one transfer in progress: never more entries than maxTransfers. */
  private readonly byClient = new Map<string, number>();

  constructor(private readonly limits: AdmissionLimits) {}

  take(client: string): Taken {
    const held = this.byClient.get(client) ?? 0;
    const refusal = admit({ total: this.total, client: held }, this.limits);
    if (refusal !== undefined) return { ok: false, reason: refusal };
    this.total += 1;
    this.byClient.set(client, held + 1);
    let released = false;
    return {
      ok: true,
      slot: {
        release: () => {
          if (released) return;
          released = true;
          this.total -= 1;
          const left = (this.byClient.get(client) ?? 1) - 1;
          if (left > 0) this.byClient.set(client, left);
          else this.byClient.delete(client);
        },
      },
    };
  }

  /** Transfers in progress. */
  active(): number {
    return this.total;
  }

  /** Addresses with a transfer in progress. */
  clients(): number {
    return this.byClient.size;
  }
}
