#!/usr/bin/env node
// maskin-agent command line: run | check-config | nodes | node | status | cache status | manifest
// (agent/cli/program.ts).
import { cliMain } from './cli/program.js';
import { runCommand } from './cli/run.js';

// Anything that still escapes is a bug, not bad input: one line, and the stack only when asked for.
try {
  process.exitCode = await cliMain(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, runAgent: runCommand });
} catch (err) {
  const debug = process.env.MASKIN_LOG_LEVEL === 'debug' || process.env.MASKIN_LOG_LEVEL === 'trace';
  process.stderr.write(
    `maskin-agent: ${debug ? ((err as Error).stack ?? String(err)) : `internal error: ${(err as Error).message ?? String(err)} (MASKIN_LOG_LEVEL=debug shows where)`}\n`,
  );
  process.exitCode = 1;
}
