// Test bed: our TFTP service in a rack namespace, real clients (tftp-hpa, busybox tftp, curl) in
// a host namespace. This file's subnet is 198.18.69.0/24, namespaces maskin-tftpbed*.
// Needs `npx tsc -p .` first (npm test does it): the service runs as dist/test/tftp/bed/serve-tftp.js.
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { createRack } from '../bed/netns.js';

const IPXE = '/usr/lib/ipxe';
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const entry = path.join(repo, 'dist/test/tftp/bed/serve-tftp.js');

t.test('real TFTP clients fetch the chainload binaries and cannot leave the root', async (t) => {
  t.ok(existsSync(entry), `${entry} is built (run npx tsc -p . first)`);
  const root = await mkdtemp(path.join(os.tmpdir(), 'maskin-tftp-bed-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const out = await mkdtemp(path.join(os.tmpdir(), 'maskin-tftp-out-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  for (const file of ['undionly.kpxe', 'snponly.efi']) await copyFile(path.join(IPXE, file), path.join(root, file));
  await symlink('/etc/passwd', path.join(root, 'passwd'));

  const rack = await createRack('tftpbed', 69);
  t.teardown(() => rack.destroy());
  const host = await rack.addHost('c1', { address: '198.18.69.20/24' });
  const server = rack.spawn('node', [entry, root, rack.address, '69']);
  let stderr = '';
  server.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    let stdout = '';
    server.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('listening')) resolve();
    });
    server.once('exit', (code) => reject(new Error(`serve-tftp exited ${code}: ${stderr}`)));
  });

  const clients: Record<string, (remote: string, local: string) => [string, string[]]> = {
    // tftp-hpa's client knows no options: a plain RFC 1350 transfer with 512-byte blocks.
    'tftp-hpa': (remote, local) => ['tftp', ['-m', 'binary', rack.address, '-c', 'get', remote, local]],
    'busybox tftp -b 1468': (remote, local) => ['busybox', ['tftp', '-b', '1468', '-g', '-r', remote, '-l', local, rack.address]],
    'curl --tftp-blksize 1468': (remote, local) => [
      'curl',
      ['-sS', '--fail', '--max-time', '10', '--tftp-blksize', '1468', '-o', local, `tftp://${rack.address}/${remote}`],
    ],
  };
  let n = 0;
  for (const [client, command] of Object.entries(clients)) {
    for (const file of ['undionly.kpxe', 'snponly.efi']) {
      const local = path.join(out, `${(n += 1)}-${file}`);
      const [cmd, args] = command(file, local);
      await rack.exec(cmd, args, host);
      const got = await readFile(local);
      t.ok(got.equals(await readFile(path.join(IPXE, file))), `${client}: ${file} byte-identical`);
    }
    const passwd = await readFile('/etc/passwd');
    for (const attempt of ['../etc/passwd', '../../../../etc/passwd', '/etc/passwd', '%2e%2e/%2e%2e/etc/passwd', 'passwd']) {
      const local = path.join(out, `${(n += 1)}-attempt`);
      const [cmd, args] = command(attempt, local);
      // tftp-hpa exits 0 even on an ERROR packet and prints it; busybox and curl exit non-zero.
      const result = await rack.exec('sh', ['-c', '"$@" 2>&1; echo "exit=$?"', 'sh', cmd, ...args], host);
      t.match(result, client === 'tftp-hpa' ? /Error code [12]:/ : /exit=[1-9]/, `${client}: ${attempt} fails`);
      const leaked = await readFile(local).catch(() => Buffer.alloc(0));
      t.notOk(leaked.length > 0 && passwd.includes(leaked), `${client}: ${attempt} leaks nothing`);
    }
  }
  t.equal(server.exitCode, null, 'the server is still running');
});
