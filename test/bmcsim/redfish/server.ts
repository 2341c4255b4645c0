// A Redfish BMC simulator on node:http(s): sessions and basic auth, the ComputerSystem.Reset
// action and the Boot PATCH wired to a SimMachine, ETags computed from each resource's content,
// and switches for the misbehaviours real BMCs show (dropped boot mode, odd ETag quoting, 412,
// 428, forgotten one-shot overrides, 503 busy, no answer at all).
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { SimMachine } from '../machine.js';
import { FLAVOURS, type EtagQuoting, type SimFlavour } from './flavours.js';
import { DEFAULT_INVENTORY, RedfishTree, type BootState, type SimInventory } from './tree.js';

type Json = Record<string, unknown>;

export interface RedfishSimOptions {
  readonly flavour: SimFlavour;
  readonly machine: SimMachine;
  readonly username?: string;
  readonly password?: string;
  readonly inventory?: Partial<SimInventory>;
  readonly host?: string;
  readonly port?: number;
  /** PEM key and certificate: serve HTTPS. */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** Initial BootSourceOverrideMode. Default UEFI. */
  readonly bootMode?: 'UEFI' | 'Legacy';
  /** No SessionService: clients must use basic auth. */
  readonly noSessions?: boolean;
  /** Accept BootSourceOverrideMode in a PATCH but ignore it. */
  readonly dropBootMode?: boolean;
  /** Override the flavour's ETag quoting (and publish ETags even where the flavour has none). */
  readonly quoteEtags?: EtagQuoting;
  /** The first PATCH with If-Match gets 412 and the resource's ETag changes. */
  readonly answer412Once?: boolean;
  /** PATCH without If-Match gets 428. */
  readonly requireIfMatch?: boolean;
  /** The first Boot PATCH answers 204 but changes nothing. */
  readonly forgetOverrideOnce?: boolean;
  /** The first request gets 503 with Retry-After: 1. */
  readonly busyOnce?: boolean;
  /** Accept connections and never answer. */
  readonly hang?: boolean;
  /** The first Reset is carried out but never answered (a BMC that acts, then stalls). */
  readonly stallResetOnce?: boolean;
  /** Replace the flavour's allowed ResetTypes (to exercise a client's fallbacks). */
  readonly resetTypes?: readonly string[];
  /** Called with every request as it is logged (the standalone process prints them). */
  readonly onRequest?: (request: SimRequest) => void;
}

export interface SimRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly auth: 'session' | 'basic' | 'none';
  readonly ifMatch?: string;
  readonly body?: Json;
}

export interface RedfishSim {
  readonly url: string;
  readonly requests: SimRequest[];
  sessionsOpen(): number;
  /** Invalidates every session token, as a BMC does when sessions time out. */
  expireSessions(): void;
  readonly state: {
    readonly boot: BootState;
    readonly pendingMode: string | null;
    readonly resets: string[];
    readonly logins: number;
    /** Most requests ever handled at the same time. */
    readonly maxInFlight: number;
  };
  close(): Promise<void>;
}

