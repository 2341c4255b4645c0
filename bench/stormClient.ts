// Boot-storm client: N simulated BIOS nodes, each doing the whole netboot chain a real one does,
// from its own leased address, all in this one process (run inside the client host namespace).
//   node dist/bench/stormClient.js '<StormClientInput JSON>'
// Per node: DHCP DORA as a PXE ROM (option 60 PXEClient, 93 arch 0, 94, 97) → TFTP of the boot
// file from siaddr (blksize 1432, as iPXE's and most PXE ROMs' TFTP ask) → DHCP DORA again as
// iPXE (user class "iPXE", RFC 3004 in iPXE's plain form) → the boot file URL (/boot.ipxe) → the
// script its first `imgfetch`/`chain` names → the `kernel` and `initrd` URLs of that script → the
// `talos.config=` URL → installer events to `maskin.events=` (installer-started, config-fetched,
// install-complete), as the stand-in installer and Talos do. Prints one JSON line: StormClientResult.
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import http from 'node:http';
import { promisify } from 'node:util';
import { decodeDhcp, encodeDhcp, type DhcpMessage } from '../agent/dhcp/codec.js';
import { fetchTftp } from '../test/tftp/rawClient.js';

const run = promisify(execFile);

export interface StormClientInput {
  readonly nodes: ReadonlyArray<{ readonly mac: string; readonly uuid: string }>;
  /** The interface the leased addresses are added to. */
  readonly device: string;
  /** Prefix length of the leased addresses. */
  readonly prefix: number;
  /** Nodes power on uniformly spread over this many ms (firmware POST times differ). */
  readonly spreadMs: number;
  /** A node that has not finished by then counts as failed. */
  readonly deadlineMs: number;
}

export type Phase = 'dhcp' | 'tftp' | 'ipxeDhcp' | 'scripts' | 'images' | 'install';
export interface NodeRun {
  readonly mac: string;
  readonly ok: boolean;
  /** Power-on to install-complete answered, ms. */
  readonly totalMs: number;
  readonly phaseMs: Partial<Record<Phase, number>>;
  readonly error?: string;
  readonly bytes: number;
}
export interface StormClientResult {
  readonly nodes: NodeRun[];
  /** DHCP messages sent again after no answer (4, 8, 16 s, as PXE ROMs do, RFC 2131 §4.1). */
  readonly dhcpRetransmits: number;
  /** DHCP NAKs received (each sends the node back to DISCOVER). */
  readonly dhcpNaks: number;
  /** TFTP transfers begun again after an error or a stall. */
  readonly tftpRetries: number;
  /** HTTP requests sent again after a refusal, an error or a "waiting for image" script. */
  readonly httpRetries: number;
  readonly wallMs: number;
  /** This process's own user+system CPU, s: the simulated nodes share the machine's cores with the server. */
  readonly clientCpuS: number;
}

const DISCOVER = 1;
const OFFER = 2;
const REQUEST = 3;
const ACK = 5;
const NAK = 6;
const PXE_VENDOR = 'PXEClient:Arch:00000:UNDI:002001';

const next: Record<Phase, Phase> = { dhcp: 'tftp', tftp: 'ipxeDhcp', ipxeDhcp: 'scripts', scripts: 'images', images: 'install', install: 'install' };

let dhcpRetransmits = 0;
let dhcpNaks = 0;
let tftpRetries = 0;
let httpRetries = 0;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One socket on port 68 for every simulated node; replies are matched by xid. */
function dhcpClient(): { exchange(msg: DhcpMessage, want: readonly number[]): Promise<DhcpMessage>; close(): void } {
  const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const waiting = new Map<number, { want: readonly number[]; resolve: (m: DhcpMessage) => void }>();
  socket.on('message', (buf) => {
    let msg: DhcpMessage;
    try {
      msg = decodeDhcp(buf);
    } catch {
      return;
    }
    const w = waiting.get(msg.xid);
    if (msg.op !== 2 || !w || !w.want.includes(Number(msg.options.messageType))) return;
    waiting.delete(msg.xid);
    w.resolve(msg);
  });
  const bound = new Promise<void>((resolve) =>
    socket.bind(68, () => {
      socket.setBroadcast(true);
      resolve();
    }),
  );
  return {
    async exchange(msg, want) {
      await bound;
      const packet = encodeDhcp(msg);
      for (const waitMs of [4000, 8000, 16000, 32000]) {
        const reply = new Promise<DhcpMessage | undefined>((resolve) => {
          const timer = setTimeout(() => {
            waiting.delete(msg.xid);
            resolve(undefined);
          }, waitMs);
          waiting.set(msg.xid, {
            want,
            resolve: (m) => {
              clearTimeout(timer);
              resolve(m);
            },
          });
        });
        socket.send(packet, 67, '255.255.255.255');
        const got = await reply;
        if (got) return got;
        dhcpRetransmits++;
      }
      throw new Error(`no DHCP answer to message type ${String(msg.options.messageType)}`);
    },
    close: () => socket.close(),
  };
}

