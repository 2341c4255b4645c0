// Anonymous pulls from public registries (ghcr.io, factory.talos.dev) need a Bearer token even for
// public images: the distribution token flow (distribution docs/spec/auth/token.md). A 401 carries
//   WWW-Authenticate: Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:x:pull"
// and GET <realm>?service=..&scope=.. answers { token | access_token, expires_in }.
// Tokens are kept per registry + repository until shortly before they expire.
import { fetch, type Dispatcher } from 'undici';
import { UpstreamError } from '../errors.js';

export interface BearerChallenge {
  readonly realm: string;
  readonly service?: string;
  readonly scope?: string;
}

/** The Bearer challenge in a WWW-Authenticate header, or undefined (Basic, garbage, no realm). */
export function parseBearerChallenge(header: string): BearerChallenge | undefined {
  const m = /^\s*Bearer\s+(.*)$/i.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[1] ?? '').matchAll(/([A-Za-z_]+)=(?:"([^"]*)"|([^\s,"]+))/g)) params[(p[1] ?? '').toLowerCase()] = p[2] ?? p[3] ?? '';
  const realm = params['realm'];
  if (!realm || !/^https?:\/\//.test(realm)) return undefined;
  return { realm, ...(params['service'] ? { service: params['service'] } : {}), ...(params['scope'] ? { scope: params['scope'] } : {}) };
}

/** Tokens without expires_in live 60 s (the spec's default); we renew 10 s early. */
const DEFAULT_TTL_S = 60;
const RENEW_EARLY_MS = 10_000;

export interface TokenCache {
  /** `Bearer <token>` still valid for this repository, if any. */
  cached(image: { registry: string; repository: string }): string | undefined;
  /** Answers a challenge with an anonymous token; undefined when the challenge is not Bearer. */
  answer(image: { registry: string; repository: string }, challenge: string): Promise<string | undefined>;
}

export function createTokenCache(opts: { dispatcher?: Dispatcher | undefined; now: () => Date; timeoutMs: number }): TokenCache {
  const tokens = new Map<string, { value: string; until: number }>();
  const key = (image: { registry: string; repository: string }) => `${image.registry}/${image.repository}`;
  return {
    cached(image) {
      const hit = tokens.get(key(image));
      return hit && hit.until > opts.now().getTime() ? hit.value : undefined;
    },
    async answer(image, header) {
      const challenge = parseBearerChallenge(header);
      if (!challenge) return undefined;
      const url = new URL(challenge.realm);
      if (challenge.service) url.searchParams.set('service', challenge.service);
      url.searchParams.set('scope', challenge.scope ?? `repository:${image.repository}:pull`);
      let res;
      try {
        res = await fetch(url, { signal: AbortSignal.timeout(opts.timeoutMs), ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}) });
      } catch (err) {
        throw new UpstreamError(url.href, `token service unreachable: ${(err as Error).message}`, { cause: err });
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new UpstreamError(url.href, `token service answered HTTP ${res.status}`, { status: res.status });
      }
      const body = (await res.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown; expires_in?: unknown };
      const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined;
      if (!token) throw new UpstreamError(url.href, 'token service answered without a token', { status: res.status });
      const ttl = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TTL_S;
      const value = `Bearer ${token}`;
      tokens.set(key(image), { value, until: opts.now().getTime() + ttl * 1000 - RENEW_EARLY_MS });
      return value;
    },
  };
}
