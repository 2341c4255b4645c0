// iPXE scripts, rendered as whole texts by pure functions (the HTTP layer only picks one and
// sends it). Anything interpolated is either validated or reduced to a safe alphabet first: iPXE
// expands `${...}` in every command, treats `||`/`&&` as operators and a newline as a new command,
// so a stray node id or MAC could otherwise run commands on the machine.
//
// Commands and settings used, all present in Debian's ipxe 1.0.0+git-20190125 builds:
// imgfetch --name / imgexec / kernel / initrd / boot / sanboot / sleep / echo / exit / goto /
// set / isset / iseq / ifconf --configurator / ifclose (https://ipxe.org/cmd); settings types `:hexhyp` (https://ipxe.org/cfg/mac, MAC with hyphens)
// and `:uristring` (https://ipxe.org/cfgtype/string, URI-encodes SMBIOS strings like
// "PowerEdge R210").
// Checked by hand with that iPXE under QEMU/SeaBIOS: the chain script sent
// `mac=52-54-00-12-34-56&...&product=Standard%20PC%20(i440FX%20+%20PIIX,%201996)&platform=pcbios`,
// retried after an HTTP 503, and a fetched `exit 1` script sent the BIOS on to its hard disk.
import type { Arch, BootLocalMethod, NodeSpec, Profile } from '../manifest/model.js';
import { normalizeMac } from '../manifest/model.js';
import { talosKernelArgs } from '../talos/kernelArgs.js';

/** iPXE's `${platform}`: how the firmware started it. */
export type IpxePlatform = 'pcbios' | 'efi';

/** Route of a node's machine config; the token is the only credential, so it lives in the path. */
export function bootConfigUrl(baseUrl: string, token: string): string {
  return `${trimBase(baseUrl)}/v1/boot/${checkToken(token)}/config`;
}

/** Route the installer reports its progress to. */
export function bootEventsUrl(baseUrl: string, token: string): string {
  return `${trimBase(baseUrl)}/v1/boot/${checkToken(token)}/events`;
}

export function assetUrl(baseUrl: string, profile: Profile, file: string): string {
  return `${trimBase(baseUrl)}/assets/${profile.schematic}/${profile.talosVersion}/${file}`;
}

function trimBase(baseUrl: string): string {
  if (!/^https?:\/\/[A-Za-z0-9.\-:[\]]+(\/[A-Za-z0-9._~\-/]*)?$/.test(baseUrl))
    throw new RangeError(`base URL ${JSON.stringify(baseUrl)} is not a plain http(s) URL`);
  return baseUrl.replace(/\/+$/, '');
}

function checkToken(token: string): string {
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(token)) throw new RangeError('boot token must be 16-128 URL-safe base64 characters');
  return token;
}

/** Text that is safe in an `echo` or a comment: no `$`, operators, `#` or line breaks survive. */
function safeText(text: string): string {
  return text.replace(/[^A-Za-z0-9 ._:,/=()@+%-]/g, '_');
}

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

function safeMac(mac: string): string {
  const m = normalizeMac(mac);
  return MAC.test(m) ? m : 'with an unreadable MAC';
}

const script = (lines: readonly string[]): string => ['#!ipxe', ...lines].join('\n') + '\n';

/** Attempts of the chain fetch over the NIC that did DHCP before trying the others. */
const CHAIN_ATTEMPTS = 3;
const CHAIN_RETRY_SECONDS = 3;
/** Interfaces net0..net{CHAIN_NICS - 1} the chain script falls back to. */
export const CHAIN_NICS = 8;

/** The per-machine script's URL, with the identity iPXE knows as seen through interface `nic`. */
function chainUrl(baseUrl: string, nic: string): string {
  return (
    `${trimBase(baseUrl)}/ipxe?mac=\${${nic}/mac:hexhyp}&uuid=\${uuid}&serial=\${serial:uristring}` +
    `&manufacturer=\${manufacturer:uristring}&product=\${product:uristring}&buildarch=\${buildarch}&platform=\${platform}`
  );
}

/**
 * `/boot.ipxe`, what DHCP hands a machine already running iPXE. It asks for the per-machine script
 * with the identity iPXE knows. `netX` is the device iPXE last opened, i.e. the NIC that did DHCP
 * (not necessarily net0 on a multi-NIC server), so the MAC matches the lease.
 *
 * Fetch and execute are separate so that only a failed fetch is retried: a fetched script that
 * ends in `exit 1` (boot local, discovery) must go straight back to the firmware.
 *
 * When the boot server does not answer through that NIC, the script closes it and tries every
 * other interface in turn, net0 first: `ifconf` waits for its link (up to 15 s in this iPXE,
 * LINK_WAIT_TIMEOUT in src/usr/ifmgmt.c; there is no `iflinkwait` command before 2021) and
 * runs DHCP, and the fetch names that interface's MAC, so the request comes from the address
 * leased to the MAC it names. Only the DHCP configurator runs: iPXE's IPv6 one would wait for
 * router advertisements on a network that may have none. Each interface is closed again when it
 * fails, as iPXE routes through any open one. Interface names are consecutive, so the first
 * missing one ends the search.
 */
