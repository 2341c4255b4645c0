import t from 'tap';
import { createRack } from './netns.js';

// 198.18.250.0/24 is this file's subnet.
t.test('a rack namespace with a host reaches the agent address and is removed afterwards', async (t) => {
  const rack = await createRack('bedself', 250);
  t.teardown(() => rack.destroy());
  const host = await rack.addHost('h1', { address: '198.18.250.20/24' });
  const out = await rack.exec('ping', ['-c', '1', '-W', '2', rack.address], host);
  t.match(out, /1 received/);
  await rack.destroy();
  const list = await import('node:child_process').then((cp) => cp.execFileSync('ip', ['netns', 'list']).toString());
  t.notMatch(list, /maskin-bedself/);
});
