// The Redfish simulator as its own process, for end-to-end beds that run it inside a network
// namespace next to a VM. Options are JSON: the first argument or REDFISH_SIM_OPTS, e.g.
//   node dist/test/bmcsim/redfish/main.js '{"flavour":"dell","host":"198.18.30.2","port":8443}'
// It powers an in-memory machine unless a machine module is named (`machineModule`, exporting
// `createSimMachine(options)` that returns a SimMachine, e.g. a QMP-backed one), prints one JSON
// line `{"url":…}` on stdout when listening, then one `{"request":…}` line per request handled, and
// stops on SIGTERM/SIGINT.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { SimMachine } from '../machine.js';
import { createMemoryMachine } from '../memoryMachine.js';
import { startRedfishSim, type RedfishSimOptions } from './server.js';

type MainOptions = Omit<RedfishSimOptions, 'machine' | 'tls'> & {
  readonly tlsKeyFile?: string;
  readonly tlsCertFile?: string;
  readonly machineModule?: string;
  readonly machineOptions?: unknown;
  readonly initialPower?: 'on' | 'off';
};

async function machineFor(o: MainOptions): Promise<SimMachine> {
  if (o.machineModule === undefined) return createMemoryMachine(o.initialPower ?? 'off');
  const mod = (await import(pathToFileURL(path.resolve(o.machineModule)).href)) as { createSimMachine?: (opts: unknown) => Promise<SimMachine> | SimMachine };
  if (typeof mod.createSimMachine !== 'function') throw new Error(`${o.machineModule} does not export createSimMachine(options)`);
  return mod.createSimMachine(o.machineOptions);
}

const text = process.argv[2] ?? process.env['REDFISH_SIM_OPTS'];
if (text === undefined) {
  process.stderr.write('usage: main.js \'{"flavour":"dell",...}\' (or REDFISH_SIM_OPTS)\n');
  process.exit(2);
}
const o = JSON.parse(text) as MainOptions;
const tls =
  o.tlsKeyFile !== undefined && o.tlsCertFile !== undefined
    ? { key: await readFile(o.tlsKeyFile, 'utf8'), cert: await readFile(o.tlsCertFile, 'utf8') }
    : undefined;
const sim = await startRedfishSim({
  ...o,
  machine: await machineFor(o),
  ...(tls === undefined ? {} : { tls }),
  onRequest: (request) => process.stdout.write(`${JSON.stringify({ request })}\n`),
});
process.stdout.write(`${JSON.stringify({ url: sim.url })}\n`);
const stop = () => void sim.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
