import t from 'tap';
import { createSystemdNotifier, watchdogIntervalMs } from '../../agent/runtime/systemdNotify.js';

t.test('the watchdog interval is half of WATCHDOG_USEC, for this process only', async (t) => {
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '60000000' }, 42), 30_000);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: '42' }, 42), 30_000);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: '7' }, 42), undefined, 'meant for another process');
  t.equal(watchdogIntervalMs({}, 42), undefined);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: 'x' }, 42), undefined);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 42), undefined);
});

t.test('under systemd: READY=1 with status, STOPPING=1 and watchdog pings name the agent as sender', async (t) => {
  const sent: string[][] = [];
  let tick: (() => void) | undefined;
  let cleared = false;
  const fakeInterval = ((fn: () => void, ms: number) => {
    t.equal(ms, 5000);
    tick = fn;
    return { unref() {} };
  }) as unknown as typeof setInterval;
  const originalClear = globalThis.clearInterval;
  globalThis.clearInterval = (() => {
    cleared = true;
  }) as typeof clearInterval;
  t.teardown(() => {
    globalThis.clearInterval = originalClear;
  });
  const n = createSystemdNotifier(
    { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '10000000' },
    {
      pid: 42,
      send: async (args) => void sent.push([...args]),
      setInterval: fakeInterval,
    },
  );
  n.ready('serving on prov0');
  const stop = n.startWatchdog();
  tick?.();
  n.stopping();
  stop();
  t.same(sent, [
    ['--pid=42', '--ready', '--status=serving on prov0'],
    ['--pid=42', 'WATCHDOG=1'],
    ['--pid=42', 'STOPPING=1'],
  ]);
  t.ok(cleared, 'the watchdog timer stops');
});

t.test('outside systemd nothing is sent; a failing systemd-notify is reported, not thrown', async (t) => {
  const sent: string[][] = [];
  const quiet = createSystemdNotifier({}, { send: async (args) => void sent.push([...args]) });
  quiet.ready('x');
  quiet.startWatchdog()();
  t.same(sent, []);
  const errors: string[] = [];
  const failing = createSystemdNotifier(
    { NOTIFY_SOCKET: '/nonexistent' },
    { send: async () => Promise.reject(new Error('spawn systemd-notify ENOENT')), onError: (err) => errors.push(err.message) },
  );
  failing.ready('x');
  await new Promise((resolve) => setImmediate(resolve));
  t.same(errors, ['spawn systemd-notify ENOENT']);
});
