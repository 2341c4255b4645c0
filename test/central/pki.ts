// Throwaway TLS material for uplink tests, made with the openssl CLI at test time in a temp dir
// (never committed): two unrelated CAs, a server cert for 127.0.0.1 from each, and a client cert.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestPki {
  readonly dir: string;
  /** The pinned CA and the certs it issued. */
  readonly caFile: string;
  readonly serverKeyFile: string;
  readonly serverCertFile: string;
  readonly clientKeyFile: string;
  readonly clientCertFile: string;
  /** A CA the agent does not trust, and a server cert for 127.0.0.1 from it. */
  readonly otherCaFile: string;
  readonly otherServerKeyFile: string;
  readonly otherServerCertFile: string;
  read(file: string): Buffer;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-subj',
    `/CN=maskin test ${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

function issue(dir: string, ca: string, name: string, ext: string): void {
  writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, [
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${name}`,
  ]);
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-set_serial',
    String(Date.now()),
    '-days',
    '2',
    '-out',
    `${name}.crt`,
    '-extfile',
    `${name}.ext`,
  ]);
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), 'maskin-pki-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  issue(dir, 'ca', 'server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  issue(dir, 'ca', 'client', 'extendedKeyUsage=clientAuth\n');
  issue(dir, 'other-ca', 'other-server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  const f = (name: string): string => path.join(dir, name);
  return {
    dir,
    caFile: f('ca.crt'),
    serverKeyFile: f('server.key'),
    serverCertFile: f('server.crt'),
    clientKeyFile: f('client.key'),
    clientCertFile: f('client.crt'),
    otherCaFile: f('other-ca.crt'),
    otherServerKeyFile: f('other-server.key'),
    otherServerCertFile: f('other-server.crt'),
    read: (file) => readFileSync(file),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
