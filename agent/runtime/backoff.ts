// Retry pacing towards central, shared by the manifest puller and the report delivery loop.

/**
 * Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): a delay drawn from
 * [0, min(max, initial·2^attempt)), which spreads a rack fleet's retries after a central outage.
 * `attempt` counts from 0; the exponent is clamped so large counts cannot overflow.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  return random() * Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt, 0), 30));
}
