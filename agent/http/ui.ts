// The rack status page: the page and its script (agent/ui/page.ts), a token login that gives a
// session cookie (HttpOnly, SameSite=Strict) and the CSRF token the page sends with every action,
// and server-sent events with the rack's state whenever it changes. Everything the page shows is
// the admin API's JSON; the page renders it as text, never as markup.
import type { FastifyPluginAsync } from 'fastify';
import { PAGE_CSS, PAGE_HTML, PAGE_SCRIPT } from '../ui/page.js';
import { SESSION_COOKIE, SESSION_TTL_MS, type Sessions } from '../ui/sessions.js';
import { isLoopback } from '../net/ipv4.js';
import { agentStatus, nodeList } from './admin.js';
import { bearerMatches } from './bearer.js';
import type { HttpDeps } from './deps.js';

/** Event streams open at once; more get 503 (each one re-reads the rack every second). */
export const MAX_EVENT_STREAMS = 16;
const POLL_MS = 1000;
const KEEPALIVE_MS = 15_000;

const cookie = (value: string, maxAgeSeconds: number): string => `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}`;

/** The page, its script, the session check, login and logout: open routes (the login is the gate). */
export const uiRoutes: FastifyPluginAsync<HttpDeps & { sessions: Sessions }> = async (app, deps) => {
  const { sessions } = deps;
  const limited = { config: { limitGroup: 'admin' as const } };
  app.get('/ui', limited, async (_request, reply) => {
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').header('content-security-policy', "default-src 'self'; frame-ancestors 'none'");
    return PAGE_HTML;
  });
  app.get('/ui/app.js', limited, async (_request, reply) => {
    reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-store');
    return PAGE_SCRIPT;
  });
  app.get('/ui/app.css', limited, async (_request, reply) => {
    reply.type('text/css; charset=utf-8').header('cache-control', 'no-store');
    return PAGE_CSS;
  });
  app.get('/ui/session', limited, async (request) => {
    const session = sessions.fromCookie(request.headers.cookie);
    return session ? { loggedIn: true, csrf: session.csrf, agentId: deps.config.agentId } : { loggedIn: false, agentId: deps.config.agentId };
  });
  app.post<{ Body: unknown }>('/ui/login', limited, async (request, reply) => {
    const given = (request.body as { token?: unknown } | null)?.token;
    const token = deps.config.adminToken;
    // With no admin token configured, the host itself may log in (as it may call the API).
    const ok = token !== undefined ? typeof given === 'string' && bearerMatches(`Bearer ${given}`, token) : isLoopback(request.ip);
    if (!ok) {
      request.refused('admin-auth', { from: request.ip }, 'status page login refused');
      reply.code(401);
      return {
        error: 'unauthorized',
        reason: token !== undefined ? 'wrong admin token' : 'no admin token is configured; log in from the agent host, or set one',
      };
    }
    const session = sessions.create();
    reply.header('set-cookie', cookie(session.id, Math.floor(SESSION_TTL_MS / 1000)));
    return { loggedIn: true, csrf: session.csrf };
  });
  app.post('/ui/logout', limited, async (request, reply) => {
    const session = sessions.fromCookie(request.headers.cookie);
    if (session) sessions.end(session.id);
    reply.header('set-cookie', cookie('', 0));
    return { loggedIn: false };
  });
};

/** GET /ui/events: the rack (status and node list) as `event: rack`, sent again whenever it changes. Behind the admin guard. */
export const uiEvents: FastifyPluginAsync<HttpDeps> = async (app, deps) => {
  let open = 0;
  app.get('/ui/events', (request, reply) => {
    if (open >= MAX_EVENT_STREAMS) {
      void reply.code(503).send({ error: 'busy', reason: `${MAX_EVENT_STREAMS} status pages are open`, fix: 'close one, or reload later' });
      return;
    }
    open++;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
    let last = '';
    const send = (): void => {
      let body: string;
      try {
        body = JSON.stringify({ status: agentStatus(deps), nodes: nodeList(deps).nodes });
      } catch (err) {
        request.log.warn({ err }, 'status page update failed');
        return;
      }
      if (body === last) return;
      last = body;
      res.write(`event: rack\ndata: ${body}\n\n`);
    };
    send();
    const poll = setInterval(send, POLL_MS);
    const keepalive = setInterval(() => res.write(': keep-alive\n\n'), KEEPALIVE_MS);
    res.on('close', () => {
      clearInterval(poll);
      clearInterval(keepalive);
      open--;
    });
  });
};
