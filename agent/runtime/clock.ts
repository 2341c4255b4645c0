// Time as the provisioner sees it: injected, so step timeouts, backoff and the power-on stagger are
// testable without waiting (test/provision/fakeClock.ts).
import { sleep } from './wait.js';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const systemClock: Clock = { now: () => Date.now(), sleep: (ms, signal) => sleep(ms, signal) };
