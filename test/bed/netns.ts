// Test bed: real hosts as network namespaces on one bridge. Every name starts with
// "maskin"; every address lies in 198.18.0.0/15. Callers must register `destroy()` in a teardown
// so namespaces go away even when a test fails.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function sh(cmd: string, args: string[]): Promise<string> {
  const { stdout } = await run(cmd, args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

async function ip(...args: string[]): Promise<void> {
  await sh('ip', args);
}

export interface Rack {
  /** Namespace that holds the bridge and the agent (the "provisioning node"). */
  readonly ns: string;
  readonly bridge: string;
  /** Agent address on the bridge, e.g. 198.18.7.1 */
  readonly address: string;
  /** e.g. 198.18.7.0/24 */
  readonly subnet: string;
  /** Adds a client host namespace joined to the bridge by a veth; returns its namespace name. */
  addHost(name: string, opts?: { address?: string; mac?: string }): Promise<string>;
  /** Adds a tap device on the bridge (for a QEMU VM run inside `ns`). */
  addTap(name: string): Promise<string>;
  /** Runs a command inside a namespace (default: the rack namespace). */
  exec(cmd: string, args: string[], ns?: string): Promise<string>;
  /** Spawns a long-running process inside a namespace; it is killed by destroy(). */
  spawn(cmd: string, args: string[], opts?: SpawnOptions & { ns?: string }): ChildProcess;
  destroy(): Promise<void>;
}

/**
 * Creates namespace `maskin-<tag>` with bridge `mbr-<tag>` holding 198.18.<octet>.1/24.
 * `tag` must be unique per test file (≤ 8 chars) and `octet` unique per test file too. The bridge
 * may be given another name (the demo calls it prov0, as the example config does).
 */
export async function createRack(tag: string, octet: number, opts: { bridge?: string } = {}): Promise<Rack> {
  if (tag.length > 8) throw new Error('rack tag must be at most 8 characters');
  if (octet < 0 || octet > 255) throw new Error('octet out of range');
  const ns = `maskin-${tag}`;
  const bridge = opts.bridge ?? `mbr-${tag}`;
  const prefix = `198.18.${octet}`;
  const address = `${prefix}.1`;
  const hosts: string[] = [];
  const children: ChildProcess[] = [];
  // A leftover from a crashed earlier run of this same test file.
  await run('ip', ['netns', 'del', ns]).catch(() => undefined);
  await ip('netns', 'add', ns);
  const inNs = (...args: string[]): Promise<void> => ip('-n', ns, ...args);
  await inNs('link', 'set', 'lo', 'up');
  await inNs('link', 'add', bridge, 'type', 'bridge');
  // No STP / forward delay: DHCP clients must be heard at once.
  await inNs('link', 'set', bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
  await inNs('addr', 'add', `${address}/24`, 'dev', bridge);
  await inNs('link', 'set', bridge, 'up');
  let hostIndex = 0;
  const rack: Rack = {
    ns,
    bridge,
    address,
    subnet: `${prefix}.0/24`,
    async addHost(name, opts = {}) {
      hostIndex += 1;
      const hostNs = `maskin-${tag}-${name}`;
      await run('ip', ['netns', 'del', hostNs]).catch(() => undefined);
      await ip('netns', 'add', hostNs);
      hosts.push(hostNs);
      const outer = `mv${tag}${hostIndex}`.slice(0, 15);
      // Create the pair inside the rack namespace, then move one end into the host.
      await inNs('link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth0');
      await inNs('link', 'set', 'eth0', 'netns', hostNs);
      await inNs('link', 'set', outer, 'master', bridge);
      await inNs('link', 'set', outer, 'up');
      await ip('-n', hostNs, 'link', 'set', 'lo', 'up');
      if (opts.mac) await ip('-n', hostNs, 'link', 'set', 'eth0', 'address', opts.mac);
      if (opts.address) await ip('-n', hostNs, 'addr', 'add', opts.address, 'dev', 'eth0');
      await ip('-n', hostNs, 'link', 'set', 'eth0', 'up');
      return hostNs;
    },
    async addTap(name) {
      const tap = `mt${tag}${name}`.slice(0, 15);
      await inNs('tuntap', 'add', 'dev', tap, 'mode', 'tap');
      await inNs('link', 'set', tap, 'master', bridge);
      await inNs('link', 'set', tap, 'up');
      return tap;
    },
    exec(cmd, args, inside = ns) {
      return sh('ip', ['netns', 'exec', inside, cmd, ...args]);
    },
    spawn(cmd, args, opts = {}) {
      const { ns: inside = ns, ...rest } = opts;
      // setpriv's parent-death signal: the child dies with the test process even when a SIGKILL
      // of the test skips every teardown (ip netns exec and setpriv exec, so the PID stays one).
      const child = spawn('ip', ['netns', 'exec', inside, 'setpriv', '--pdeathsig', 'KILL', '--', cmd, ...args], { stdio: 'pipe', ...rest });
      children.push(child);
      return child;
    },
    async destroy() {
      await Promise.all(children.map((child) => stopChild(child)));
      for (const hostNs of hosts) await run('ip', ['netns', 'del', hostNs]).catch(() => undefined);
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    },
  };
  return rack;
}

/** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