const macBytes = (mac: string): Buffer => Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));

function bootRequest(mac: string, uuid: string, xid: number, options: DhcpMessage['options']): DhcpMessage {
  return {
    op: 1,
    htype: 1,
    hlen: 6,
    hops: 0,
    xid,
    secs: 0,
    flags: 0x8000,
    ciaddr: '0.0.0.0',
    yiaddr: '0.0.0.0',
    siaddr: '0.0.0.0',
    giaddr: '0.0.0.0',
    chaddr: macBytes(mac),
    sname: '',
    file: '',
    options: {
      maxMessageSize: 1472,
      clientArch: [0],
      nicId: { type: 1, major: 2, minor: 1 },
      clientUuid: Buffer.concat([Buffer.from([0]), Buffer.from(uuid.replace(/-/g, ''), 'hex')]),
      parameterRequestList: [1, 3, 6, 12, 15, 42, 43, 54, 60, 66, 67, 97, 175],
      ...options,
    },
  };
}

/**
 * DISCOVER → OFFER → REQUEST → ACK; returns the ACK. A NAK sends the client back to DISCOVER
 * (RFC 2131 §3.1 step 4), here up to 5 times, a second apart.
 */
async function dora(dhcp: ReturnType<typeof dhcpClient>, mac: string, uuid: string, xid: number, options: DhcpMessage['options']): Promise<DhcpMessage> {
  let nak = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt > 0) await sleep(1000);
    const offer = await dhcp.exchange(bootRequest(mac, uuid, xid + attempt * 2, { messageType: DISCOVER, ...options }), [OFFER]);
    const ack = await dhcp.exchange(
      bootRequest(mac, uuid, xid + attempt * 2 + 1, {
        messageType: REQUEST,
        requestedIp: offer.yiaddr,
        ...(offer.options.serverId !== undefined ? { serverId: offer.options.serverId } : {}),
        ...options,
      }),
      [ACK, NAK],
    );
    if (ack.options.messageType === ACK) return ack;
    dhcpNaks++;
    nak = `NAK for ${offer.yiaddr}: ${String(ack.options.message ?? 'no message')}`;
  }
  throw new Error(`DHCP: 5 NAKs, the last ${nak}`);
}

/** One HTTP request from `localAddress`; the body is counted and dropped unless `keep`. */
function request(
  agent: http.Agent,
  localAddress: string,
  url: string,
  opts: { method?: 'GET' | 'POST'; body?: string; keep?: boolean } = {},
): Promise<{ status: number; text: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        agent,
        localAddress,
        method: opts.method ?? 'GET',
        headers: opts.body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(opts.body) } : {},
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (opts.keep) chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), bytes }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** GET/POST with up to 5 tries, 1 s apart: iPXE's and the installer's retries. */
async function fetchOk(agent: http.Agent, from: string, url: string, opts: Parameters<typeof request>[3] = {}): Promise<{ text: string; bytes: number }> {
  let last = '';
  for (let i = 0; i < 5; i++) {
    if (i > 0) {
      httpRetries++;
      await sleep(1000);
    }
    try {
      const r = await request(agent, from, url, opts);
      if (r.status >= 200 && r.status < 300) return r;
      last = `HTTP ${r.status} for ${url}`;
    } catch (err) {
      last = (err as Error).message;
    }
  }
  throw new Error(last);
}

/** The URL an iPXE script chains to, with the variables iPXE would expand. */
function expand(url: string, mac: string, uuid: string): string {
  return url.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
    const v = name.split(':')[0]!;
    if (v.endsWith('/mac')) return name.endsWith(':hexhyp') ? mac.replace(/:/g, '-') : mac;
    if (v === 'uuid') return uuid;
    if (v === 'buildarch') return 'i386';
    if (v === 'platform') return 'pcbios';
    return '';
  });
}

