// UDP plumbing of the DHCP and TFTP servers: an exclusive bind whose failure is a rejection, and
// the `ready` promise a server settles once its sockets are bound.
import type { Socket } from 'node:dgram';

/** What a UDP server's `ready` resolves with: the port it bound (the real one when asked for 0). */
export interface UdpBound {
  readonly port: number;
}

/** Binds `socket` exclusively and resolves with the bound port; a bind error rejects rather than reaching 'error' listeners. */
export function bindUdp(socket: Socket, address: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    socket.once('error', onError);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(socket.address().port);
    });
  });
}

export interface UdpReady {
  /** Resolves once the server is bound; rejects with the bind error (run() throws it too, so nobody must await this). */
  readonly ready: Promise<UdpBound>;
  bound(port: number): void;
  failed(err: unknown): void;
}

export function udpReady(): UdpReady {
  let bound!: (port: number) => void;
  let failed!: (err: unknown) => void;
  const ready = new Promise<UdpBound>((resolve, reject) => {
    bound = (port) => resolve({ port });
    failed = reject;
  });
  ready.catch(() => undefined);
  return { ready, bound, failed };
}
