// What the HTTP surface writes to the log. Every line goes through redaction first: the request's
// URL (req serializer), error messages and stacks (err serializer) and every string argument of a
// log call (the logger fastify is given redacts them), so a boot token reaches no line whichever
// way a client spells its URL and whichever component writes the line.
import type { FastifyBaseLogger } from 'fastify';
import pino, { type Logger } from 'pino';
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
