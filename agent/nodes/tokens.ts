// Per-boot tokens for machine configs: issued with the install script, bound to the
// node's MAC, its leased address and a time window; a newer boot supersedes older tokens. Only a
// SHA-256 of each token is stored, so the store never holds a usable secret URL.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { BootTokenError } from '../errors.js';
import type { Sublevel } from '../store/store.js';

export interface BootGrant {
  readonly nodeId: string;
  readonly mac: string;
  readonly ip: string;
  readonly generation: number;
  readonly expiresAt: number;
  /** What the boot is for; absent: an install. A wipe boot's token reports only, and fetches no config. */
  readonly purpose?: 'wipe';
}

const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex');

export class BootTokens {
  private readonly grants = new Map<string, BootGrant>();

  private constructor(
    private readonly store: Sublevel<BootGrant>,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  static async open(store: Sublevel<BootGrant>, ttlSeconds: number, now: () => number = Date.now): Promise<BootTokens> {
    const tokens = new BootTokens(store, ttlSeconds * 1000, now);
    for await (const [hash, grant] of store.iterator()) tokens.grants.set(hash, grant);
    await tokens.prune();
    return tokens;
  }

  /** `ttlSeconds` overrides the configured lifetime (a manifest's bootTokenTtlSeconds). */
  async issue(grant: Omit<BootGrant, 'expiresAt'>, ttlSeconds?: number): Promise<string> {
    const token = randomBytes(24).toString('base64url');
    const batch = this.store.batch();
    for (const [hash, old] of this.grants) {
      if (old.nodeId === grant.nodeId) {
        this.grants.delete(hash);
        batch.del(hash);
      }
    }
    const full: BootGrant = { ...grant, expiresAt: this.now() + (ttlSeconds !== undefined ? ttlSeconds * 1000 : this.ttlMs) };
    const hash = hashOf(token);
    this.grants.set(hash, full);
    batch.put(hash, full);
    // Durable before the script carrying it goes out: a restart must not strand an installing node.
    await batch.write({ sync: true });
    return token;
  }

  /**
   * Throws BootTokenError unless the token is live and presented from `ip`: the address it was
   * issued to while the node's MAC still holds it, or an address leased now to another of the
   * node's MACs (`siblingIps`). Talos runs DHCP on every link with carrier, so with two NICs on
   * the provisioning network its config fetch may leave through either.
   */
  check(token: string, ip: string, leasedIpOf: (mac: string) => string | undefined, siblingIps: (grant: BootGrant) => readonly string[] = () => []): BootGrant {
    if (!/^[A-Za-z0-9_-]{16,64}$/.test(token)) throw new BootTokenError('unknown');
    const grant = this.grants.get(hashOf(token));
    if (!grant) throw new BootTokenError('unknown');
    if (grant.expiresAt <= this.now()) throw new BootTokenError('expired');
    const expected = leasedIpOf(grant.mac) ?? grant.ip;
    const own = sameText(ip, expected) && sameText(ip, grant.ip);
    if (!own && !siblingIps(grant).some((sibling) => sameText(ip, sibling))) throw new BootTokenError('wrong-address');
    return grant;
  }

  async prune(): Promise<void> {
    const now = this.now();
    const batch = this.store.batch();
    let n = 0;
    for (const [hash, grant] of this.grants) {
      if (grant.expiresAt <= now) {
        this.grants.delete(hash);
        batch.del(hash);
        n += 1;
      }
    }
    if (n > 0) await batch.write();
    else await batch.close();
  }
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
