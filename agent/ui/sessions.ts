// Status page sessions (pure but for the injected clock and randomness): a login with the admin
// token gets a random session id (the cookie) and a CSRF token the page sends back on every
// action. Bounded: the oldest session goes when a new one would exceed the bound.
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'maskin_session';
/** Sessions kept at once; logins beyond it end the oldest. */
export const MAX_SESSIONS = 64;
/** A session lasts 12 hours from its login. */
export const SESSION_TTL_MS = 12 * 3600 * 1000;

export interface Session {
  readonly id: string;
  readonly csrf: string;
  readonly expiresAt: number;
}

export interface Sessions {
  /** A new session for a login that gave the right token. */
  create(): Session;
  /** The live session a cookie header names, if any. */
  fromCookie(header: string | undefined): Session | undefined;
  end(id: string): void;
  size(): number;
}

/** The value of cookie `name` in a Cookie header (RFC 6265 §5.4), or undefined. Pure. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Constant-time equality of two strings (different lengths are unequal, without an early exit on content). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createSessions(opts: { now?: () => number; random?: (bytes: number) => Buffer; max?: number; ttlMs?: number } = {}): Sessions {
  const now = opts.now ?? Date.now;
  const random = opts.random ?? randomBytes;
  const max = opts.max ?? MAX_SESSIONS;
  const ttl = opts.ttlMs ?? SESSION_TTL_MS;
  // Insertion order is login order: the first entry is the oldest.
  const live = new Map<string, Session>();
  const prune = (): void => {
    const t = now();
    for (const [id, s] of live) if (s.expiresAt <= t) live.delete(id);
  };
  return {
    create() {
      prune();
      while (live.size >= max) live.delete(live.keys().next().value as string);
      const session = { id: random(32).toString('hex'), csrf: random(32).toString('hex'), expiresAt: now() + ttl };
      live.set(session.id, session);
      return session;
    },
    fromCookie(header) {
      const id = cookieValue(header, SESSION_COOKIE);
      if (!id || !/^[0-9a-f]{64}$/.test(id)) return undefined;
      const session = live.get(id);
      if (!session) return undefined;
      if (session.expiresAt <= now()) {
        live.delete(id);
        return undefined;
      }
      return session;
    },
    end(id) {
      live.delete(id);
    },
    size: () => live.size,
  };
}