async function bootNode(dhcp: ReturnType<typeof dhcpClient>, input: StormClientInput, index: number): Promise<NodeRun> {
  const { mac, uuid } = input.nodes[index]!;
  const phaseMs: Partial<Record<Phase, number>> = {};
  let bytes = 0;
  let current: Phase = 'dhcp';
  await sleep(((index * 7919) % 1000) * (input.spreadMs / 1000));
  const poweredOn = Date.now();
  let mark = poweredOn;
  const phase = (p: Phase): void => {
    const now = Date.now();
    phaseMs[p] = now - mark;
    mark = now;
    current = next[p];
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const xid = (0x10000000 + index * 32) >>> 0;
    const ack = await dora(dhcp, mac, uuid, xid, { vendorClass: PXE_VENDOR });
    const ip = ack.yiaddr;
    const file = ack.file || String(ack.options.bootFile ?? '');
    const tftpServer = ack.siaddr !== '0.0.0.0' ? ack.siaddr : String(ack.options.serverId);
    await run('ip', ['addr', 'add', `${ip}/${input.prefix}`, 'dev', input.device]);
    phase('dhcp');
    for (let i = 0; ; i++) {
      try {
        const got = await fetchTftp({ host: tftpServer, port: 69, file, blksize: 1432, tsize: true, localAddress: ip, timeoutMs: 1000, deadlineMs: 30_000 });
        bytes += got.data.length;
        break;
      } catch (err) {
        if (i >= 4) throw new Error(`TFTP ${file}: ${(err as Error).message}`);
        tftpRetries++;
        await sleep(1000);
      }
    }
    phase('tftp');
    const ipxeAck = await dora(dhcp, mac, uuid, xid + 10, { vendorClass: PXE_VENDOR, userClass: { form: 'plain', value: 'iPXE' }, requestedIp: ip });
    const bootUrl = ipxeAck.file || String(ipxeAck.options.bootFile ?? '');
    if (!/^https?:\/\//.test(bootUrl)) throw new Error(`iPXE DHCP gave boot file ${bootUrl}, not a URL`);
    phase('ipxeDhcp');
    const chainScript = (await fetchOk(agent, ip, bootUrl, { keep: true })).text;
    const chained = /(?:imgfetch --name \S+|chain(?: --\S+)*) (https?:\/\/\S+)/.exec(chainScript)?.[1];
    if (!chained) throw new Error(`no chain URL in ${bootUrl}`);
    let script = '';
    for (let i = 0; i < 60; i++) {
      script = (await fetchOk(agent, ip, expand(chained, mac, uuid), { keep: true })).text;
      if (!/waiting for image/.test(script)) break;
      httpRetries++;
      await sleep(1000);
    }
    const kernelLine = /^kernel (\S+)(.*)$/m.exec(script);
    const initrd = /^initrd (\S+)/m.exec(script)?.[1];
    if (!kernelLine || !initrd) throw new Error(`no kernel/initrd in the script: ${script.slice(0, 200)}`);
    const args = kernelLine[2] ?? '';
    const configUrl = /talos\.config=(\S+)/.exec(args)?.[1];
    const eventsUrl = /maskin\.events=(\S+)/.exec(args)?.[1];
    if (!configUrl || !eventsUrl) throw new Error('kernel line lacks talos.config= or maskin.events=');
    phase('scripts');
    // iPXE downloads the kernel, then the initrd, over one connection.
    bytes += (await fetchOk(agent, ip, kernelLine[1]!)).bytes;
    bytes += (await fetchOk(agent, ip, initrd)).bytes;
    phase('images');
    // The installer is a fresh kernel: a new connection.
    const installer = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const event = (body: object): Promise<unknown> => fetchOk(installer, ip, eventsUrl, { method: 'POST', body: JSON.stringify(body) });
      await event({ step: 'installer-started' });
      const config = await fetchOk(installer, ip, configUrl, { keep: true });
      if (!/machine:/.test(config.text)) throw new Error('the config has no machine section');
      await event({ step: 'config-fetched', bytes: config.bytes });
      await event({ step: 'install-complete', disk: '/dev/vda', firmware: 'bios' });
    } finally {
      installer.destroy();
    }
    phase('install');
    return { mac, ok: true, totalMs: Date.now() - poweredOn, phaseMs, bytes };
  } catch (err) {
    return { mac, ok: false, totalMs: Date.now() - poweredOn, phaseMs, bytes, error: `${current}: ${(err as Error).message}`.slice(0, 300) };
  } finally {
    agent.destroy();
  }
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2] ?? '{}') as StormClientInput;
  const dhcp = dhcpClient();
  const started = Date.now();
  const deadline = (i: number): Promise<NodeRun> =>
    sleep(input.deadlineMs).then(() => ({ mac: input.nodes[i]!.mac, ok: false, totalMs: input.deadlineMs, phaseMs: {}, bytes: 0, error: 'deadline' }));
  const nodes = await Promise.all(input.nodes.map((_, i) => Promise.race([bootNode(dhcp, input, i), deadline(i)])));
  dhcp.close();
  const result: StormClientResult = {
    nodes,
    dhcpRetransmits,
    dhcpNaks,
    tftpRetries,
    httpRetries,
    wallMs: Date.now() - started,
    clientCpuS: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
}

await main();
