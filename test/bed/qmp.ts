// A small QMP (QEMU Machine Protocol) client over QEMU's unix socket (`-qmp unix:PATH,server=on,wait=off`).
// QMP is line-delimited JSON: the server greets with {"QMP":…}, the client must send
// qmp_capabilities before anything else, then each command gets exactly one {"return"} or
// {"error"} carrying the command's "id"; {"event"} lines arrive at any time (docs/interop/qmp-spec).
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export class QmpError extends Error {
  readonly errorClass: string;
  constructor(command: string, errorClass: string, desc: string) {
    super(`QMP ${command}: ${errorClass}: ${desc}`);
    this.errorClass = errorClass;
  }
}

interface Pending {
  command: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** Emits 'event' (QmpEvent) for every asynchronous QMP event and 'close' when the socket closes. */
export class QmpClient extends EventEmitter {
  private readonly socket: Socket;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffer = '';
  private closed = false;

  private constructor(socket: Socket) {
    super();
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => this.onClose(new Error('QMP socket closed')));
    socket.on('error', (err) => this.onClose(err));
  }

  /**
   * Connects to `path`, retrying until `timeoutMs` (QEMU creates the socket a moment after it
   * starts), reads the greeting and negotiates capabilities.
   */
  static async connect(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const client = new QmpClient(socket);
        await client.greeting();
        await client.execute('qmp_capabilities');
        return client;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`QMP ${path}: cannot connect within ${timeoutMs} ms: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private greeted: { resolve(): void; reject(err: Error): void } | undefined;

  private greeting(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.greeted = { resolve, reject };
    });
  }

  /** Runs one command; resolves with its "return" value, rejects with QmpError on {"error"}. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`QMP ${command}: connection closed`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + '\n');
    });
  }

  /** Resolves with the next event named `name` (or rejects after `timeoutMs`). */
  waitForEvent(name: string, timeoutMs: number): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('event', listener);
        reject(new Error(`QMP event ${name} not seen within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (e: QmpEvent): void => {
        if (e.event !== name) return;
        clearTimeout(timer);
        this.off('event', listener);
        resolve(e);
      };
      this.on('event', listener);
    });
  }

  close(): void {
    if (this.closed) return;
    this.socket.end();
    this.socket.destroy();
    this.onClose(new Error('QMP client closed'));
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line) this.onMessage(JSON.parse(line) as Record<string, unknown>);
    }
  }

  private onMessage(msg: Record<string, unknown>): void {
    if ('QMP' in msg) {
      this.greeted?.resolve();
      this.greeted = undefined;
      return;
    }
    if ('event' in msg) {
      this.emit('event', msg as unknown as QmpEvent);
      return;
    }
    const id = msg['id'] as number | undefined;
    const waiter = id === undefined ? undefined : this.pending.get(id);
    if (!waiter || id === undefined) return;
    this.pending.delete(id);
    if ('error' in msg) {
      const e = msg['error'] as { class?: string; desc?: string };
      waiter.reject(new QmpError(waiter.command, e.class ?? 'GenericError', e.desc ?? ''));
    } else {
      waiter.resolve(msg['return']);
    }
  }

  private onClose(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.greeted?.reject(err);
    for (const p of this.pending.values()) p.reject(new Error(`QMP ${p.command}: ${err.message}`));
    this.pending.clear();
    this.emit('close');
  }
}
