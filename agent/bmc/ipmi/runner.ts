// Runs one ipmitool command, bounded: killed (SIGKILL) when it outlives its timeout. The password
// travels in the environment only (ipmitool -E reads IPMI_PASSWORD), never in argv, which any
// local user can read in /proc.
import { spawn } from 'node:child_process';

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Killed by the timeout. */
  readonly timedOut: boolean;
}

export type CommandRunner = (
  cmd: string,
  args: readonly string[],
  opts: { env: Readonly<Record<string, string>>; timeoutMs: number },
) => Promise<CommandResult>;

const MAX_OUTPUT = 1024 * 1024;

export const runCommand: CommandRunner = (cmd, args, opts) =>
  new Promise((resolve) => {
    const child = spawn(cmd, [...args], { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += c.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: `${stderr}${err.message}`, timedOut: false });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
