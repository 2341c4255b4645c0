// Vendor flavours of the Redfish simulator: the ids, ETag habits, reset-type publication, boot
// targets and inventory layout each BMC family showed in real captures (DMTF mockups, iDRAC9,
// iLO 5, Supermicro X12, AMI MegaRAC, bmcweb). Written from those shapes; no capture is copied.

export type SimFlavour = 'dell' | 'hpe' | 'supermicro' | 'ami' | 'openbmc' | 'generic';
export type EtagQuoting = 'none' | 'double' | 'weak';

export interface FlavourSpec {
  readonly systemId: string;
  readonly managerId: string;
  /** The service root's Vendor and Oem keys (what a client detects the vendor from). */
  readonly root: Record<string, unknown>;
  readonly manufacturer?: string;
  /** ETags: in the body (@odata.etag) and the ETag header, only the header, or nowhere. */
  readonly etags: 'body-and-header' | 'header-only' | 'absent';
  readonly etagQuoting: EtagQuoting;
  /** iLO 5 v1.x ends every @odata.id and action target with '/'. */
  readonly trailingSlash: boolean;
  readonly resetTypes: readonly string[];
  /** Where the allowed ResetTypes are published. Supermicro publishes both forms. */
  readonly resetPublish: 'inline' | 'action-info' | 'both';
  readonly bootTargets: readonly string[];
  /** iDRAC: a `Settings` object that holds BootSourceOverrideMode, applied at the next reset. */
  readonly settingsHoldsMode: boolean;
  readonly macStyle: 'lower-colon' | 'upper-colon' | 'lower-dash';
  /** Drives under Storage (with Drive resources) or SimpleStorage Devices. */
  readonly storage: 'storage' | 'simple';
  /** Processors/Memory collections, or only the ProcessorSummary/MemorySummary on the system. */
  readonly members: boolean;
}

const dmtfTargets = [
  'None',
  'Pxe',
  'Floppy',
  'Cd',
  'Usb',
  'Hdd',
  'BiosSetup',
  'Utilities',
  'Diags',
  'UefiShell',
  'UefiTarget',
  'SDCard',
  'UefiHttp',
  'RemoteDrive',
  'UefiBootNext',
];

export const FLAVOURS: Readonly<Record<SimFlavour, FlavourSpec>> = {
  dell: {
    systemId: 'System.Embedded.1',
    managerId: 'iDRAC.Embedded.1',
    root: {
      Vendor: 'Dell',
      Product: 'Integrated Dell Remote Access Controller',
      Oem: { Dell: { '@odata.type': '#DellServiceRoot.v1_0_0.DellServiceRoot', IsBranded: 0 } },
    },
    manufacturer: 'Dell Inc.',
    etags: 'header-only',
    etagQuoting: 'double',
    trailingSlash: false,
    resetTypes: ['On', 'ForceOff', 'ForceRestart', 'GracefulRestart', 'GracefulShutdown', 'PushPowerButton', 'Nmi', 'PowerCycle'],
    resetPublish: 'inline',
    // No Usb on iDRAC.
    bootTargets: ['None', 'Pxe', 'Floppy', 'Cd', 'Hdd', 'BiosSetup', 'Utilities', 'UefiTarget', 'SDCard', 'UefiHttp'],
    settingsHoldsMode: true,
    macStyle: 'upper-colon',
    storage: 'storage',
    members: true,
  },
  hpe: {
    systemId: '1',
    managerId: '1',
    root: { Vendor: 'HPE', Product: 'ProLiant DL360 Gen10', Oem: { Hpe: { '@odata.type': '#HpeiLOServiceExt.v2_3_0.HpeiLOServiceExt' } } },
    manufacturer: 'HPE',
    etags: 'body-and-header',
    etagQuoting: 'weak',
    trailingSlash: true,
    // iLO 5 v1.x: no GracefulShutdown, no PowerCycle.
    resetTypes: ['On', 'ForceOff', 'ForceRestart', 'Nmi', 'PushPowerButton'],
    resetPublish: 'inline',
    bootTargets: ['None', 'Cd', 'Hdd', 'Usb', 'SDCard', 'Utilities', 'Diags', 'BiosSetup', 'Pxe', 'UefiShell', 'UefiHttp', 'UefiTarget'],
    settingsHoldsMode: false,
    macStyle: 'lower-colon',
    storage: 'storage',
    members: true,
  },
  supermicro: {
    systemId: '1',
    managerId: '1',
    root: { Vendor: 'Supermicro', Oem: { Supermicro: {} } },
    manufacturer: 'Supermicro',
    etags: 'body-and-header',
    etagQuoting: 'double',
    trailingSlash: false,
    // The malformed value is what X12 firmware 1.14 publishes; a client must not send it.
    resetTypes: ['On', 'ForceOff', 'GracefulShutdownGracefulRestart', 'ForceRestart', 'Nmi', 'ForceOn'],
    resetPublish: 'both',
    bootTargets: ['None', 'Pxe', 'Floppy', 'Cd', 'Usb', 'Hdd', 'BiosSetup', 'UsbCd', 'UefiBootNext', 'UefiHttp'],
    settingsHoldsMode: false,
    macStyle: 'lower-colon',
    storage: 'storage',
    members: true,
  },
  ami: {
    systemId: 'Self',
    managerId: 'Self',
    root: { Vendor: 'AMI', Product: 'AMI Redfish Server', Oem: { Ami: { RtpVersion: '1.7.0' } } },
    manufacturer: 'GIGABYTE',
    etags: 'body-and-header',
    etagQuoting: 'weak',
    trailingSlash: false,
    resetTypes: ['GracefulShutdown', 'ForceRestart', 'ForceOff', 'On'],
    resetPublish: 'action-info',
    bootTargets: dmtfTargets,
    settingsHoldsMode: false,
    macStyle: 'upper-colon',
    storage: 'simple',
    members: true,
  },
  openbmc: {
    systemId: 'system',
    managerId: 'bmc',
    root: {},
    etags: 'absent',
    etagQuoting: 'double',
    trailingSlash: false,
    resetTypes: ['On', 'ForceOff', 'ForceOn', 'ForceRestart', 'GracefulRestart', 'GracefulShutdown', 'PowerCycle', 'Nmi'],
    resetPublish: 'action-info',
    bootTargets: ['None', 'Pxe', 'Hdd', 'Cd', 'Diags', 'BiosSetup', 'Usb'],
    settingsHoldsMode: false,
    macStyle: 'lower-colon',
    storage: 'storage',
    members: true,
  },
  generic: {
    systemId: '437XR1138R2',
    managerId: 'BMC',
    root: { Vendor: 'Contoso' },
    manufacturer: 'Contoso',
    etags: 'absent',
    etagQuoting: 'double',
    trailingSlash: false,
    resetTypes: ['On', 'ForceOff', 'GracefulShutdown', 'GracefulRestart', 'ForceRestart', 'Nmi', 'ForceOn', 'PushPowerButton', 'PowerCycle'],
    resetPublish: 'inline',
    bootTargets: dmtfTargets,
    settingsHoldsMode: false,
    macStyle: 'lower-dash',
    storage: 'simple',
    members: false,
  },
};
