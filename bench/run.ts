// `npm run bench`: every benchmark, each against its anchor in the same run, one after the other
// (they share the machine's two cores, so never in parallel). Not a test: prints figures/ratios.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const benches: { name: string; file: string; args?: string[] }[] = [
  { name: 'DHCP: perfdhcp against maskin and Kea', file: 'dhcp.js' },
  { name: 'TFTP: 100 concurrent ipxe.efi fetches against maskin and tftpd-hpa', file: 'tftp.js' },
  // Measures in its own child process started with --expose-gc (RSS read after a full GC).
  { name: 'Manifest: 10,000-node signed manifest decode+verify, RSS growth', file: 'manifest.js' },
  { name: 'Outbox: durable appends/s (1 and 64 in flight), drain rate, RSS over 100k appends', file: 'outbox.js', args: ['--expose-gc'] },
  { name: 'Image cache cold storm: 50 concurrent requests for an uncached 100 MB image (one upstream fetch, ≤1.3× one download, RSS)', file: 'cache.js' },
  { name: 'Cached assets: 50 concurrent downloads of a 100 MB pinned asset, agent vs nginx (sendfile), agent RSS', file: 'assets.js' },
  {
    name: 'Lifecycle: 200-node rack of simulated BMCs (50-300 ms calls) through plan + executor, CPU per node, wall time under the power gate, peak RSS',
    file: 'lifecycle.js',
  },
  {
    name: 'Boot storm: 50, 200 and 500 simulated nodes through DHCP, TFTP, iPXE scripts, images, config and events, agent vs dnsmasq+nginx',
    file: 'storm.js',
  },
];

let failed = 0;
for (const bench of benches) {
  process.stdout.write(`\n=== ${bench.name} ===\n`);
  const started = Date.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [...(bench.args ?? []), path.join(here, bench.file)], { stdio: 'inherit' });
    child.on('exit', resolve);
  });
  process.stdout.write(`=== ${bench.file} finished in ${((Date.now() - started) / 1000).toFixed(0)} s (exit ${code}) ===\n`);
  if (code !== 0) failed += 1;
}
process.exitCode = failed === 0 ? 0 : 1;
