// The mDNS transport for one interface: multicast-dns binds 0.0.0.0:5353 (shared, SO_REUSEADDR),
// joins 224.0.0.251 on the interface's address only and decodes datagrams; policy.ts decides; this
// file only sends what it decides, encoded by dns-packet. Every event and call of the libraries is
// caught here: nothing a neighbour sends, and no socket error, can end the agent.
import { createSocket } from 'node:dgram';
import dnsPacket, { type Answer, type DecodedPacket, type Packet } from 'dns-packet';
import makeMdns from 'multicast-dns';
import type { Logger } from 'pino';
import type { Subnet } from '../net/ipv4.js';
import type { AnnounceMetrics } from './metrics.js';
import { admit, conflicts, decide, MDNS_PORT, TokenBucket, unsolicited, type Arrival, type Link } from './policy.js';
import { goodbye, recordKey } from './records.js';

export const MDNS_GROUP = '224.0.0.251';
/** Unicast answers (QU and legacy) per second, and at once: far above what operators' browsers ask. */
const UNICAST_PER_SECOND = 20;
const UNICAST_BURST = 40;
/** A send that has not called back by then counts as failed (the socket may be wedged). */
const SEND_TIMEOUT_MS = 1000;
/** One log line per reason at most this often; the counters have every one. */
const LOG_EVERY_MS = 10_000;

export interface ResponderOptions {
  readonly interfaceName: string;
  readonly link: Link;
  readonly records: readonly Answer[];
  /** Every address of this host: their datagrams are our own, looped back. */
  readonly own: ReadonlySet<string>;
  readonly provisioning: Subnet;
  readonly metrics: AnnounceMetrics;
  readonly log: Logger;
  readonly now?: () => number;
}

export interface Responder {
  /** Sends every record unsolicited (RFC 6762 §8.3); false when the send failed. */
  announce(): Promise<boolean>;
  /** Set once the socket failed; the service opens a new responder. */
  readonly broken: () => boolean;
  /** Goodbye (TTL 0, RFC 6762 §10.1), then the socket closes. Never rejects. */
  close(): Promise<void>;
}

