// How many servers of a rack the agent powers on at once, and how far apart: a rack of servers
// powering on together draws its inrush current together (and PXE-storms the agent), so power-ons
// go through this gate: at most `concurrency` BMC power sequences in flight, successive starts at
// least `staggerMs` apart.
import type { Clock } from '../runtime/clock.js';

export class PowerGate {
  private active = 0;
  private lastStart = Number.NEGATIVE_INFINITY;
  private readonly waiters: (() => void)[] = [];
  private highWater = 0;

  constructor(
    private readonly concurrency: number,
    private readonly staggerMs: number,
    private readonly clock: Clock,
  ) {}

  /** Resolves with the release function once this caller may power on; undefined if `signal` aborted first. */
  async acquire(signal: AbortSignal): Promise<(() => void) | undefined> {
    for (;;) {
      if (signal.aborted) return undefined;
      if (this.active >= this.concurrency) {
        await new Promise<void>((resolve) => {
          const wake = (): void => {
            signal.removeEventListener('abort', wake);
            // An aborted waiter leaves the queue, so a release wakes a caller still waiting.
            const at = this.waiters.indexOf(wake);
            if (at >= 0) this.waiters.splice(at, 1);
            resolve();
          };
          this.waiters.push(wake);
          signal.addEventListener('abort', wake, { once: true });
        });
        continue;
      }
      const wait = this.lastStart + this.staggerMs - this.clock.now();
      if (wait > 0) {
        await this.clock.sleep(wait, signal);
        continue;
      }
      this.active += 1;
      this.highWater = Math.max(this.highWater, this.active);
      this.lastStart = this.clock.now();
      let released = false;
      return () => {
        if (released) return;
        released = true;
        this.active -= 1;
        this.waiters.shift()?.();
      };
    }
  }

  /** Most power sequences ever in flight at once. */
  peak(): number {
    return this.highWater;
  }
}
