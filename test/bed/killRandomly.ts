// Crash-test harness: runs a child process, waits until it says it is ready, SIGKILLs it at a
// random moment in a window, and returns the complete lines it printed (a line cut by the kill
// does not count: it may not have been acted on).
import { spawn } from 'node:child_process';

export interface KillOptions {
  /** True once the child is doing the work the test wants interrupted. */
  readonly ready: (output: string) => boolean;
  /** Kill this many ms after ready: uniformly in [min, max). */
  readonly killAfterMs: readonly [number, number];
}

export function runAndKill(entry: string, args: readonly string[], opts: KillOptions): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let killTimer: NodeJS.Timeout | undefined;
    const [min, max] = opts.killAfterMs;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!killTimer && opts.ready(out)) killTimer = setTimeout(() => child.kill('SIGKILL'), min + Math.random() * (max - min));
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killTimer);
      if (signal !== 'SIGKILL') return reject(new Error(`${entry} exited ${code ?? signal} before the kill: ${err}`));
      resolve(out.split('\n').slice(0, -1));
    });
  });
}
