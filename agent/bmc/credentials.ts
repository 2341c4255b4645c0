// BMC credentials: the manifest only names them (bmc.credentialsRef, default the node id); the
// secret comes from the environment (MASKIN_BMC_<NAME>_USERNAME/_PASSWORD, collected by the
// config loader) or the local secrets file (bmc.secretsFile), read on every use so an operator can
// add an entry without restarting the agent. The password is a non-enumerable property: it is
// never serialised into a log line, a report or an API answer, even by accident.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { BmcSettings } from '../config/model.js';
import { BmcCredentialsError } from '../errors.js';
import type { NodeSpec } from '../manifest/model.js';
import type { BmcCredentials } from './driver.js';

export interface BmcSecret extends BmcCredentials {
  /** PEM CA the BMC's TLS certificate must chain to (Redfish). */
  readonly caFile?: string;
  /** Accept any TLS certificate: explicit, and warned about by the driver. */
  readonly insecure?: boolean;
}

export type CredentialResolver = (node: NodeSpec) => BmcSecret;

/** The env NAME for a reference: upper case, anything but letters and digits as `_`. */
export const envNameOf = (ref: string): string => ref.toUpperCase().replace(/[^A-Z0-9]/g, '_');

function secret(username: string, password: string, extra: { caFile?: string; insecure?: boolean } = {}): BmcSecret {
  const out = { username, ...extra } as BmcSecret;
  Object.defineProperty(out, 'password', { value: password, enumerable: false });
  return out;
}

export function createCredentialResolver(settings: BmcSettings): CredentialResolver {
  const where =
    settings.secretsFile !== undefined
      ? `the BMC secrets file ${settings.secretsFile} or the environment`
      : 'the environment (no bmc.secretsFile is configured)';
  return (node) => {
    const ref = node.bmc?.credentialsRef ?? node.id;
    const fromEnv = settings.envCredentials[envNameOf(ref)];
    if (fromEnv) return secret(fromEnv.username, fromEnv.password);
    if (settings.secretsFile === undefined) throw new BmcCredentialsError(ref, where);
    let entries: unknown;
    try {
      entries = parseYaml(readFileSync(settings.secretsFile, 'utf8'));
    } catch (err) {
      throw new BmcCredentialsError(ref, `${where}: the file cannot be read or parsed (${(err as Error).message.split('\n')[0]})`);
    }
    const entry = entries !== null && typeof entries === 'object' && Object.hasOwn(entries, ref) ? (entries as Record<string, unknown>)[ref] : undefined;
    if (entry === undefined) throw new BmcCredentialsError(ref, where);
    const e = entry as { username?: unknown; password?: unknown; caFile?: unknown; insecure?: unknown };
    if (
      typeof e.username !== 'string' ||
      e.username === '' ||
      typeof e.password !== 'string' ||
      (e.caFile !== undefined && typeof e.caFile !== 'string') ||
      (e.insecure !== undefined && typeof e.insecure !== 'boolean')
    )
      throw new BmcCredentialsError(ref, `${where}: the entry must be { username: string, password: string, caFile?: string, insecure?: boolean }`);
    return secret(e.username, e.password, {
      ...(typeof e.caFile === 'string' ? { caFile: path.resolve(path.dirname(settings.secretsFile), e.caFile) } : {}),
      ...(e.insecure === true ? { insecure: true } : {}),
    });
  };
}
