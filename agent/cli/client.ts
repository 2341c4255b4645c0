// The CLI's way to a running agent's admin API: which config file, which URL, one joining rule,
// and refusals turned into one line that says why and what to do.
import { existsSync } from 'node:fs';
import { DEFAULT_ADMIN, loadConfigFile } from '../config/load.js';
import type { AgentConfig } from '../config/model.js';
import { MaskinError } from '../errors.js';

/** Where `run` and the other commands look for the agent config when neither --config nor MASKIN_CONFIG names one. */
export const DEFAULT_CONFIG = '/etc/maskin-agent/agent.yaml';

/** A failure the CLI reports in one line and exits with: 1 for a failure, 2 for a usage mistake. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/** --config, else MASKIN_CONFIG, else the default path; `explicit` when the operator named it. */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): { file: string; explicit: boolean } {
  if (flag) return { file: flag, explicit: true };
  if (env.MASKIN_CONFIG) return { file: env.MASKIN_CONFIG, explicit: true };
  return { file: DEFAULT_CONFIG, explicit: false };
}

export function loadConfigOrFail(file: string): AgentConfig {
  try {
    return loadConfigFile(file);
  } catch (err) {
    if (err instanceof MaskinError) throw new CliError(err.message);
    throw err;
  }
}

/**
 * The admin API's base URL: --url, else admin.port of the config named by --config or
 * MASKIN_CONFIG (or the default file when it exists), on loopback; else http://127.0.0.1:9180.
 */
export function adminBase(opts: { url?: string | undefined; config?: string | undefined }, env: NodeJS.ProcessEnv): string {
  if (opts.url) {
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new CliError(`--url ${opts.url}: not a URL; give one such as http://127.0.0.1:8080`, 2);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliError(`--url ${opts.url}: use an http:// or https:// URL`, 2);
    return url.href;
  }
  const { file, explicit } = configPath(opts.config, env);
  if (!explicit && !existsSync(file)) return `http://127.0.0.1:${DEFAULT_ADMIN.port}/`;
  return `http://127.0.0.1:${loadConfigOrFail(file).admin.port}/`;
}

/**
 * The one joining rule: the path is resolved below the base's path, so a trailing slash or none,
 * and a reverse proxy's prefix (http://host/maskin), all give http://host[/maskin]/v1/nodes.
 */
export function joinUrl(base: string, path: string): string {
  const url = new URL(base);
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return new URL(path.replace(/^\/+/, ''), url).href;
}

export interface AdminClient {
  readonly base: string;
  /** GET, or POST of `body` as JSON; the parsed answer, or a CliError with the agent's reason. */
  request<T>(path: string, body?: unknown): Promise<T>;
}

export function adminClient(base: string, env: NodeJS.ProcessEnv, fetcher: typeof fetch = fetch): AdminClient {
  return {
    base,
    async request<T>(path: string, body?: unknown): Promise<T> {
      const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
      if (env.MASKIN_ADMIN_TOKEN) headers.authorization = `Bearer ${env.MASKIN_ADMIN_TOKEN}`;
      const target = joinUrl(base, path);
      let response: Response;
      try {
        response = await fetcher(target, {
          headers,
          signal: AbortSignal.timeout(5000),
          ...(body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) }),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const why = cause?.code ?? cause?.message ?? (err as Error).message;
        throw new CliError(`cannot reach the agent at ${base.replace(/\/$/, '')} (${why}); is it running? pass --config or --url`);
      }
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (!response.ok) {
        const answer = (parsed ?? {}) as { reason?: unknown; fix?: unknown; error?: unknown };
        const reason =
          typeof answer.reason === 'string' ? answer.reason : typeof answer.error === 'string' ? answer.error : `${target} answered ${response.status}`;
        const fix = typeof answer.fix === 'string' ? `; ${answer.fix}` : '';
        throw new CliError(`${reason}${fix}`);
      }
      if (parsed === undefined) throw new CliError(`${target} answered ${response.status} with something that is not JSON; is --url the agent?`);
      return parsed as T;
    },
  };
}
