import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LeaseRecord } from '../../agent/dhcp/leaseTable.js';
import { openLeasePool } from '../../agent/dhcp/leases.js';
import { openStore } from '../../agent/store/store.js';
import { memorySublevel } from '../fakes/sublevel.js';

const T0 = 1_700_000_000_000;

t.test('leases survive a restart of the store', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'maskin-leases-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let store = await openStore(dir);
  let pool = await openLeasePool(store.sublevel<LeaseRecord>('leases'), { now: () => T0 });
  await pool.apply({ op: 'bind', mac: '02:00:00:00:00:01', ip: '198.18.70.100', until: T0 + 3600_000 });
  await pool.apply({ op: 'decline', mac: '02:00:00:00:00:02', ip: '198.18.70.101', until: T0 + 3600_000 });
  void pool.apply({ op: 'offer', mac: '02:00:00:00:00:03', ip: '198.18.70.102', until: T0 + 30_000 });
  await pool.flush();
  await store.close();

  store = await openStore(dir);
  t.teardown(() => store.close());
  pool = await openLeasePool(store.sublevel<LeaseRecord>('leases'), { now: () => T0 });
  t.equal(pool.ipOf('02:00:00:00:00:01'), '198.18.70.100');
  t.equal(pool.macOf('198.18.70.100'), '02:00:00:00:00:01');
  t.equal(pool.byIp(0xc6124665)?.state, 'declined', '198.18.70.101 still quarantined');
  t.equal(pool.byMac('02:00:00:00:00:03'), undefined, 'an offer is held in memory only (RFC 2131 §4.3.1)');
  t.equal(pool.size(), 2);
  const free = pool.freeAddress(0xc6124664, 0xc6124667, T0, () => false);
  t.equal(free, 0xc6124666, 'the offered address is free again after the restart');
});

t.test('a client moving to another address leaves no stale record behind', async (t) => {
  const mem = memorySublevel<LeaseRecord>();
  const pool = await openLeasePool(mem.sublevel, { now: () => T0 });
  await pool.apply({ op: 'bind', mac: '02:00:00:00:00:01', ip: '198.18.70.100', until: T0 + 1000 });
  await pool.apply({ op: 'bind', mac: '02:00:00:00:00:01', ip: '198.18.70.110', until: T0 + 1000 });
  t.same([...mem.data.keys()], ['198.18.70.110']);
  t.equal(pool.macOf('198.18.70.100'), undefined);
  // Another client taking over an expired address removes the old owner's index entry.
  await pool.apply({ op: 'bind', mac: '02:00:00:00:00:02', ip: '198.18.70.110', until: T0 + 5000 });
  t.equal(pool.byMac('02:00:00:00:00:01'), undefined);
  t.equal(pool.ipOf('02:00:00:00:00:02'), '198.18.70.110');
});

t.test('durable changes are written with sync and grouped into few batches', async (t) => {
  const mem = memorySublevel<LeaseRecord>();
  const pool = await openLeasePool(mem.sublevel, { now: () => T0 });
  const writes: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) {
    writes.push(
      pool.apply({
        op: 'bind',
        mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
        ip: `198.18.70.${i}`,
        until: T0 + 1,
      }),
    );
  }
  await Promise.all(writes);
  t.equal(mem.data.size, 200);
  t.ok(mem.stats.batches <= 2, `200 binds in ${mem.stats.batches} batch(es)`);
  t.equal(mem.stats.synced, mem.stats.batches);
  const batches = mem.stats.batches;
  await pool.apply({ op: 'offer', mac: '02:00:00:00:09:99', ip: '198.18.71.1', until: T0 + 1 });
  t.equal(mem.stats.batches, batches, 'an offer is not written at all');
  t.equal(pool.byMac('02:00:00:00:09:99')?.state, 'offered', 'but holds its address in memory');
  // A client bound elsewhere that is offered another address: the old one is deleted (unsynced).
  await pool.apply({ op: 'offer', mac: '02:00:00:00:00:07', ip: '198.18.71.2', until: T0 + 1 });
  t.equal(mem.stats.batches, batches + 1);
  t.equal(mem.stats.synced, batches);
  t.notOk(mem.data.has('198.18.70.7'), "the moving client's old address is gone from the store");
  t.notOk(mem.data.has('198.18.71.2'), 'and its offer is not in it');
});

t.test('a broken store rejects durable changes instead of pretending', async (t) => {
  const pool = await openLeasePool(memorySublevel<LeaseRecord>({ failing: true }).sublevel, { now: () => T0 });
  await t.rejects(pool.apply({ op: 'bind', mac: '02:00:00:00:00:01', ip: '198.18.70.100', until: T0 + 1 }));
});
