// The reference central: what the agent's uplink talks to in tests. It serves each rack's
// SignedManifest bytes with a strong ETag, stores reports exactly once by (agent_id, seq) and acks
// the contiguous prefix, and can be stopped, slowed, made to fail or to answer garbage.
// Plain node:http/https rather than fastify: stop()/start() on the same port, TLS client-cert
// checks and byte-exact bodies are simpler without a framework in between.
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ReportAckSchema, ReportBatchSchema, type Report } from '../../agent/uplink/gen/maskin/v1/report_pb.js';

export interface CentralTls {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  /** When set, clients must present a certificate issued by this CA (mTLS). */
  readonly clientCa?: string | Buffer;
}

export interface CentralOptions {
  readonly host?: string;
  /** 0 (default) = any free port; start() after stop() reuses the port first bound. */
  readonly port?: number;
  /** When set, every /v1 request must carry `authorization: Bearer <token>` or gets 401. */
  readonly token?: string;
  readonly tls?: CentralTls;
  /** Largest report batch accepted (413 above). */
  readonly maxBodyBytes?: number;
}

export interface CentralRequestCounts {
  /** Manifest GETs answered with 200. */
  manifest: number;
  /** Manifest GETs answered with 304. */
  notModified: number;
  /** Report POSTs that were stored and acked. */
  reports: number;
  /** Requests refused for a missing or wrong bearer token. */
  unauthorized: number;
  /** Requests answered by fail() or garbage(). */
  sabotaged: number;
  /** Everything else (404, 400, 405, 413). */
  other: number;
}

export interface ReferenceCentral {
  /** The bound port (valid after the first start()). */
  readonly port: number;
  /** `http(s)://host:port`. */
  readonly url: string;
  manifestUrl(rack: string): string;
  readonly reportsUrl: string;
  /** Listen (again, on the same port after stop()). Resolves with the port. */
  start(): Promise<number>;
  /** Close the listener and every open connection: clients see connection refused. */
  stop(): Promise<void>;
  /** Serve these SignedManifest bytes for `rack`; returns the ETag. */
  setManifest(rack: string, bytes: Uint8Array): string;
  removeManifest(rack: string): void;
  /** Delay every response by `ms` (0 = off). */
  slow(ms: number): void;
  /** Answer every request with this status (null = off). */
  fail(status: number | null): void;
  /** Answer every request with 200 and random bytes. */
  garbage(on: boolean): void;
  /** Stored reports of `agentId` in seq order. */
  reports(agentId: string): Report[];
  /** Highest contiguous seq stored for `agentId` (0n when none). */
  ackedThrough(agentId: string): bigint;
  /** Reports received again after being stored once. */
  duplicates(): number;
  requests(): CentralRequestCounts;
  /** Headers of the last request (any endpoint), to check what the client sent. */
  lastHeaders(): IncomingHttpHeaders | undefined;
}

interface AgentReports {
  readonly bySeq: Map<bigint, Report>;
  /** Highest seq such that every seq from the first one seen up to it is stored. */
  through: bigint;
}

const etagOf = (bytes: Uint8Array): string => `"${createHash('sha256').update(bytes).digest('hex')}"`;

