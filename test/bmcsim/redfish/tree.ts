// The simulator's Redfish resources, rendered from the flavour, the configured inventory and the
// live state. Paths here never end in '/'; `id()` adds the slash for flavours that publish one.
import type { FlavourSpec } from './flavours.js';

type Json = Record<string, unknown>;

export interface SimInventory {
  readonly serial: string;
  readonly uuid: string;
  readonly model: string;
  readonly macs: readonly string[];
  readonly cpus: readonly { model: string; cores: number }[];
  readonly dimmsMiB: readonly number[];
  readonly drives: readonly { name: string; serial: string; sizeBytes: number }[];
}

export const DEFAULT_INVENTORY: SimInventory = {
  serial: 'SIM0001',
  uuid: '4C4C4544-0053-4D10-8030-B1C04F494D31',
  model: 'Simulated 1U',
  macs: ['52:54:00:12:34:56', '52:54:00:12:34:57'],
  cpus: [
    { model: 'Simulated CPU 16-Core', cores: 16 },
    { model: 'Simulated CPU 16-Core', cores: 16 },
  ],
  dimmsMiB: [32768, 32768],
  drives: [{ name: 'Disk 0', serial: 'SIMDISK0', sizeBytes: 480103981056 }],
};

export interface BootState {
  BootSourceOverrideEnabled: string;
  BootSourceOverrideTarget: string;
  BootSourceOverrideMode: string;
}

export interface TreeState {
  readonly power: 'On' | 'Off';
  readonly boot: BootState;
  /** Mode written to the Settings object, applied at the next power-on or reset (iDRAC). */
  readonly pendingMode: string | null;
  readonly sessions: ReadonlyMap<string, unknown>;
}

export class RedfishTree {
  readonly sys: string;
  constructor(
    private readonly f: FlavourSpec,
    private readonly inv: SimInventory,
  ) {
    this.sys = `/redfish/v1/Systems/${f.systemId}`;
  }

  id(path: string): { '@odata.id': string } {
    return { '@odata.id': this.f.trailingSlash ? `${path}/` : path };
  }

  private collection(path: string, members: string[]): Json {
    return { ...this.id(path), Name: 'Collection', Members: members.map((m) => this.id(m)), 'Members@odata.count': members.length };
  }

  private mac(m: string): string {
    const lower = m.toLowerCase();
    return this.f.macStyle === 'upper-colon' ? lower.toUpperCase() : this.f.macStyle === 'lower-dash' ? lower.replace(/:/g, '-') : lower;
  }

  /** The resource at `path` (no trailing slash), or undefined for 404. */
  get(path: string, s: TreeState): Json | undefined {
    const { f, sys } = this;
    const v1 = '/redfish/v1';
    if (path === v1) {
      return {
        ...this.id(v1),
        '@odata.type': '#ServiceRoot.v1_5_0.ServiceRoot',
        Id: 'RootService',
        RedfishVersion: '1.6.0',
        ...f.root,
        Systems: this.id(`${v1}/Systems`),
        Managers: this.id(`${v1}/Managers`),
        SessionService: this.id(`${v1}/SessionService`),
        Links: {
          Sessions: this.id(`${v1}/SessionService/Sessions`),
          ...(f.managerId === 'bmc' ? { ManagerProvidingService: this.id(`${v1}/Managers/bmc`) } : {}),
        },
      };
    }
    if (path === `${v1}/SessionService`) return { ...this.id(path), ServiceEnabled: true, SessionTimeout: 1800, Sessions: this.id(`${path}/Sessions`) };
    if (path === `${v1}/SessionService/Sessions`)
      return this.collection(
        path,
        [...s.sessions.keys()].map((k) => `${path}/${k}`),
      );
    const session = /^\/redfish\/v1\/SessionService\/Sessions\/([^/]+)$/.exec(path);
    if (session !== null) return s.sessions.has(session[1]!) ? { ...this.id(path), Id: session[1], UserName: s.sessions.get(session[1]!) } : undefined;
    if (path === `${v1}/Managers`) return this.collection(path, [`${v1}/Managers/${f.managerId}`]);
    if (path === `${v1}/Managers/${f.managerId}`)
      return { ...this.id(path), Id: f.managerId, ManagerType: 'BMC', Links: { ManagerForServers: [this.id(sys)] } };
    if (path === `${v1}/Systems`) return this.collection(path, [sys]);
    if (path === sys) return this.system(s);
    if (path === `${sys}/ResetActionInfo` && f.resetPublish !== 'inline') {
      return {
        ...this.id(path),
        '@odata.type': '#ActionInfo.v1_1_2.ActionInfo',
        Id: 'ResetActionInfo',
        Parameters: [{ Name: 'ResetType', Required: true, DataType: 'String', AllowableValues: f.resetTypes }],
      };
    }
    if (path === `${sys}/Settings` && f.settingsHoldsMode) {
      return {
        ...this.id(path),
        '@Redfish.SettingsApplyTime': { ApplyTime: 'OnReset' },
        Id: f.systemId,
        Boot: { BootOrder: [], BootSourceOverrideMode: s.pendingMode, UefiTargetBootSourceOverride: null },
      };
    }
    return this.member(path);
  }

