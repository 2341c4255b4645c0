// What the HTTP surface writes to the log. One line per request, when it completes, with method,
// redacted URL, source, status and time. Lines about refused requests (status 400 and up, errors,
// and the refusal lines routes write through request.refused) stay within a per-source budget
// (http.limits.refusalLogLines per window); the rest are counted and summed up in one line per
// source and window. Every line goes through redaction first: the request's URL (req serializer),
// error messages and stacks (err serializer) and every string argument of a log call (the logger
// fastify is given redacts them), so a boot token reaches no line whichever way a client spells
// its URL and whichever component writes the line.
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import pino, { type Logger } from 'pino';
import type { Counter } from 'prom-client';
import type { HttpLimits } from '../config/model.js';
import { LogBudget, type Suppressed } from './logBudget.js';
import { redactText, redactUrl } from './redact.js';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
type LogFn = (this: Logger, ...args: unknown[]) => void;

export const httpSerializers = {
  req: (request: { method: string; url: string; ip?: string }) => ({ method: request.method, url: redactUrl(request.url), remoteAddress: request.ip }),
  res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode }),
  err: (err: Error) => {
    const out = pino.stdSerializers.err(err);
    return { ...out, message: redactText(out.message), ...(out.stack !== undefined ? { stack: redactText(out.stack) } : {}) };
  },
};

/** `log` as fastify sees it: the same logger, with every string argument of a call redacted, children too. */
export function redactingLogger(log: Logger): FastifyBaseLogger {
  const facade = {
    get level() {
      return log.level;
    },
    set level(level: string) {
      log.level = level;
    },
    // fastify merges its default serializers under the ones it finds here (pino's own symbol).
    get [pino.symbols.serializersSym]() {
      return (log as unknown as Record<symbol, unknown>)[pino.symbols.serializersSym];
    },
    silent: () => undefined,
    child: (bindings: pino.Bindings, options?: pino.ChildLoggerOptions) => redactingLogger(log.child(bindings, options)),
  } as Partial<Record<(typeof LEVELS)[number], (...args: unknown[]) => void>> & Pick<FastifyBaseLogger, 'level' | 'silent' | 'child'>;
  for (const level of LEVELS) {
    const write = log[level] as LogFn;
    facade[level] = (...args) =>
      write.apply(
        log,
        args.map((arg) => (typeof arg === 'string' ? redactText(arg) : arg)),
      );
  }
  return facade as FastifyBaseLogger;
}

/** Lines about refused requests, within a LogBudget per source address. */
export class RefusalLog {
  private readonly budget: LogBudget;

  constructor(
    private readonly log: Logger,
    private readonly limits: Pick<HttpLimits, 'windowMs' | 'refusalLogLines'>,
    private readonly suppressedLines: Counter,
    private readonly now: () => number = Date.now,
  ) {
    this.budget = new LogBudget({ linesPerWindow: limits.refusalLogLines, windowMs: limits.windowMs });
  }

  /** Whether one more line about a refused request from `source` may be written; if not, it is counted. */
  admit(source: string): boolean {
    const take = this.budget.take(source, this.now());
    if (take.ended) this.summarise(take.ended);
    if (!take.write) this.suppressedLines.inc();
    return take.write;
  }

  /** Summarises every window ended by now; `all` ends every window (on close). */
  flush(all = false): void {
    for (const ended of this.budget.drain(all ? Number.POSITIVE_INFINITY : this.now())) this.summarise(ended);
  }

  private summarise({ source, suppressed }: Suppressed): void {
    this.log.warn({ from: source, suppressed, windowSeconds: this.limits.windowMs / 1000 }, 'refusal log lines suppressed');
  }
}

/** Fastify's request logging, as the header says: one completion line, refusals within the budget. */
export class HttpLogController extends LogController {
  constructor(private readonly refusals: RefusalLog) {
    super();
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const fields = { req: request, res: reply, responseTime: reply.elapsedTime };
    // Served requests are routine (wait loops, scrapes): debug. Refusals and errors stay visible.
    if (!error && reply.statusCode < 400) return reply.log.debug(fields, 'request completed');
    if (!this.refusals.admit(request.ip)) return;
    if (error) reply.log.error({ ...fields, err: error }, 'request errored');
    else reply.log.info(fields, 'request completed');
  }

  override defaultErrorLog(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    if (this.refusals.admit(request.ip)) super.defaultErrorLog(error, request, reply);
  }

  override streamError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    if (this.refusals.admit(request.ip)) super.streamError(error, request, reply);
  }

  /** The not-found handler answers, and the completion line says what was asked for. */
  override routeNotFound(): void {}
}