// `${uuid}` stays in its own :uuid type (canonical text, URI-safe). As `:uristring` iPXE formats
// the raw 16 bytes as a string; a zero byte there ends the expanded URL (seen with SeaBIOS+iPXE:
// the request arrived cut after `uuid=`).
export function renderChainScript(baseUrl: string): string {
  const lines: string[] = [];
  for (let i = 1; i <= CHAIN_ATTEMPTS; i++) {
    lines.push(`imgfetch --name maskin ${chainUrl(baseUrl, 'netX')} && goto run ||`);
    if (i < CHAIN_ATTEMPTS)
      lines.push(`echo maskin: boot server did not answer, retry ${i} of ${CHAIN_ATTEMPTS - 1} in ${CHAIN_RETRY_SECONDS} s`, `sleep ${CHAIN_RETRY_SECONDS}`);
  }
  lines.push('echo maskin: no answer through ${netX/mac}, trying the other interfaces', 'set maskin-mac ${netX/mac}', 'ifclose netX ||');
  for (let i = 0; i < CHAIN_NICS; i++) {
    const nic = `net${i}`;
    const next = i + 1 < CHAIN_NICS ? `nic${i + 1}` : 'failed';
    lines.push(
      `:nic${i}`,
      `isset \${${nic}/mac} || goto failed`,
      `iseq \${${nic}/mac} \${maskin-mac} && goto ${next} ||`,
      `ifconf --configurator dhcp ${nic} || goto ${next}`,
      `imgfetch --name maskin ${chainUrl(baseUrl, nic)} && goto run ||`,
      `ifclose ${nic} ||`,
    );
  }
  lines.push(':failed', 'echo maskin: boot server unreachable, returning to firmware', 'exit 1', ':run', 'imgexec maskin', 'exit 1');
  return script(lines);
}

export interface InstallScriptInput {
  readonly node: NodeSpec;
  readonly profile: Profile;
  readonly baseUrl: string;
  /** Per-boot token (agent/nodes/tokens.ts); it ends up on the kernel line, so never log this script. */
  readonly token: string;
  readonly platform: IpxePlatform;
  /** The node log sink (`tcp://…`); undefined: the sink is off. */
  readonly logsUrl?: string | undefined;
}

const kernelFile = (arch: Arch): string => `kernel-${arch}`;
const initrdFile = (arch: Arch): string => `initramfs-${arch}.xz`;

/**
 * Boot the Talos installer kernel. On EFI the kernel finds the initrd only when its command line
 * names it (`initrd=<image name>`; iPXE names the image after the URL's last segment); without it
 * the EFI stub boots with no root and panics.
 */
export function renderInstallScript(input: InstallScriptInput): string {
  const { node, profile, baseUrl, token, platform, logsUrl } = input;
  const args = talosKernelArgs(profile, {
    config: bootConfigUrl(baseUrl, token),
    events: bootEventsUrl(baseUrl, token),
    ...(logsUrl !== undefined ? { logs: logsUrl } : {}),
  });
  return talosBootScript(
    [
      `# maskin: install node ${safeText(node.id)}, profile ${safeText(profile.name)}, generation ${node.generation}`,
      `echo maskin: installing Talos ${safeText(profile.talosVersion)} on node ${safeText(node.id)}`,
    ],
    { profile, baseUrl, platform, args, what: 'the installer' },
  );
}

/**
 * The kernel and initramfs of `profile` with `args`, after `head`; a load failure says what could
 * not be loaded and returns to the firmware. On EFI the kernel line names the initrd.
 */
function talosBootScript(
  head: readonly string[],
  o: { readonly profile: Profile; readonly baseUrl: string; readonly platform: IpxePlatform; readonly args: readonly string[]; readonly what: string },
): string {
  const initrd = initrdFile(o.profile.arch);
  const kernelArgs = [...(o.platform === 'efi' ? [`initrd=${initrd}`] : []), ...o.args];
  return script([
    ...head,
    `kernel ${assetUrl(o.baseUrl, o.profile, kernelFile(o.profile.arch))} ${kernelArgs.join(' ')} || goto failed`,
    `initrd ${assetUrl(o.baseUrl, o.profile, initrd)} || goto failed`,
    'boot || goto failed',
    ':failed',
    `echo maskin: could not load ${o.what}, returning to firmware`,
    'sleep 10',
    'exit 1',
  ]);
}