  private system(s: TreeState): Json {
    const { f, inv, sys } = this;
    const action: Json = { target: this.id(`${sys}/Actions/ComputerSystem.Reset`)['@odata.id'] };
    if (f.resetPublish !== 'action-info') action['ResetType@Redfish.AllowableValues'] = f.resetTypes;
    if (f.resetPublish !== 'inline') action['@Redfish.ActionInfo'] = `${sys}/ResetActionInfo`;
    const links: Json = {
      EthernetInterfaces: this.id(`${sys}/EthernetInterfaces`),
      ...(f.storage === 'storage' ? { Storage: this.id(`${sys}/Storage`) } : { SimpleStorage: this.id(`${sys}/SimpleStorage`) }),
      ...(f.members ? { Processors: this.id(`${sys}/Processors`), Memory: this.id(`${sys}/Memory`) } : {}),
    };
    return {
      ...this.id(sys),
      '@odata.type': '#ComputerSystem.v1_12_0.ComputerSystem',
      Id: f.systemId,
      ...(f.manufacturer === undefined ? {} : { Manufacturer: f.manufacturer, Model: inv.model, SerialNumber: inv.serial }),
      UUID: inv.uuid,
      PowerState: s.power,
      Boot: {
        ...s.boot,
        'BootSourceOverrideTarget@Redfish.AllowableValues': f.bootTargets,
      },
      ...(f.settingsHoldsMode ? { '@Redfish.Settings': { SettingsObject: this.id(`${sys}/Settings`), SupportedApplyTimes: ['OnReset'] } } : {}),
      Actions: { '#ComputerSystem.Reset': action },
      ProcessorSummary: { Count: inv.cpus.length, Model: inv.cpus[0]?.model, Status: { State: 'Enabled', Health: 'OK' } },
      MemorySummary: { TotalSystemMemoryGiB: inv.dimmsMiB.reduce((a, b) => a + b, 0) / 1024 },
      ...links,
      Links: { ManagedBy: [this.id(`/redfish/v1/Managers/${f.managerId}`)] },
    };
  }

  private member(path: string): Json | undefined {
    const { inv, sys } = this;
    const rel = path.startsWith(`${sys}/`) ? path.slice(sys.length + 1) : undefined;
    if (rel === undefined) return undefined;
    const [kind, idx, sub, subIdx] = rel.split('/');
    const n = idx === undefined ? -1 : Number(idx);
    switch (kind) {
      case 'EthernetInterfaces':
        if (idx === undefined)
          return this.collection(
            path,
            inv.macs.map((_, i) => `${path}/NIC.${i + 1}`),
          );
        {
          const i = Number(idx.replace('NIC.', '')) - 1;
          const m = inv.macs[i];
          return m === undefined ? undefined : { ...this.id(path), Id: idx, MACAddress: this.mac(m), PermanentMACAddress: this.mac(m), LinkStatus: 'LinkUp' };
        }
      case 'Processors':
        if (idx === undefined)
          return this.collection(
            path,
            inv.cpus.map((_, i) => `${path}/CPU${i}`),
          );
        {
          const c = inv.cpus[Number(idx.replace('CPU', ''))];
          return c === undefined
            ? undefined
            : { ...this.id(path), Id: idx, ProcessorType: 'CPU', Model: c.model, TotalCores: c.cores, Status: { State: 'Enabled' } };
        }
      case 'Memory':
        if (idx === undefined)
          return this.collection(
            path,
            inv.dimmsMiB.map((_, i) => `${path}/DIMM${i}`),
          );
        {
          const d = inv.dimmsMiB[Number(idx.replace('DIMM', ''))];
          return d === undefined ? undefined : { ...this.id(path), Id: idx, CapacityMiB: d, MemoryDeviceType: 'DDR4', Status: { State: 'Enabled' } };
        }
      case 'Storage':
        if (idx === undefined) return this.collection(path, [`${path}/1`]);
        if (n !== 1) return undefined;
        if (sub === undefined)
          return { ...this.id(path), Id: '1', Drives: inv.drives.map((_, i) => this.id(`${path}/Drives/${i}`)), 'Drives@odata.count': inv.drives.length };
        if (sub === 'Drives' && subIdx !== undefined) {
          const d = inv.drives[Number(subIdx)];
          return d === undefined
            ? undefined
            : { ...this.id(path), Id: subIdx, Name: d.name, SerialNumber: d.serial, CapacityBytes: d.sizeBytes, Status: { State: 'Enabled', Health: 'OK' } };
        }
        return undefined;
      case 'SimpleStorage':
        if (idx === undefined) return this.collection(path, [`${path}/1`]);
        if (n !== 1 || sub !== undefined) return undefined;
        return {
          ...this.id(path),
          Id: '1',
          Devices: [
            ...inv.drives.map((d) => ({ Name: d.name, SerialNumber: d.serial, CapacityBytes: d.sizeBytes, Status: { State: 'Enabled' } })),
            { Name: 'Empty Bay', Status: { State: 'Absent' } },
          ],
        };
      default:
        return undefined;
    }
  }
}
