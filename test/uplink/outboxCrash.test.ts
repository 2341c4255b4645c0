// Crash safety of the outbox: kill -9 during appends, 25 times over one
// store; see bed/crashLoop.ts for what is checked after each kill.
import t from 'tap';
import { crashLoop } from './bed/crashLoop.js';

t.test('kill -9 during appends, 25 times over one store', (t) => crashLoop(t, 'append', 25));
