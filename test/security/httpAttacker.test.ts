// The real agent process in a rack namespace, and curl (and tftp-hpa) from hosts of their own on
// the provisioning bridge: an attacker reaching for a file through a symlink that leads out of
// bootBinariesDir is refused by HTTP as by TFTP, and a node sending its token URL in every near-
// miss spelling gets its config only from the canonical one, with the token in no log line.
// Rack 198.18.161.0/24.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAgentInRack, type AgentInRack } from '../bed/agent.js';
import { createRack } from '../bed/netns.js';
import { manifestFor, SCHEMATIC, TALOS_VERSION } from '../e2e/scenario.js';

const SECRET = 'SECRET-OUTSIDE-THE-ROOT';
const MAC = '52:54:00:5e:a1:01';
const AGENT = '198.18.161.1';

/** Resolves once the agent has printed `text`; rejects with its output after `ms`. */
function printed(agent: AgentInRack, text: string, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (!agent.output().includes(text)) return;
      cleanup();
      resolve();
    };
    const timer = setTimeout(() => (cleanup(), reject(new Error(`agent never printed ${text}:\n${agent.output()}`))), ms);
    const cleanup = (): void => {
      clearTimeout(timer);
      agent.process.stdout?.off('data', check);
    };
    agent.process.stdout?.on('data', check);
    check();
  });
}

t.test('attacker and near-miss URLs against the real agent', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-sec-attacker-'));
  const rack = await createRack('sechttp', 161);
  let agent: AgentInRack | undefined;
  t.teardown(async () => {
    await agent?.stop();
    await rack.destroy();
    await rm(dir, { recursive: true, force: true });
  });
  const bootDir = path.join(dir, 'boot');
  const assetsDir = path.join(dir, 'assets');
  await mkdir(bootDir);
  await mkdir(path.join(assetsDir, SCHEMATIC, TALOS_VERSION), { recursive: true });
  await writeFile(path.join(dir, 'secret.bin'), SECRET);
  await writeFile(path.join(bootDir, 'undionly.kpxe'), 'bios binary');
  await symlink(path.join(dir, 'secret.bin'), path.join(bootDir, 'escape.efi'));
  const node = await rack.addHost('node', { mac: MAC, address: '198.18.161.50/24' });
  const attacker = await rack.addHost('atk', { address: '198.18.161.66/24' });
  agent = await startAgentInRack(rack, {
    // The node host has a static address: the manifest fixes it, so its script requests count.
    manifest: manifestFor([{ id: 'n1', mac: MAC }]).replace('id: n1,', 'id: n1, ipv4: 198.18.161.50,'),
    assetsDir,
    // Every refusal line is written, so every one is looked at below.
    extraConfig: `bootBinariesDir: ${bootDir}\nhttp: { limits: { bootToken: 10000, refusalLogLines: 10000 } }\n`,
  });
  const curl = async (ns: string, urlPath: string): Promise<{ status: number; body: string }> => {
    const out = await rack.exec('curl', ['-sS', '--path-as-is', '--max-time', '5', '-w', '\n%{http_code}', `http://${AGENT}${urlPath}`], ns);
    const cut = out.lastIndexOf('\n');
    return { status: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
  };

  t.test('a symlink out of bootBinariesDir: refused over HTTP and over TFTP', async (t) => {
    const served = await curl(attacker, '/boot/undionly.kpxe');
    t.same(served, { status: 200, body: 'bios binary' });
    for (const [urlPath, status] of [
      ['/boot/escape.efi', 403],
      ['/boot/../secret.bin', 400],
      ['/boot/%2e%2e/secret.bin', 400],
      ['/boot/%2E%2E%2Fsecret.bin', 400],
      ['/boot/..%5Csecret.bin', 400],
      ['/boot/%252E%252E/secret.bin', 400],
      ['/boot//undionly.kpxe', 400],
    ] as const) {
      const res = await curl(attacker, urlPath);
      t.equal(res.status, status, urlPath);
      t.notMatch(res.body, SECRET, urlPath);
    }
    const local = path.join(dir, 'fetched');
    const tftp = await rack
      .exec('tftp', ['-m', 'binary', AGENT, '-c', 'get', 'escape.efi', local], attacker)
      .catch((err: { stdout?: string }) => err.stdout ?? '');
    t.match(tftp, /Error code/, 'TFTP answers with an error packet');
    const got = await rack.exec('cat', [local], attacker).catch(() => '');
    t.notMatch(got, SECRET, 'and no byte of the file');
  });

  t.test('near-miss token URLs from the node: only the canonical one answers, no token in the log', async (t) => {
    const script = await curl(node, `/ipxe?mac=${MAC}&platform=efi`);
    t.equal(script.status, 200);
    const token = /\/v1\/boot\/([A-Za-z0-9_-]+)\/config/.exec(script.body)?.[1];
    if (token === undefined) return t.fail(`no token in the script:\n${script.body}`);
    const shapes = [
      `/v1/boot/${token}/config/`,
      `//v1/boot/${token}/config`,
      `/v1/boot/${token}/configx`,
      `/v1/boot/${token}`,
      `/V1/BOOT/${token}/CONFIG`,
      `/v1/%62oot/${token}/config`,
      `/v1/boot/%${token.charCodeAt(0).toString(16).toUpperCase()}${token.slice(1)}/config`,
      `/v1/boot/${token}%2Fconfig`,
      `/v1/boot%2F${token}%2Fconfig`,
      `/v1/boot/${token}/config/..`,
      `/v1/boot/./${token}/config`,
      `/v1/boot/${token}\\config`,
      `/v1/boot/${token}%zz/config`,
      `/v1/boot/${token.repeat(4)}/config`,
    ];
    for (const shape of shapes) t.not((await curl(node, shape)).status, 200, shape);
    t.equal((await curl(attacker, `/v1/boot/${token}/config`)).status, 403, 'another address is refused');
    const config = await curl(node, `/v1/boot/${token}/config`);
    t.equal(config.status, 200, 'the canonical URL from the node serves the config');
    t.match(config.body, /^machine:/m);
    const marker = randomBytes(8).toString('hex');
    await curl(node, `/healthz?marker=${marker}`);
    await printed(agent!, marker);
    const output = agent!.output();
    for (const piece of [token, token.slice(0, 16), token.slice(-16)]) t.notOk(output.includes(piece), 'the token is in no log line');
    t.match(output, /<token>/, 'the URLs are logged, redacted');
  });
});