// If-None-Match may list several tags or be `*` (RFC 9110 §13.1.2); weak tags never match a strong one here.
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim() === etag);
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        resolve('too-large');
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function createCentral(opts: CentralOptions = {}): ReferenceCentral {
  const host = opts.host ?? '127.0.0.1';
  const maxBody = opts.maxBodyBytes ?? 64 * 1024 * 1024;
  const manifests = new Map<string, { bytes: Uint8Array; etag: string }>();
  const stored = new Map<string, AgentReports>();
  const counts: CentralRequestCounts = { manifest: 0, notModified: 0, reports: 0, unauthorized: 0, sabotaged: 0, other: 0 };
  let duplicateCount = 0;
  let delayMs = 0;
  let failStatus: number | null = null;
  let garbageOn = false;
  let headersSeen: IncomingHttpHeaders | undefined;
  let port = opts.port ?? 0;
  let server: Server | undefined;
  const scheme = opts.tls === undefined ? 'http' : 'https';

  function send(res: ServerResponse, status: number, body?: Uint8Array | string, headers: Record<string, string> = {}): void {
    if (res.destroyed) return;
    res.writeHead(status, body === undefined ? headers : { 'content-length': String(Buffer.byteLength(body)), ...headers });
    res.end(body);
  }

  function storeBatch(agentId: string, reports: readonly Report[]): bigint {
    let agent = stored.get(agentId);
    for (const report of reports) {
      if (agent === undefined) {
        // The contiguous run starts at the first seq this agent ever delivered.
        agent = { bySeq: new Map(), through: report.seq - 1n };
        stored.set(agentId, agent);
      }
      if (agent.bySeq.has(report.seq)) duplicateCount++;
      else agent.bySeq.set(report.seq, report);
    }
    if (agent === undefined) return 0n;
    // Contract (report.proto): a batch starts at the agent's oldest undelivered report, so every
    // seq below it is settled — delivered, or evicted by the agent's bounded outbox. Without this
    // an evicted timeline step would hold the ack (and delivery) back forever.
    const first = reports[0]?.seq;
    if (first !== undefined && first - 1n > agent.through) agent.through = first - 1n;
    while (agent.bySeq.has(agent.through + 1n)) agent.through++;
    return agent.through < 0n ? 0n : agent.through;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    headersSeen = req.headers;
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (failStatus !== null) {
      counts.sabotaged++;
      return send(res, failStatus, 'central told to fail\n', { 'content-type': 'text/plain' });
    }
    if (garbageOn) {
      counts.sabotaged++;
      const junk = randomBytes(64 + Math.floor(Math.random() * 512));
      return send(res, 200, junk, { 'content-type': 'application/x-protobuf', etag: etagOf(junk) });
    }
    if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) {
      counts.unauthorized++;
      return send(res, 401, 'bearer token required\n', { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' });
    }
    const url = new URL(req.url ?? '/', 'http://central');
    const manifestPath = /^\/v1\/racks\/([^/]+)\/manifest$/.exec(url.pathname);
    if (manifestPath !== null && (req.method === 'GET' || req.method === 'HEAD')) {
      const current = manifests.get(decodeURIComponent(manifestPath[1] ?? ''));
      if (current === undefined) {
        counts.other++;
        return send(res, 404, 'no manifest for this rack\n', { 'content-type': 'text/plain' });
      }
      if (matchesEtag(req.headers['if-none-match'], current.etag)) {
        counts.notModified++;
        return send(res, 304, undefined, { etag: current.etag });
      }
      counts.manifest++;
      return send(res, 200, req.method === 'HEAD' ? undefined : current.bytes, { 'content-type': 'application/x-protobuf', etag: current.etag });
    }
    if (url.pathname === '/v1/reports' && req.method === 'POST') {
      const body = await readBody(req, maxBody);
      if (body === 'too-large') {
        counts.other++;
        return send(res, 413, 'batch too large\n');
      }
      let batch;
      try {
        batch = fromBinary(ReportBatchSchema, body);
      } catch (err) {
        counts.other++;
        return send(res, 400, `undecodable ReportBatch: ${(err as Error).message}\n`, { 'content-type': 'text/plain' });
      }
      if (batch.agentId === '') {
        counts.other++;
        return send(res, 400, 'ReportBatch without agent_id\n', { 'content-type': 'text/plain' });
      }
      const through = storeBatch(batch.agentId, batch.reports);
      counts.reports++;
      const ack = toBinary(ReportAckSchema, create(ReportAckSchema, { agentId: batch.agentId, ackedThroughSeq: through }));
      return send(res, 200, ack, { 'content-type': 'application/x-protobuf' });
    }
    counts.other++;
    send(res, manifestPath !== null || url.pathname === '/v1/reports' ? 405 : 404, 'not here\n');
  }

  function listener(req: IncomingMessage, res: ServerResponse): void {
    handle(req, res).catch(() => send(res, 500, 'reference central failed\n'));
  }

  const central: ReferenceCentral = {
    get port() {
      return port;
    },
    get url() {
      return `${scheme}://${host}:${port}`;
    },
    manifestUrl: (rack) => `${central.url}/v1/racks/${encodeURIComponent(rack)}/manifest`,
    get reportsUrl() {
      return `${central.url}/v1/reports`;
    },
    async start() {
      if (server !== undefined) return port;
      const tls = opts.tls;
      const s =
        tls === undefined
          ? createHttpServer(listener)
          : createHttpsServer(
              { key: tls.key, cert: tls.cert, ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true }) },
              listener,
            );
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => {
          s.off('error', reject);
          resolve();
        });
      });
      port = (s.address() as AddressInfo).port;
      server = s;
      return port;
    },
    async stop() {
      const s = server;
      if (s === undefined) return;
      server = undefined;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      s.closeAllConnections();
      await closed;
    },
    setManifest(rack, bytes) {
      const copy = Uint8Array.from(bytes);
      const etag = etagOf(copy);
      manifests.set(rack, { bytes: copy, etag });
      return etag;
    },
    removeManifest: (rack) => void manifests.delete(rack),
    slow: (ms) => void (delayMs = ms),
    fail: (status) => void (failStatus = status),
    garbage: (on) => void (garbageOn = on),
    reports: (agentId) => [...(stored.get(agentId)?.bySeq.values() ?? [])].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0)),
    ackedThrough(agentId) {
      const through = stored.get(agentId)?.through ?? 0n;
      return through < 0n ? 0n : through;
    },
    duplicates: () => duplicateCount,
    requests: () => ({ ...counts }),
    lastHeaders: () => headersSeen,
  };
  return central;
}

/** createCentral + start, for tests. */
export async function startCentral(opts: CentralOptions = {}): Promise<ReferenceCentral> {
  const central = createCentral(opts);
  await central.start();
  return central;
}