/** The opaque part of an entity tag, for the weak comparison BMCs apply to If-Match. */
const opaque = (tag: string) =>
  tag
    .trim()
    .replace(/^'|'$/g, '')
    .replace(/^W\//, '')
    .replace(/^"+|"+$/g, '');

export async function startRedfishSim(opts: RedfishSimOptions): Promise<RedfishSim> {
  const f = opts.resetTypes === undefined ? FLAVOURS[opts.flavour] : { ...FLAVOURS[opts.flavour], resetTypes: opts.resetTypes };
  const inv: SimInventory = { ...DEFAULT_INVENTORY, ...opts.inventory };
  const tree = new RedfishTree(f, inv);
  const username = opts.username ?? 'admin';
  const password = opts.password ?? 'secret';
  const quoting = opts.quoteEtags ?? f.etagQuoting;
  const etagsIn = opts.quoteEtags !== undefined ? 'body-and-header' : f.etags;
  const sessions = new Map<string, string>();
  const tokens = new Map<string, string>();
  const boot: BootState = { BootSourceOverrideEnabled: 'Disabled', BootSourceOverrideTarget: 'None', BootSourceOverrideMode: opts.bootMode ?? 'UEFI' };
  const state = { boot, pendingMode: null as string | null, resets: [] as string[], logins: 0, maxInFlight: 0 };
  let inFlight = 0;
  const requests: SimRequest[] = [];
  const once = {
    busy: opts.busyOnce === true,
    e412: opts.answer412Once === true,
    forget: opts.forgetOverrideOnce === true,
    stall: opts.stallResetOnce === true,
  };
  // Bumped to change every ETag without a content change (the 412 switch).
  let salt = 0;

  const etagOf = (body: Json): string => {
    const h = createHash('sha1').update(JSON.stringify(body)).update(String(salt)).digest('hex').slice(0, 8).toUpperCase();
    return quoting === 'none' ? h : quoting === 'weak' ? `W/"${h}"` : `"${h}"`;
  };
  const treeState = async () => ({
    power: (await opts.machine.power()) === 'on' ? ('On' as const) : ('Off' as const),
    boot,
    pendingMode: state.pendingMode,
    sessions,
  });
  const read = async (path: string) => {
    const body = await tree.get(path, await treeState());
    if (body === undefined) return undefined;
    const etag = etagsIn === 'absent' ? undefined : etagOf(body);
    return { body: etagsIn === 'body-and-header' && etag !== undefined ? { ...body, '@odata.etag': etag } : body, etag };
  };

  /** Redfish one-shot: the override is consumed by the boot it applies to. */
  const beforeBoot = async () => {
    if (state.pendingMode !== null) {
      boot.BootSourceOverrideMode = state.pendingMode;
      state.pendingMode = null;
    }
    if (boot.BootSourceOverrideEnabled === 'Disabled') return;
    if (boot.BootSourceOverrideTarget === 'Pxe') await opts.machine.setNextBoot('pxe');
    else if (boot.BootSourceOverrideTarget === 'Hdd') await opts.machine.setNextBoot('disk');
    if (boot.BootSourceOverrideEnabled === 'Once') boot.BootSourceOverrideEnabled = 'Disabled';
  };

  const reset = async (type: string): Promise<boolean> => {
    const m = opts.machine;
    const on = (await m.power()) === 'on';
    switch (type) {
      case 'On':
      case 'ForceOn':
        if (!on) {
          await beforeBoot();
          await m.powerOn();
        }
        return true;
      case 'ForceOff':
      case 'GracefulShutdown':
        await m.powerOff();
        return true;
      case 'ForceRestart':
      case 'GracefulRestart':
      case 'PowerCycle':
        await beforeBoot();
        await m.reset();
        return true;
      case 'PushPowerButton':
        if (on) await m.powerOff();
        else {
          await beforeBoot();
          await m.powerOn();
        }
        return true;
      case 'Nmi':
        return true;
      default:
        return false;
    }
  };

  const authOf = (req: http.IncomingMessage): 'session' | 'basic' | undefined => {
    const token = req.headers['x-auth-token'];
    if (typeof token === 'string' && tokens.has(token)) return 'session';
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (basic !== null && Buffer.from(basic[1]!, 'base64').toString() === `${username}:${password}`) return 'basic';
    return undefined;
  };

  const error = (message: string, messageId = 'Base.1.8.GeneralError') => ({
    error: { code: messageId, message, '@Message.ExtendedInfo': [{ MessageId: messageId, Message: message }] },
  });

  type Answer = { status: number; body?: Json; headers?: Record<string, string> } | 'stall';
  const handle = async (req: http.IncomingMessage, raw: string): Promise<Answer> => {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '') || '/';
    if (once.busy) {
      once.busy = false;
      return { status: 503, headers: { 'retry-after': '1' }, body: error('The service is temporarily unavailable.', 'Base.1.8.ServiceTemporarilyUnavailable') };
    }
    let body: Json = {};
    if (raw !== '') {
      try {
        body = JSON.parse(raw) as Json;
      } catch {
        return { status: 400, body: error('The request body is not JSON.', 'Base.1.8.MalformedJSON') };
      }
    }
    const sessionsPath = '/redfish/v1/SessionService/Sessions';
    if (path === '/redfish/v1' && method === 'GET') {
      const root = (await read(path))!;
      if (opts.noSessions === true) {
        delete root.body['SessionService'];
        delete root.body['Links'];
      }
      return { status: 200, body: root.body };
    }
    if (path === sessionsPath && method === 'POST') {
      if (opts.noSessions === true) return { status: 404, body: error('Not found', 'Base.1.8.ResourceMissingAtURI') };
      if (body['UserName'] !== username || body['Password'] !== password)
        return { status: 401, body: error('Invalid username or password.', 'Base.1.8.NoValidSession') };
      const id = randomBytes(8).toString('hex');
      const token = randomBytes(16).toString('hex');
      sessions.set(id, username);
      tokens.set(token, id);
      state.logins++;
      const location = tree.id(`${sessionsPath}/${id}`)['@odata.id'];
      return { status: 201, headers: { 'x-auth-token': token, location }, body: { ...tree.id(`${sessionsPath}/${id}`), Id: id, UserName: username } };
    }
    if (authOf(req) === undefined) return { status: 401, body: error('No valid session or credentials.', 'Base.1.8.NoValidSession') };
    const sess = /^\/redfish\/v1\/SessionService\/Sessions\/([^/]+)$/.exec(path);
    if (sess !== null && method === 'DELETE') {
      if (!sessions.delete(sess[1]!)) return { status: 404, body: error('No such session.') };
      for (const [t, id] of tokens) if (id === sess[1]) tokens.delete(t);
      return { status: 204 };
    }
    if (method === 'GET') {
      const r = await read(path);
      if (r === undefined) return { status: 404, body: error(`${path} not found`, 'Base.1.8.ResourceMissingAtURI') };
      return { status: 200, body: r.body, ...(r.etag === undefined ? {} : { headers: { etag: r.etag } }) };
    }
    if (method === 'POST' && path === `${tree.sys}/Actions/ComputerSystem.Reset`) {
      const type = String(body['ResetType']);
      if (!f.resetTypes.includes(type) || !(await reset(type))) {
        return { status: 400, body: error(`The value ${type} for the parameter ResetType is not supported.`, 'Base.1.8.ActionParameterNotSupported') };
      }
      state.resets.push(type);
      if (once.stall) {
        once.stall = false;
        return 'stall';
      }
      return { status: 204 };
    }
    const settingsPath = `${tree.sys}/Settings`;
    if (method === 'PATCH' && (path === tree.sys || (f.settingsHoldsMode && path === settingsPath))) {
      const current = (await read(path))!;
      const ifMatch = req.headers['if-match'];
      if (ifMatch === undefined && opts.requireIfMatch === true)
        return { status: 428, body: error('An If-Match header is required.', 'Base.1.8.PreconditionRequired') };
      if (ifMatch !== undefined) {
        if (once.e412) {
          once.e412 = false;
          salt++;
          return { status: 412, body: error('The ETag does not match.', 'Base.1.8.PreconditionFailed') };
        }
        if (current.etag === undefined || opaque(ifMatch) !== opaque(current.etag))
          return { status: 412, body: error('The ETag does not match.', 'Base.1.8.PreconditionFailed') };
      }
      const patch = (body['Boot'] ?? {}) as Json;
      const target = patch['BootSourceOverrideTarget'];
      if (target !== undefined && !f.bootTargets.includes(String(target))) {
        return { status: 400, body: error(`The value ${String(target)} for BootSourceOverrideTarget is not supported.`, 'Base.1.8.PropertyValueNotInList') };
      }
      if (once.forget && path === tree.sys) {
        once.forget = false;
        return { status: 204 };
      }
      const mode = opts.dropBootMode === true ? undefined : patch['BootSourceOverrideMode'];
      if (path === settingsPath) {
        if (mode !== undefined) state.pendingMode = String(mode);
        return { status: 202 };
      }
      if (target !== undefined) boot.BootSourceOverrideTarget = String(target);
      if (patch['BootSourceOverrideEnabled'] !== undefined) boot.BootSourceOverrideEnabled = String(patch['BootSourceOverrideEnabled']);
      if (mode !== undefined) boot.BootSourceOverrideMode = String(mode);
      return { status: 204 };
    }
    return { status: 405, body: error(`${method} is not allowed on ${path}`, 'Base.1.8.OperationNotAllowed') };
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (opts.hang === true) return;
    inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, inFlight);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString();
      handle(req, raw)
        .catch((err: Error): Answer => ({ status: 500, body: error(err.message) }))
        .then((out) => {
          if (out === 'stall') return;
          const auth = authOf(req) ?? 'none';
          const ifMatch = req.headers['if-match'];
          let logged: Json | undefined;
          try {
            logged = raw === '' ? undefined : (JSON.parse(raw) as Json);
          } catch {
            logged = undefined;
          }
          const entry: SimRequest = {
            method: req.method ?? 'GET',
            path: req.url ?? '/',
            status: out.status,
            auth,
            ...(ifMatch === undefined ? {} : { ifMatch }),
            ...(logged === undefined ? {} : { body: logged }),
          };
          requests.push(entry);
          opts.onRequest?.(entry);
          const text = out.body === undefined ? '' : JSON.stringify(out.body);
          res.writeHead(out.status, { ...(text === '' ? {} : { 'content-type': 'application/json;charset=utf-8' }), 'odata-version': '4.0', ...out.headers });
          inFlight--;
          res.end(text);
        });
    });
  };

  const server = opts.tls === undefined ? http.createServer(onRequest) : https.createServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `${opts.tls === undefined ? 'http' : 'https'}://${host}:${addr.port}`,
    requests,
    sessionsOpen: () => sessions.size,
    expireSessions: () => {
      sessions.clear();
      tokens.clear();
    },
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
