// The Redfish simulator as a child process inside a rack namespace (main.ts), for end-to-end
// tests where the agent, also in the namespace, must reach the BMC: the requests it handles are
// streamed back from its stdout for assertions.
import path from 'node:path';
import { createInterface } from 'node:readline';
import { repoRoot } from '../../bed/agent.js';
import { stopChild, type Rack } from '../../bed/netns.js';
import type { SimRequest } from './server.js';

export interface RedfishSimChild {
  readonly url: string;
  /** Every request handled so far, in order. */
  readonly requests: SimRequest[];
  stop(): Promise<void>;
}

/** `options`: main.ts's JSON options (flavour, host, port, quirks, machineModule, …). */
export async function startRedfishSimChild(rack: Rack, options: Record<string, unknown>): Promise<RedfishSimChild> {
  const main = path.join(repoRoot, 'dist', 'test', 'bmcsim', 'redfish', 'main.js');
  const child = rack.spawn(process.execPath, [main, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const requests: SimRequest[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`Redfish simulator exited (${code}): ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as { url?: string; request?: SimRequest };
      if (message.url !== undefined) resolve(message.url);
      if (message.request !== undefined) requests.push(message.request);
    });
  });
  return { url, requests, stop: () => stopChild(child) };
}

/** The machine module main.ts loads to drive a VM the test started (through its QMP socket). */
export const qmpMachineModule = path.join(repoRoot, 'dist', 'test', 'bmcsim', 'qmpMachineModule.js');
