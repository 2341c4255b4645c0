// Types for the parts of the npm `tftp` client (gagle/node-tftp) the tests use.
declare module 'tftp' {
  import type { Readable } from 'node:stream';
  interface ClientOptions {
    host?: string;
    port?: number;
    blockSize?: number;
    windowSize?: number;
    retries?: number;
    timeout?: number;
  }
  interface Client {
    createGetStream(remote: string, options?: Record<string, unknown>): Readable;
  }
  const tftp: { createClient(options?: ClientOptions): Client };
  export default tftp;
}
