// Waits every service loop uses, so stopping the agent never waits out a timer.

/** Resolves when the signal aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * Resolves after `ms`, when `signal` aborts, or when `hook`'s wake-up is called, whichever is
 * first: the one wait every service loop uses, so stopping the agent never waits out a timer.
 */
export function sleep(ms: number, signal: AbortSignal, hook?: (wakeUp: () => void) => void): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    hook?.(done);
  });
}
