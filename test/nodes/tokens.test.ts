import t from 'tap';
import { BootTokens, type BootGrant } from '../../agent/nodes/tokens.js';
import { BootTokenError } from '../../agent/errors.js';
import { tempAgentStore } from '../fakes/tempStore.js';

const setup = (t: { teardown(fn: () => unknown): void }) => tempAgentStore(t, 'tokens');

const reason = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof BootTokenError) return err.reason;
    throw err;
  }
  return undefined;
};

t.test("a token is good from an address leased to another of the node's MACs, never from any other", async (t) => {
  const { store } = await setup(t);
  const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), 600);
  const token = await tokens.issue({ nodeId: 'n1', mac: 'aa:bb:cc:dd:ee:02', ip: '198.18.0.12', generation: 1 });
  const leased = (): string => '198.18.0.12';
  const siblings = (g: BootGrant): string[] => (g.nodeId === 'n1' ? ['198.18.0.11'] : []);
  t.equal(tokens.check(token, '198.18.0.11', leased, siblings).nodeId, 'n1');
  t.equal(tokens.check(token, '198.18.0.12', leased, siblings).nodeId, 'n1');
  t.equal(
    reason(() => tokens.check(token, '198.18.0.13', leased, siblings)),
    'wrong-address',
  );
  t.equal(
    reason(() => tokens.check(token, '198.18.0.11', leased)),
    'wrong-address',
    'no siblings by default',
  );
});

t.test('a token is good only from the leased address, within its window, until superseded', async (t) => {
  const { store } = await setup(t);
  let now = 1_000_000;
  const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), 600, () => now);
  const grant = { nodeId: 'n1', mac: 'aa:bb:cc:dd:ee:01', ip: '198.18.0.11', generation: 1 };
  const token = await tokens.issue(grant);
  const leased = (): string => '198.18.0.11';
  t.equal(tokens.check(token, '198.18.0.11', leased).nodeId, 'n1');
  t.equal(
    reason(() => tokens.check(token, '198.18.0.12', leased)),
    'wrong-address',
  );
  t.equal(
    reason(() => tokens.check(token, '198.18.0.11', () => '198.18.0.50')),
    'wrong-address',
    'lease moved away',
  );
  t.equal(
    reason(() => tokens.check('x'.repeat(32), '198.18.0.11', leased)),
    'unknown',
  );
  t.equal(
    reason(() => tokens.check('../../etc', '198.18.0.11', leased)),
    'unknown',
  );
  const second = await tokens.issue(grant);
  t.equal(
    reason(() => tokens.check(token, '198.18.0.11', leased)),
    'unknown',
    'superseded by a newer boot',
  );
  t.equal(tokens.check(second, '198.18.0.11', leased).generation, 1);
  now += 601_000;
  t.equal(
    reason(() => tokens.check(second, '198.18.0.11', leased)),
    'expired',
  );
});

t.test('tokens survive a restart and the store holds only hashes', async (t) => {
  const { store } = await setup(t);
  const sub = store.sublevel<BootGrant>('tokens');
  const tokens = await BootTokens.open(sub, 600);
  const token = await tokens.issue({ nodeId: 'n1', mac: 'aa:bb:cc:dd:ee:01', ip: '198.18.0.11', generation: 1 });
  const keys: string[] = [];
  for await (const key of sub.keys()) keys.push(key);
  t.equal(keys.length, 1);
  t.not(keys[0], token, 'token itself is not stored');
  const reopened = await BootTokens.open(sub, 600);
  t.equal(reopened.check(token, '198.18.0.11', () => undefined).nodeId, 'n1');
});

t.test("a manifest's bootTokenTtlSeconds overrides the configured lifetime", async (t) => {
  const { store } = await setup(t);
  let now = 0;
  const tokens = await BootTokens.open(store.sublevel<BootGrant>('tokens'), 3600, () => now);
  const token = await tokens.issue({ nodeId: 'n1', mac: 'aa:bb:cc:dd:ee:01', ip: '198.18.0.11', generation: 1 }, 120);
  now = 119_000;
  t.equal(tokens.check(token, '198.18.0.11', () => undefined).nodeId, 'n1');
  now = 121_000;
  t.equal(
    reason(() => tokens.check(token, '198.18.0.11', () => undefined)),
    'expired',
  );
});
