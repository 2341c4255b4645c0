// Test bed: a foreign DHCP server on a rack's segment, Debian's kea-dhcp4 in its own host
// namespace, handing out addresses only (no boot options), as a network team's server would.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { stopChild, type Rack } from './netns.js';

export interface ForeignDhcp {
  /** Its address on the segment (option 54 of its replies). */
  readonly address: string;
  readonly mac: string;
  readonly ns: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts Kea on host `name` of `rack` at `<prefix>.2`, leasing `<prefix>.<first>`–`<prefix>.<last>`;
 * resolves once Kea says it serves (DHCP4_STARTED). Kea's raw sockets answer clients that have no
 * address yet, as on a real segment.
 */
export async function startForeignDhcp(rack: Rack, opts: { name?: string; mac: string; first?: number; last?: number }): Promise<ForeignDhcp> {
  const prefix = rack.address.split('.').slice(0, 3).join('.');
  const address = `${prefix}.2`;
  const ns = await rack.addHost(opts.name ?? 'kea', { address: `${address}/24`, mac: opts.mac });
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-kea-'));
  const config = {
    Dhcp4: {
      'interfaces-config': { interfaces: ['eth0'] },
      'lease-database': { type: 'memfile', persist: false },
      'valid-lifetime': 600,
      subnet4: [{ id: 1, subnet: `${prefix}.0/24`, pools: [{ pool: `${prefix}.${opts.first ?? 50} - ${prefix}.${opts.last ?? 90}` }] }],
      loggers: [{ name: 'kea-dhcp4', severity: 'INFO', output_options: [{ output: 'stderr' }] }],
    },
  };
  const file = path.join(dir, 'kea.json');
  await writeFile(file, JSON.stringify(config));
  let output = '';
  const child: ChildProcess = rack.spawn('kea-dhcp4', ['-c', file], { ns, env: { ...process.env, KEA_LOCKFILE_DIR: dir, KEA_PIDFILE_DIR: dir } });
  const started = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      // Keep only the tail: Kea logs per packet at INFO.
      if (output.length > 64_000) output = output.slice(-32_000);
      if (/DHCP4_STARTED/.test(output)) resolve();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`kea-dhcp4 exited with ${code}:\n${output}`)));
  });
  const stop = async (): Promise<void> => {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await started;
  } catch (err) {
    await stop();
    throw err;
  }
  return { address, mac: opts.mac, ns, output: () => output, stop };
}
