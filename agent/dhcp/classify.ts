// Which firmware is asking, and what it should boot (RFC 4578 §2.1 arch types; the PXE
// spec's vendor class "PXEClient"; UEFI 2.5 HTTP Boot's "HTTPClient"; iPXE's user class).
import type { AgentConfig } from '../config/model.js';
import type { NodeDirectory, NodeSpec } from '../manifest/model.js';
import type { FirmwareKind } from '../nodes/model.js';
import type { DhcpOptions } from './options.js';

export interface ClientClass {
  /** Undefined for a plain OS client (dhclient, udhcpc, Talos): it gets a lease and no boot file. */
  readonly firmware: FirmwareKind | undefined;
  /** First option 93 entry, if sent. */
  readonly clientArch: number | undefined;
}

/** RFC 4578 §2.1 / IANA processor architecture types we boot. */
export const Arch = {
  BIOS: 0,
  EFI_IA32: 6,
  EFI_BC: 7,
  EFI_X64: 9,
  EFI_ARM64: 11,
  EFI_X86_HTTP: 15,
  EFI_X64_HTTP: 16,
  EFI_ARM64_HTTP: 19,
} as const;

const TFTP_UEFI_X86 = new Set<number>([Arch.EFI_IA32, Arch.EFI_BC, Arch.EFI_X64]);
const HTTP_ARCHES = new Set<number>([Arch.EFI_X86_HTTP, Arch.EFI_X64_HTTP, Arch.EFI_ARM64_HTTP]);

export function isIpxe(options: DhcpOptions): boolean {
  if (options.ipxe !== undefined) return true;
  const uc = options.userClass;
  if (!uc) return false;
  return uc.form === 'plain' ? uc.value === 'iPXE' : uc.classes.includes('iPXE');
}

export function classifyClient(options: DhcpOptions): ClientClass {
  const clientArch = options.clientArch?.[0];
  // Already running iPXE: checked first, whatever it claims in 60/93, to break the chainload loop.
  if (isIpxe(options)) return { firmware: 'ipxe', clientArch };
  const vc = options.vendorClass ?? '';
  const pxe = vc.startsWith('PXEClient');
  const http = vc.startsWith('HTTPClient');
  if ((!pxe && !http) || clientArch === undefined) return { firmware: undefined, clientArch };
  if (HTTP_ARCHES.has(clientArch)) return { firmware: 'uefi-http', clientArch };
  if (!pxe) return { firmware: undefined, clientArch };
  if (clientArch === Arch.BIOS) return { firmware: 'bios', clientArch };
  if (TFTP_UEFI_X86.has(clientArch) || clientArch === Arch.EFI_ARM64) return { firmware: 'uefi', clientArch };
  // Other architectures (IA64, arm32, RISC-V…): we have no binary for them; lease only.
  return { firmware: undefined, clientArch };
}

export type BootTarget = { readonly via: 'tftp'; readonly file: string } | { readonly via: 'http'; readonly url: string; readonly vendorClass?: 'HTTPClient' };

function baseUrl(config: AgentConfig): string {
  return config.httpBaseUrl.replace(/\/+$/, '');
}

export function ipxeScriptUrl(config: AgentConfig): string {
  return `${baseUrl(config)}/boot.ipxe`;
}

/** What a classified client boots; undefined means a lease without boot options. */
export function bootTargetFor(cls: ClientClass, node: NodeSpec | undefined, config: AgentConfig): BootTarget | undefined {
  const files = config.bootFiles;
  const x64 = node?.uefiBootFile ?? files.uefiX64;
  switch (cls.firmware) {
    case undefined:
      return undefined;
    case 'ipxe':
      // Never the binary again: that is the classic infinite chainload loop.
      return { via: 'http', url: ipxeScriptUrl(config) };
    case 'bios':
      return { via: 'tftp', file: files.bios };
    case 'uefi':
      return { via: 'tftp', file: cls.clientArch === Arch.EFI_ARM64 ? files.uefiArm64 : x64 };
    case 'uefi-http': {
      const file = cls.clientArch === Arch.EFI_ARM64_HTTP ? files.uefiArm64 : x64;
      return { via: 'http', url: `${baseUrl(config)}/boot/${file}`, vendorClass: 'HTTPClient' };
    }
  }
}

export interface NamedBootFile {
  readonly via: 'tftp' | 'http';
  /** TFTP file name or full HTTP URL. */
  readonly name: string;
}

/** Every boot file or URL a DHCP reply can name for this config and directory (contract tests). */
export function bootFilesNamed(config: AgentConfig, directory: NodeDirectory): NamedBootFile[] {
  const tftp = new Set<string>([config.bootFiles.bios, config.bootFiles.uefiX64, config.bootFiles.uefiArm64]);
  for (const node of directory.all()) if (node.uefiBootFile) tftp.add(node.uefiBootFile);
  const http = new Set<string>([ipxeScriptUrl(config)]);
  for (const file of [config.bootFiles.uefiX64, config.bootFiles.uefiArm64, ...tftp]) {
    if (file !== config.bootFiles.bios) http.add(`${baseUrl(config)}/boot/${file}`);
  }
  return [...[...tftp].map((name) => ({ via: 'tftp' as const, name })), ...[...http].map((name) => ({ via: 'http' as const, name }))];
}
