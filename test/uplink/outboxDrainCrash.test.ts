// Crash safety of the outbox while it drains: kill -9 while appending and acking, 15 times over one
// store. At-least-once: an ack the child started may or may not have landed; one it saw resolve
// must have. See bed/crashLoop.ts for what is checked after each kill.
import t from 'tap';
import { crashLoop } from './bed/crashLoop.js';

t.test('kill -9 while appending and draining, 15 times over one store', (t) => crashLoop(t, 'drain', 15));
