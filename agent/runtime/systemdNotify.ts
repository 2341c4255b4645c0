// sd_notify(3) for a unit with Type=notify. Node has no AF_UNIX datagram socket, so the messages
// go through systemd-notify(1), which since systemd 246 waits (a barrier) until the manager has
// read the message, so the short-lived helper's datagram is attributed to the unit: the unit needs
// NotifyAccess=all. Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
import { execFile } from 'node:child_process';

export interface SystemdNotifier {
  /** READY=1 with a status line (sent once the DHCP, TFTP, HTTP and admin sockets listen). */
  ready(status: string): void;
  /** STOPPING=1: systemd shows "deactivating" and waits TimeoutStopSec=. */
  stopping(): void;
  /** Starts WATCHDOG=1 pings at half of WatchdogSec= when the unit sets one; returns the stop. */
  startWatchdog(): () => void;
}

/** Runs systemd-notify with these arguments; failures are reported, never thrown. */
export type NotifySend = (args: readonly string[]) => Promise<void>;

export interface NotifierEnv {
  readonly NOTIFY_SOCKET?: string | undefined;
  readonly WATCHDOG_USEC?: string | undefined;
  readonly WATCHDOG_PID?: string | undefined;
}

/** The watchdog interval systemd asks this process for, in ms (sd_watchdog_enabled(3)), or undefined. */
export function watchdogIntervalMs(env: NotifierEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== '' && Number(env.WATCHDOG_PID) !== pid) return undefined;
  // Half the timeout, as sd_watchdog_enabled(3) recommends, so one late ping does not kill the unit.
  return Math.max(1, Math.floor(usec / 2000));
}

export const systemdNotifySend: NotifySend = (args) =>
  new Promise((resolve, reject) => {
    execFile('systemd-notify', [...args], { timeout: 5000 }, (err) => (err ? reject(err) : resolve()));
  });

export function createSystemdNotifier(
  env: NotifierEnv,
  opts: { pid?: number; send?: NotifySend; onError?: (err: Error) => void; setInterval?: typeof setInterval } = {},
): SystemdNotifier {
  const pid = opts.pid ?? process.pid;
  const send = opts.send ?? systemdNotifySend;
  const onError = opts.onError ?? (() => undefined);
  const every = opts.setInterval ?? setInterval;
  const enabled = env.NOTIFY_SOCKET !== undefined && env.NOTIFY_SOCKET !== '';
  // --pid names the agent, not the helper, as the sender (MAINPID stays the agent).
  const notify = (...args: string[]): void => {
    if (enabled) send([`--pid=${pid}`, ...args]).catch((err: Error) => onError(err));
  };
  return {
    ready: (status) => notify('--ready', `--status=${status}`),
    stopping: () => notify('STOPPING=1'),
    startWatchdog: () => {
      const ms = enabled ? watchdogIntervalMs(env, pid) : undefined;
      if (ms === undefined) return () => undefined;
      const timer = every(() => notify('WATCHDOG=1'), ms);
      timer.unref?.();
      return () => clearInterval(timer);
    },
  };
}