/** Binds and joins the group; rejects only when the socket cannot be had at all. */
export function openResponder(opts: ResponderOptions): Promise<Responder> {
  const now = opts.now ?? Date.now;
  const { interfaceName, metrics, log } = opts;
  const lastMulticast = new Map<string, number>();
  const budget = new TokenBucket(UNICAST_PER_SECOND, UNICAST_BURST, now());
  const lastLog = new Map<string, number>();
  let broken = false;
  let closed = false;

  const throttled = (reason: string, line: () => void): void => {
    const at = now();
    if (at - (lastLog.get(reason) ?? -Infinity) < LOG_EVERY_MS) return;
    lastLog.set(reason, at);
    line();
  };

  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  // multicast-dns adds its own 'error' listener and re-emits; this one guards the gap before it does.
  socket.on('error', () => undefined);
  const mdns = makeMdns({ socket, interface: opts.link.address, bind: '0.0.0.0', port: MDNS_PORT, multicast: true, loopback: true, ttl: 255 });

  const send = (packet: Packet, to: Arrival): Promise<boolean> =>
    new Promise((resolve) => {
      if (closed) return resolve(false);
      let bytes: Buffer;
      try {
        bytes = dnsPacket.encode(packet);
      } catch (err) {
        metrics.dropped.inc({ reason: 'internal' });
        throttled('encode', () => log.error({ err, interface: interfaceName }, 'mDNS answer could not be encoded; not sent'));
        return resolve(false);
      }
      const timer = setTimeout(() => done(new Error('send timed out')), SEND_TIMEOUT_MS);
      let settled = false;
      const done = (err: Error | null | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          metrics.failures.inc({ interface: interfaceName, reason: 'send' });
          throttled('send', () => log.warn({ code: 'MASKIN_ERR_ANNOUNCE', interface: interfaceName, to, err: err.message }, 'mDNS send failed'));
        }
        resolve(!err);
      };
      try {
        socket.send(bytes, to.port, to.address, done);
      } catch (err) {
        done(err as Error);
      }
    });

  const onQuery = (packet: DecodedPacket, rinfo: Arrival): void => {
    const from = { address: rinfo.address, port: rinfo.port };
    const admitted = admit(from, opts.link, opts.own, opts.provisioning);
    if (admitted === 'own') return;
    if (admitted !== 'ok') {
      metrics.dropped.inc({ reason: admitted });
      throttled(admitted, () => log.debug({ interface: interfaceName, from }, 'mDNS query from outside the interface subnet ignored'));
      return;
    }
    const decision = decide(packet, from, opts.records, lastMulticast, now());
    switch (decision.kind) {
      case 'none':
        return;
      case 'multicast':
        for (const key of decision.sent) lastMulticast.set(key, now());
        metrics.answers.inc({ kind: 'multicast' });
        void send(decision.packet, { address: MDNS_GROUP, port: MDNS_PORT });
        return;
      case 'unicast':
      case 'legacy-unicast':
        if (!budget.take(now())) {
          metrics.dropped.inc({ reason: 'rate-limited' });
          throttled('rate-limited', () => log.warn({ interface: interfaceName, from }, 'mDNS unicast answers over their budget; dropping'));
          return;
        }
        metrics.answers.inc({ kind: decision.kind });
        void send(decision.packet, decision.to);
        return;
    }
  };

  const onResponse = (packet: DecodedPacket, rinfo: Arrival): void => {
    if (rinfo.port !== MDNS_PORT) return; // RFC 6762 §6: not from a responder
    const from = { address: rinfo.address, port: rinfo.port };
    if (admit(from, opts.link, opts.own, opts.provisioning) !== 'ok') return;
    const names = conflicts(packet, opts.records);
    if (names.length === 0) return;
    metrics.conflicts.inc({ interface: interfaceName });
    throttled('conflict', () =>
      log.warn(
        { code: 'MASKIN_ERR_ANNOUNCE_CONFLICT', interface: interfaceName, from: from.address, names },
        'another host answers for this agent’s mDNS names; give each agent its own agentId or announce.instanceName',
      ),
    );
  };

  const guard =
    <A extends unknown[]>(fn: (...args: A) => void) =>
    (...args: A): void => {
      try {
        fn(...args);
      } catch (err) {
        metrics.dropped.inc({ reason: 'internal' });
        throttled('internal', () => log.error({ err, interface: interfaceName }, 'mDNS packet handling failed; packet dropped'));
      }
    };
  mdns.on('query', guard(onQuery as (packet: DecodedPacket, rinfo: Arrival) => void));
  mdns.on('response', guard(onResponse as (packet: DecodedPacket, rinfo: Arrival) => void));
  // multicast-dns: decode failures and socket trouble other than EACCES/EADDRINUSE are warnings.
  // Only a socket error names its system call; a decode error may carry a code (ERR_OUT_OF_RANGE).
  mdns.on(
    'warning',
    guard((err: NodeJS.ErrnoException) => {
      if (typeof err.syscall !== 'string') {
        metrics.dropped.inc({ reason: 'malformed' });
        throttled('malformed', () =>
          log.debug({ code: 'MASKIN_ERR_MDNS_MALFORMED', interface: interfaceName, err: err.message }, 'malformed mDNS datagram dropped'),
        );
        return;
      }
      metrics.failures.inc({ interface: interfaceName, reason: 'socket' });
      throttled('socket', () => log.warn({ code: 'MASKIN_ERR_ANNOUNCE', interface: interfaceName, err: err.message }, 'mDNS socket warning'));
    }),
  );

  const destroy = (): Promise<void> =>
    new Promise((resolve) => {
      try {
        mdns.destroy(() => resolve());
      } catch {
        resolve();
      }
    });

  return new Promise((resolve, reject) => {
    let ready = false;
    mdns.on('error', (err: Error) => {
      if (!ready) {
        closed = true;
        void destroy().then(() => reject(err));
        return;
      }
      broken = true;
      metrics.failures.inc({ interface: interfaceName, reason: 'socket' });
      throttled('error', () => log.warn({ code: 'MASKIN_ERR_ANNOUNCE', interface: interfaceName, err: err.message }, 'mDNS socket failed; reopening'));
    });
    mdns.on('ready', () => {
      ready = true;
      resolve({
        broken: () => broken,
        async announce() {
          const packet = unsolicited(opts.records);
          for (const r of opts.records) lastMulticast.set(recordKey(r), now());
          const ok = await send(packet, { address: MDNS_GROUP, port: MDNS_PORT });
          if (ok) metrics.answers.inc({ kind: 'announcement' });
          return ok;
        },
        async close() {
          if (closed) return;
          if (!broken && (await send(unsolicited(goodbye(opts.records)), { address: MDNS_GROUP, port: MDNS_PORT }))) metrics.answers.inc({ kind: 'goodbye' });
          closed = true;
          await destroy();
        },
      });
    });
  });
}
