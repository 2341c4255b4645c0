// Bearer-token checks for the admin and push routes, in constant time.
import { timingSafeEqual } from 'node:crypto';

/** Whether an Authorization header is exactly `Bearer <token>`; no header never matches. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header ?? '');
  const expected = Buffer.from(`Bearer ${token}`);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
