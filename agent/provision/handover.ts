// Hand-over check: the installed node answers on the Talos API port (apid, 50000), i.e. it came
// back from its own disk and the cluster tooling can take it from here.
import { connect } from 'node:net';

/** Resolves when a TCP connection to ip:port opens within `timeoutMs`; rejects with why not. */
export function tcpProbe(ip: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: ip, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`no answer from ${ip}:${port} within ${timeoutMs} ms`));
    });
    socket.once('error', (err) => {
      socket.destroy();
      reject(new Error(`${ip}:${port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
  });
}