/**
 * Boot the profile's Talos kernel and initramfs with no `talos.config`: Talos on metal without a
 * machine config enters maintenance mode ("entering maintenance service") and waits for
 * `talosctl apply-config --insecure`, touching no disk. Its kernel log still streams to the node
 * log sink. The profile's rescueKernelArgs follow its kernelArgs. Nothing to download that an
 * install would not (it works from the cache in a WAN outage).
 */
export function renderRescueScript(input: Omit<InstallScriptInput, 'token'>): string {
  const { node, profile, baseUrl, platform, logsUrl } = input;
  const rescueProfile = { ...profile, kernelArgs: [...profile.kernelArgs, ...(profile.rescueKernelArgs ?? [])] };
  const args = talosKernelArgs(rescueProfile, logsUrl !== undefined ? { logs: logsUrl } : {});
  return talosBootScript(
    [
      `# maskin: rescue node ${safeText(node.id)}, profile ${safeText(profile.name)}: Talos maintenance mode, no machine config`,
      `echo maskin: rescue: booting Talos ${safeText(profile.talosVersion)} without touching the disks of node ${safeText(node.id)}`,
    ],
    { profile, baseUrl, platform, args, what: 'the rescue kernel' },
  );
}

/**
 * Decommission: boot the profile's Talos kernel with `talos.experimental.wipe=system` (Talos
 * "Resetting a Machine": on that boot it wipes the system disk, logs "resetting system disks",
 * and reboots) and no machine config. The token only carries the installer's report.
 */
export function renderWipeScript(input: InstallScriptInput): string {
  const { node, profile, baseUrl, token, platform, logsUrl } = input;
  const args = talosKernelArgs(profile, { events: bootEventsUrl(baseUrl, token), ...(logsUrl !== undefined ? { logs: logsUrl } : {}), wipe: true });
  return talosBootScript(
    [
      `# maskin: decommission node ${safeText(node.id)}, profile ${safeText(profile.name)}: wipe its system disk`,
      `echo maskin: decommissioning node ${safeText(node.id)}: Talos ${safeText(profile.talosVersion)} wipes its system disk`,
    ],
    { profile, baseUrl, platform, args, what: 'the wipe kernel' },
  );
}

/** A script to send, or none: the HTTP layer answers 404, iPXE's fetch fails and the chain script returns to the firmware. */
export type RenderedScript = { readonly kind: 'script'; readonly text: string } | { readonly kind: 'http-404' };

/**
 * Send an installed node to its disk.
 * - `exit`: `exit 1`, not plain `exit`. UEFI boot managers try the next BootOrder entry only when a
 *   boot option returns an error; a success return may stop at the boot menu (UEFI spec §3.1.1).
 *   Legacy BIOS ignores the status and tries its next boot device either way.
 * - `sanboot`: BIOS only. `sanboot --no-describe --drive 0x80` boots the first hard disk through
 *   INT 13 (ipxe.org appnote "work around BIOS halting on iPXE exit"). iPXE's EFI sanboot can boot
 *   only SAN devices it attached itself, never a local disk, so on EFI this falls back to `exit 1`.
 *   If the BIOS sanboot fails (no disk 0x80), `exit 1` still hands back to the firmware.
 * - `http-404`: no script at all; the HTTP layer answers 404, iPXE's fetch fails and the chain
 *   script returns to the firmware.
 */
export function renderBootLocalScript(method: BootLocalMethod, platform: IpxePlatform): RenderedScript {
  if (method === 'http-404') return { kind: 'http-404' };
  if (method === 'sanboot' && platform === 'pcbios') {
    return {
      kind: 'script',
      text: script(['echo maskin: installed, booting the first local disk', 'sanboot --no-describe --drive 0x80 || exit 1']),
    };
  }
  const why = method === 'sanboot' ? ' (sanboot cannot boot a local disk under EFI, exiting instead)' : '';
  return { kind: 'script', text: script([`echo maskin: installed, returning to firmware to boot from disk${why}`, 'exit 1']) };
}

/**
 * A machine the manifest does not know: its facts were recorded by the request that fetched this;
 * it gets no installer and no config. Wait so an operator at the console can read the message, then
 * give the machine back to its firmware.
 */
export function renderDiscoveryScript(input: { readonly baseUrl: string; readonly mac: string }): string {
  trimBase(input.baseUrl);
  return script([`echo maskin: unknown machine ${safeMac(input.mac)} discovered, not installing`, 'sleep 10', 'exit 1']);
}

/** A known node whose desired state is `discovery`: the same hand-back, with the reason shown. */
export function renderWaitScript(reason: string): string {
  return script([`echo maskin: not installing: ${safeText(reason)}`, 'sleep 10', 'exit 1']);
}

/**
 * An image the node needs is not cached and verified yet: say which and how far along, wait, and
 * ask again (`${cwuri}` is this script's own URL), instead of failing the boot.
 */
