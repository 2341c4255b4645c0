// Bearer-token checks for the admin and push routes (RFC 6750 §2.1), in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * Whether an Authorization header carries `token` under the Bearer scheme: the scheme name in any
 * case (RFC 9110 §11.1), one or more spaces (§11.4), then exactly the token. The token is compared
 * by SHA-256 digest in constant time, so the timing shows neither its bytes nor its length. No
 * header never matches.
 */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = header === undefined ? null : /^([^ ]+) +(.*)$/.exec(header);
  const given = m !== null && m[1]!.toLowerCase() === 'bearer' ? m[2]! : undefined;
  // Compared even without a Bearer credential, so a malformed header takes as long as a wrong token.
  const same = timingSafeEqual(digest(given ?? ''), digest(token));
  return given !== undefined && given !== '' && same;
}
