// Fake BMC drivers for the lifecycle tests and benchmark: a simulated server per node whose power
// and one-shot boot follow the calls, with latency on the injected clock, scripted failures, and
// a rack-wide count of power sequences in flight.
import { setMaxListeners } from 'node:events';
import type { BmcDriver, BmcInventory, BootMode, PowerState } from '../../agent/bmc/driver.js';
import { BmcError } from '../../agent/errors.js';
import type { NodeSpec } from '../../agent/manifest/model.js';
import type { Clock } from '../../agent/runtime/clock.js';

export interface FakeServer {
  power: PowerState;
  /** The one-shot override as the BMC holds it. */
  oneShot?: BootMode;
  inventory: BmcInventory;
  /** setOneShotPxe throws BmcError('override') this many more times (a BMC that forgets it). */
  overrideFailures: number;
  /** inventory() throws this (once per listed error). */
  inventoryErrors: BmcError[];
  /** Called after every power cycle / power on, with the boot device used: the machine "boots". */
  onBoot?: (via: 'pxe' | 'disk') => void;
  calls: string[];
}

export interface FakeRack {
  readonly servers: Map<string, FakeServer>;
  /** Power sequences (setOneShotPxe → powerCycle) in flight now, and the most ever. */
  inFlight: number;
  peakInFlight: number;
  /** Every driver call's latency is drawn from [min, max] ms on the clock. */
  latency: { min: number; max: number };
  /** The factory, with the executor's signature. */
  factory(node: NodeSpec, creds: { username: string; password: string }): BmcDriver;
  server(id: string): FakeServer;
}

const stop = new AbortController().signal;
setMaxListeners(0, stop);

export function fakeRack(clock: Clock, opts: { latency?: { min: number; max: number }; random?: () => number } = {}): FakeRack {
  const random = opts.random ?? Math.random;
  const rack: FakeRack = {
    servers: new Map(),
    inFlight: 0,
    peakInFlight: 0,
    latency: opts.latency ?? { min: 0, max: 0 },
    server(id) {
      const s = rack.servers.get(id);
      if (!s) throw new Error(`no fake server ${id}`);
      return s;
    },
    factory(node) {
      let server = rack.servers.get(node.id);
      if (!server) {
        server = {
          power: 'off',
          inventory: { serial: node.serial ?? `SN-${node.id}`, processors: [], drives: [], nics: node.macs.map((mac, i) => ({ id: `nic${i}`, mac })) },
          overrideFailures: 0,
          inventoryErrors: [],
          calls: [],
        };
        rack.servers.set(node.id, server);
      }
      const s = server;
      const address = node.bmc?.address ?? 'fake';
      const lag = async (call: string): Promise<void> => {
        s.calls.push(call);
        const { min, max } = rack.latency;
        if (max > 0) await clock.sleep(min + random() * (max - min), stop);
      };
      const boot = (): void => {
        const via = s.oneShot ? 'pxe' : 'disk';
        delete s.oneShot;
        s.power = 'on';
        s.onBoot?.(via);
      };
      return {
        kind: 'redfish',
        address,
        async powerState() {
          await lag('powerState');
          return s.power;
        },
        async powerOn() {
          await lag('powerOn');
          boot();
        },
        async powerOff() {
          await lag('powerOff');
          s.power = 'off';
        },
        async powerCycle() {
          await lag('powerCycle');
          rack.inFlight -= 1;
          boot();
        },
        async setOneShotPxe(mode) {
          rack.inFlight += 1;
          rack.peakInFlight = Math.max(rack.peakInFlight, rack.inFlight);
          await lag(`setOneShotPxe:${mode}`);
          if (s.overrideFailures > 0) {
            s.overrideFailures -= 1;
            rack.inFlight -= 1;
            throw new BmcError('override', address, 'set one-shot PXE', 'read back BootSourceOverrideEnabled=Disabled after PATCH');
          }
          s.oneShot = mode;
        },
        async inventory() {
          await lag('inventory');
          const err = s.inventoryErrors.shift();
          if (err) throw err;
          return s.inventory;
        },
        async close() {},
      };
    },
  };
  return rack;
}
