// The reference central as a process, for tests whose agent runs in another process or network
// namespace:
//   node dist/test/central/main.js --port N [--host H] [--manifest FILE]... [--rack R] [--token T]
//        [--tls-key F --tls-cert F [--client-ca F]] [--control-port N]
// Each --manifest is a SignedManifest file; its rack comes from the payload (or --rack).
// The control API listens on 127.0.0.1 on its own port, so it stays reachable while the central
// is stopped. It prints `control <port>` then `listening <port>` (ready once that line is out).
//   POST /control/stop | /control/start
//   POST /control/slow {"ms":N}   /control/fail {"status":N|null}   /control/garbage {"on":bool}
//   POST /control/manifest?rack=R   (body: SignedManifest bytes) → {"etag":...}
//   GET  /control/reports?agent=ID → [Report as JSON]   /control/duplicates   /control/requests
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { fromBinary, toJson } from '@bufbuild/protobuf';
import { ManifestSchema, SignedManifestSchema } from '../../agent/uplink/gen/maskin/v1/manifest_pb.js';
import { ReportSchema } from '../../agent/uplink/gen/maskin/v1/report_pb.js';
import { createCentral, type ReferenceCentral } from './server.js';

function rackOf(bytes: Uint8Array, fallback: string | undefined): string {
  if (fallback !== undefined) return fallback;
  const signed = fromBinary(SignedManifestSchema, bytes);
  const rack = fromBinary(ManifestSchema, signed.payload).rackId;
  if (rack === '') throw new Error('manifest has no rack id; pass --rack');
  return rack;
}

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  res.writeHead(status, { 'content-type': 'application/json' }).end(text);
}

async function control(central: ReferenceCentral, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://control');
  const raw = await body(req);
  const args = (): Record<string, unknown> => (raw.length === 0 ? {} : (JSON.parse(raw.toString('utf8')) as Record<string, unknown>));
  switch (`${req.method} ${url.pathname}`) {
    case 'POST /control/stop':
      await central.stop();
      return json(res, 200, { ok: true });
    case 'POST /control/start':
      return json(res, 200, { port: await central.start() });
    case 'POST /control/slow':
      central.slow(Number(args().ms ?? 0));
      return json(res, 200, { ok: true });
    case 'POST /control/fail': {
      const status = args().status;
      central.fail(typeof status === 'number' ? status : null);
      return json(res, 200, { ok: true });
    }
    case 'POST /control/garbage':
      central.garbage(args().on === true);
      return json(res, 200, { ok: true });
    case 'POST /control/manifest':
      return json(res, 200, { etag: central.setManifest(rackOf(raw, url.searchParams.get('rack') ?? undefined), raw) });
    case 'GET /control/reports':
      return json(
        res,
        200,
        central.reports(url.searchParams.get('agent') ?? '').map((r) => toJson(ReportSchema, r)),
      );
    case 'GET /control/duplicates':
      return json(res, 200, { duplicates: central.duplicates() });
    case 'GET /control/requests':
      return json(res, 200, central.requests());
    default:
      return json(res, 404, { error: 'unknown control endpoint' });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      'control-port': { type: 'string', default: '0' },
      manifest: { type: 'string', multiple: true, default: [] },
      rack: { type: 'string' },
      token: { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-cert': { type: 'string' },
      'client-ca': { type: 'string' },
    },
  });
  const key = values['tls-key'];
  const cert = values['tls-cert'];
  const clientCa = values['client-ca'];
  const central = createCentral({
    host: values.host,
    port: Number(values.port),
    ...(values.token === undefined ? {} : { token: values.token }),
    ...(key !== undefined && cert !== undefined
      ? { tls: { key: readFileSync(key), cert: readFileSync(cert), ...(clientCa === undefined ? {} : { clientCa: readFileSync(clientCa) }) } }
      : {}),
  });
  for (const file of values.manifest) {
    const bytes = readFileSync(file);
    central.setManifest(rackOf(bytes, values.rack), bytes);
  }
  const controlServer = createServer((req, res) => {
    control(central, req, res).catch((err: Error) => json(res, 400, { error: err.message }));
  });
  await new Promise<void>((resolve) => controlServer.listen(Number(values['control-port']), '127.0.0.1', resolve));
  process.stdout.write(`control ${(controlServer.address() as AddressInfo).port}\n`);
  process.stdout.write(`listening ${await central.start()}\n`);
  const shutdown = (): void => {
    controlServer.close();
    void central.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err: unknown) => {
  process.stderr.write(`reference central: ${(err as Error).message}\n`);
  process.exit(1);
});
