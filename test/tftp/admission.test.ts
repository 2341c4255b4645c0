// Admission of TFTP read requests: the pure decision as a table, and the slot counter the server keeps.
import t from 'tap';
import { admit, TransferSlots, type Load, type Refusal } from '../../agent/tftp/admission.js';

const limits = { maxTransfers: 256, maxTransfersPerClient: 16 };

const table: { name: string; load: Load; expect: Refusal | undefined }[] = [
  { name: 'an idle server admits', load: { total: 0, client: 0 }, expect: undefined },
  { name: 'below both bounds', load: { total: 255, client: 15 }, expect: undefined },
  { name: 'the client holds its share', load: { total: 16, client: 16 }, expect: 'client-limit' },
  { name: 'the server is full', load: { total: 256, client: 0 }, expect: 'server-limit' },
  { name: 'both: the client is told it holds its share', load: { total: 256, client: 16 }, expect: 'client-limit' },
  { name: 'over both (limits lowered meanwhile)', load: { total: 300, client: 20 }, expect: 'client-limit' },
];

for (const row of table) {
  t.test(row.name, async (t) => {
    t.equal(admit(row.load, limits), row.expect);
  });
}

t.test('slots: per address and in total, released once, the table keeps only busy addresses', async (t) => {
  const slots = new TransferSlots({ maxTransfers: 3, maxTransfersPerClient: 2 });
  const a1 = slots.take('198.18.0.10');
  const a2 = slots.take('198.18.0.10');
  t.match(slots.take('198.18.0.10'), { ok: false, reason: 'client-limit' });
  const b1 = slots.take('198.18.0.11');
  t.match(slots.take('198.18.0.12'), { ok: false, reason: 'server-limit' });
  t.equal(slots.active(), 3);
  t.equal(slots.clients(), 2);
  if (!a1.ok || !a2.ok || !b1.ok) return t.fail('admitted');
  a1.slot.release();
  a1.slot.release();
  t.equal(slots.active(), 2, 'a second release is a no-op');
  t.match(slots.take('198.18.0.12'), { ok: true }, 'a freed slot goes to the next client');
  a2.slot.release();
  b1.slot.release();
  t.equal(slots.clients(), 1, 'addresses without a transfer leave the table');
});
