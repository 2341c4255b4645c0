// The lease pool: an in-memory index over the `leases` sublevel (keyed by address), updated
// synchronously when a change is applied so concurrent packets never pick the same address, and
// persisted behind it. Durable changes (bind, release, decline) resolve only once LevelDB has
// written them with { sync: true }; offers stay in memory; writes that arrive while one is in flight are grouped into the
// next batch (group commit), so a storm costs one fsync per batch rather than one per ACK.
import type { AbstractBatchOptions } from 'abstract-level';
import type { Sublevel } from '../store/store.js';
import { ipToInt } from '../net/ipv4.js';
import type { LeaseView } from './leaseView.js';
import { isDurable, type LeaseChange, type LeaseRecord, type LeaseTable } from './leaseTable.js';

export interface LeasePool extends LeaseView, LeaseTable {
  /** Updates the index at once; the promise resolves when the change is on disk (synced if durable). */
  apply(change: LeaseChange): Promise<void>;
  /** Resolves when every write so far is on disk. */
  flush(): Promise<void>;
  size(): number;
}

type Op = { type: 'put'; key: string; value: LeaseRecord } | { type: 'del'; key: string };

interface Pending {
  ops: Op[];
  sync: boolean;
  waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }>;
}

export async function openLeasePool(db: Sublevel<LeaseRecord>, opts: { now?: () => number } = {}): Promise<LeasePool> {
  const now = opts.now ?? Date.now;
  const byIp = new Map<number, LeaseRecord>();
  const byMac = new Map<string, LeaseRecord>();
  for await (const [, record] of db.iterator()) {
    byIp.set(ipToInt(record.ip), record);
    if (record.state === 'declined') continue;
    const other = byMac.get(record.mac);
    if (!other || other.expiresAt < record.expiresAt) byMac.set(record.mac, record);
  }

  let pending: Pending = { ops: [], sync: false, waiters: [] };
  let writing: Promise<void> | undefined;
  const write = (ops: Op[], sync: boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      pending.ops.push(...ops);
      pending.sync ||= sync;
      pending.waiters.push({ resolve, reject });
      writing ??= drain();
    });
  async function drain(): Promise<void> {
    // Let the packets of the current event-loop turn join this batch.
    await new Promise<void>((r) => setImmediate(r));
    while (pending.waiters.length) {
      const batch = pending;
      pending = { ops: [], sync: false, waiters: [] };
      try {
        if (batch.ops.length) {
          // Sublevels forward batch options to classic-level, whose `sync` their types omit.
          const options = { sync: batch.sync } as AbstractBatchOptions<string, LeaseRecord>;
          await db.batch(batch.ops, options);
        }
        for (const w of batch.waiters) w.resolve();
      } catch (err) {
        for (const w of batch.waiters) w.reject(err);
      }
    }
    writing = undefined;
  }

  function set(record: LeaseRecord): Op[] {
    const n = ipToInt(record.ip);
    const ops: Op[] = [{ type: 'put', key: record.ip, value: record }];
    const displaced = byIp.get(n);
    if (displaced && displaced.mac !== record.mac && byMac.get(displaced.mac) === displaced) byMac.delete(displaced.mac);
    const previous = byMac.get(record.mac);
    // A client moving to another address leaves its old one behind: forget it.
    if (previous && previous.ip !== record.ip) {
      byIp.delete(ipToInt(previous.ip));
      ops.push({ type: 'del', key: previous.ip });
    }
    byIp.set(n, record);
    if (record.state === 'declined') {
      if (byMac.get(record.mac)?.ip === record.ip) byMac.delete(record.mac);
    } else byMac.set(record.mac, record);
    return ops;
  }

  let cursor = 0;
  const pool: LeasePool = {
    byMac: (mac) => byMac.get(mac),
    byIp: (ip) => byIp.get(ip),
    freeAddress(start, end, at, reserved) {
      const span = end - start + 1;
      if (span <= 0) return undefined;
      // Never-used addresses first, scanning from a rotating cursor so allocation stays O(1) on average.
      for (let i = 0; i < span; i++) {
        const ip = start + ((cursor + i) % span);
        if (!byIp.has(ip) && !reserved(ip)) {
          cursor = (cursor + i + 1) % span;
          return ip;
        }
      }
      let oldest: LeaseRecord | undefined;
      for (let ip = start; ip <= end; ip++) {
        const r = byIp.get(ip);
        if (r && r.expiresAt <= at && !reserved(ip) && (!oldest || r.expiresAt < oldest.expiresAt)) oldest = r;
      }
      return oldest ? ipToInt(oldest.ip) : undefined;
    },
    apply(change) {
      let ops: Op[];
      switch (change.op) {
        case 'offer':
        case 'bind':
          ops = set({ ip: change.ip, mac: change.mac, state: change.op === 'offer' ? 'offered' : 'bound', expiresAt: change.until });
          break;
        case 'decline':
          ops = set({ ip: change.ip, mac: change.mac, state: 'declined', expiresAt: change.until });
          break;
        case 'release':
        case 'forget-offer': {
          // Kept with an expiry of now, so the same MAC gets the same address back while it is free.
          const held = byMac.get(change.mac);
          if (!held || held.ip !== change.ip) return Promise.resolve();
          ops = set({ ip: change.ip, mac: change.mac, state: change.op === 'release' ? 'released' : 'offered', expiresAt: change.at });
          break;
        }
      }
      if (isDurable(change)) return write(ops, true);
      // An offer is held in memory only (RFC 2131 §4.3.1: a server need not reserve what it offers):
      // after a restart the client's REQUEST is judged afresh. Only the address a moving client
      // leaves behind is deleted, so the store never keeps two addresses for one MAC.
      const deletes = ops.filter((op) => op.type === 'del');
      return deletes.length > 0 ? write(deletes, false) : Promise.resolve();
    },
    flush: () => (writing ? write([], false) : Promise.resolve()),
    size: () => byIp.size,
    ipOf(mac) {
      const r = byMac.get(mac.toLowerCase());
      return r && r.state === 'bound' && r.expiresAt > now() ? r.ip : undefined;
    },
    macOf(ip) {
      const r = byIp.get(ipToInt(ip));
      return r && r.state === 'bound' && r.expiresAt > now() ? r.mac : undefined;
    },
  };
  return pool;
}