export function renderImageWaitScript(what: string): string {
  return script([`echo maskin: waiting for image ${safeText(what)}`, 'sleep 10', 'chain --replace --autofree ${cwuri} || exit 1']);
}

/** How long a node whose image failed for good waits between asks: the agent retries the download every minute. */
export const FAILED_IMAGE_RETRY_SECONDS = 60;

/**
 * A pinned image of the node's profile failed for good (digest mismatch, upstream 4xx): waiting
 * will not mend it, so the console says so and what to do, then asks again (slowly), so the node
 * boots on its own once the pin or the upstream is fixed.
 */
export function renderImageFailedScript(cause: string): string {
  return script([
    `echo maskin: failed: ${safeText(cause)}, operator action needed`,
    'echo maskin: fix the pin in the manifest or the image upstream; see maskin-agent cache status',
    `sleep ${FAILED_IMAGE_RETRY_SECONDS}`,
    'chain --replace --autofree ${cwuri} || exit 1',
  ]);
}

/** Why a script request was not taken as the node's own (agent/nodes/netboot.ts, requesterStanding). */
export type ScriptRefusal = 'no-lease' | 'wrong-address';

/**
 * A script request that does not count for its MAC: it names no address it came from that this
 * agent leased to that MAC or that the manifest fixes for it. Says why and what to check, never
 * which address would have counted; nothing was recorded, no token issued. Back to the firmware.
 */
export function renderRefusedScript(input: { readonly mac: string; readonly reason: ScriptRefusal; readonly from: string }): string {
  const mac = safeMac(input.mac);
  const why =
    input.reason === 'no-lease'
      ? `${mac} holds no DHCP lease from this agent and has no fixed ipv4 in the manifest`
      : `this request came from ${safeText(input.from)}, which is neither the address this agent leased to ${mac} nor its fixed ipv4`;
  return script([
    `echo maskin: refused: ${why}`,
    'echo maskin: check that this machine took its address from this agent (DHCP on the provisioning network or its relay), or set its ipv4 in the manifest',
    'sleep 10',
    'exit 1',
  ]);
}

/** A script request whose `mac` is missing or malformed: nothing to look up, back to the firmware. */
export function renderNoMacScript(): string {
  return script(['echo maskin: the script request carries no valid mac; check the chain URL', 'exit 1']);
}

/** Which script a node's script request gets (agent/nodes/netboot.ts decides, renderScript renders). */
export type IpxeScript =
  | { readonly kind: 'discovery'; readonly mac: string }
  | { readonly kind: 'refused'; readonly mac: string; readonly reason: ScriptRefusal; readonly from: string }
  | { readonly kind: 'wait'; readonly reason: string }
  | { readonly kind: 'wait-image'; readonly waiting: string }
  | { readonly kind: 'failed-image'; readonly cause: string }
  | { readonly kind: 'boot-local'; readonly method: BootLocalMethod; readonly platform: IpxePlatform }
  | { readonly kind: 'install'; readonly node: NodeSpec; readonly profile: Profile; readonly platform: IpxePlatform }
  | { readonly kind: 'rescue'; readonly node: NodeSpec; readonly profile: Profile; readonly platform: IpxePlatform }
  | { readonly kind: 'wipe'; readonly node: NodeSpec; readonly profile: Profile; readonly platform: IpxePlatform };

/** Renders the chosen script; `token` is the boot token issued for an install, required there only; `logsUrl` the node log sink, if on. */
export function renderScript(choice: IpxeScript, baseUrl: string, token: string | undefined, logsUrl?: string): RenderedScript {
  const text = (body: string): RenderedScript => ({ kind: 'script', text: body });
  switch (choice.kind) {
    case 'discovery':
      return text(renderDiscoveryScript({ baseUrl, mac: choice.mac }));
    case 'refused':
      return text(renderRefusedScript(choice));
    case 'wait':
      return text(renderWaitScript(choice.reason));
    case 'wait-image':
      return text(renderImageWaitScript(choice.waiting));
    case 'failed-image':
      return text(renderImageFailedScript(choice.cause));
    case 'boot-local':
      return renderBootLocalScript(choice.method, choice.platform);
    case 'install':
      if (token === undefined) throw new Error(`install script for node ${choice.node.id} without a boot token`);
      return text(renderInstallScript({ node: choice.node, profile: choice.profile, baseUrl, token, platform: choice.platform, logsUrl }));
    case 'rescue':
      return text(renderRescueScript({ node: choice.node, profile: choice.profile, baseUrl, platform: choice.platform, logsUrl }));
    case 'wipe':
      if (token === undefined) throw new Error(`wipe script for node ${choice.node.id} without a boot token`);
      return text(renderWipeScript({ node: choice.node, profile: choice.profile, baseUrl, token, platform: choice.platform, logsUrl }));
  }
}
