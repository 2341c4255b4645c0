// Test bed: a real machine booting. QEMU runs inside a rack namespace on a tap device
// bridged to the rack, with SeaBIOS + iPXE ROM ('bios') or OVMF with its own PXE ('uefi'), a
// blank virtio disk, and network first on every boot, as a rack server set to PXE would.
// Extra NICs (VmOptions.extraNics) sit on the PCI bus before the main one, as onboard ports a
// server enumerates before its add-in card: iPXE's net0.., Linux's eth0.. in that order.
// The serial console goes to a file that `waitFor` polls; callers must `stop()` in a teardown.
import type { ChildProcess } from 'node:child_process';
import { constants, closeSync, copyFileSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild, type Rack } from './netns.js';

export type Firmware = 'bios' | 'uefi';
export type Accel = 'kvm' | 'tcg';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
export const DEFAULT_DISK_MB = 64;
/** QOM id of the NIC when a VM has a QMP socket: its path is /machine/peripheral/<id>. */
export const NIC_QOM_ID = 'nic0';

/**
 * A NIC besides the main one: a virtio-net with its own MAC. `linked: true` puts it on the rack
 * bridge through its own tap. `linked: false` (the default) gives it no peer, a port with nothing
 * behind it: what it sends goes nowhere and nothing arrives. QEMU's virtio-net still reports its
 * link up, and iPXE's virtio-net driver marks every link up whatever the device says
 * (src/drivers/net/virtio-net.c), so a guest finds out only by its DHCP going unanswered.
 */
export interface ExtraNic {
  mac: string;
  linked?: boolean;
}

export interface DirectKernel {
  kernel: string;
  initrd: string;
  append: string;
}

export interface VmOptions {
  rack: Rack;
  /** Short name (≤ 4 chars keeps the tap name within 15 chars), unique within the rack. */
  name: string;
  firmware: Firmware;
  /** e.g. '52:54:00:12:34:56' */
  mac: string;
  /** Existing raw disk image to use; kept on stop(). Default: a fresh blank 64 MB disk, removed on stop(). */
  disk?: string;
  /** UEFI only: existing OVMF vars file (NVRAM) to use; kept on stop(). Default: a fresh copy. */
  uefiVars?: string;
  /** Firmware boot order, 'n' network and 'c' disk, mapped to bootindex. Default 'nc'. */
  bootOrder?: string;
  /**
   * Boot only the devices bootOrder lists (`-boot strict=on`): with 'c', a blank disk halts
   * instead of falling through to the NIC's ROM, as a server whose BIOS lists only its disk.
   */
  strictBoot?: boolean;
  /** Expose a QMP socket (Vm.qmpPath, see test/bed/qmp.ts); the NIC gets the QOM id NIC_QOM_ID. */
  qmp?: boolean;
  /** Start with the CPU stopped (QEMU -S): powered off until QMP `cont`. */
  paused?: boolean;
  /** Boot a kernel directly (QEMU -kernel), skipping the firmware's boot devices. */
  direct?: DirectKernel;
  /** Attach the NIC (default true). */
  network?: boolean;
  /** NICs before the main one on the PCI bus; bootOrder's 'n' boots them in bus order, the main NIC last. */
  extraNics?: readonly ExtraNic[];
  memoryMb?: number;
  /** Default: kvm when usable (see kvmUsable), else tcg. */
  accel?: Accel;
  /** Appended to QEMU's arguments as they are. */
  extraArgs?: string[];
  log?: (line: string) => void;
}

export interface Vm {
  readonly pid: number;
  readonly accel: Accel;
  readonly tap: string | undefined;
  /** Taps of the linked extra NICs, in extraNics order. */
  readonly extraTaps: readonly string[];
  readonly diskPath: string;
  readonly serialPath: string;
  /** The QMP unix socket when started with `qmp: true`. */
  readonly qmpPath: string | undefined;
  /** Resolves with the exit code (or null when killed by a signal) when QEMU exits. */
  readonly exited: Promise<number | null>;
  /** Serial console text so far. */
  serial(): string;
  /** QEMU's own stderr so far (warnings, errors). */
  stderr(): string;
  /** Waits until `pattern` matches the serial text at or after offset `from` (default 0). */
  waitFor(pattern: RegExp, timeoutMs: number, from?: number): Promise<RegExpMatchArray>;
  /** Kills QEMU by PID, removes the tap and the temporary files it created. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Whether hardware acceleration works for an ordinary x86-64 guest. Opening /dev/kvm is not
 * enough: on cloud VMs that offer nested virtualisation through PVM (module kvm_pvm), /dev/kvm
 * opens but only PVM-aware guest kernels run, and a stock kernel hangs right after the real-mode
 * setup ("Probing EDD"). MASKIN_QEMU_ACCEL=kvm|tcg overrides the probe.
 */
export function kvmUsable(): { usable: boolean; reason: string } {
  const forced = process.env['MASKIN_QEMU_ACCEL'];
  if (forced === 'kvm' || forced === 'tcg') return { usable: forced === 'kvm', reason: `MASKIN_QEMU_ACCEL=${forced}` };
  try {
    closeSync(openSync('/dev/kvm', constants.O_RDWR));
  } catch (err) {
    return { usable: false, reason: `/dev/kvm cannot be opened (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  if (existsSync('/sys/module/kvm_pvm')) return { usable: false, reason: 'kvm is kvm_pvm (stock guest kernels hang)' };
  return { usable: true, reason: '/dev/kvm opens' };
}

export function kvmAvailable(): boolean {
  return kvmUsable().usable;
}

/** Creates a sparse raw disk image of `sizeMb` megabytes (zeroes). */
export async function createDisk(path: string, sizeMb = DEFAULT_DISK_MB): Promise<void> {
  await writeFile(path, '');
  await truncate(path, sizeMb * 1024 * 1024);
}

/** bootindex of each device: 'n' takes one index per NIC (the extra NICs, then the main one). */
function bootIndexes(order: string, nics: number): { nics?: number[]; disk?: number } {
  const out: { nics?: number[]; disk?: number } = {};
  let next = 1;
  for (const ch of order) {
    if (ch === 'n' && out.nics === undefined) {
      out.nics = Array.from({ length: nics }, (_, i) => next + i);
      next += nics;
    } else if (ch === 'c' && out.disk === undefined) {
      out.disk = next++;
    } else {
      next++;
    }
  }
  return out;
}

/** The QEMU arguments of an extra NIC; `tap` absent: a device with no peer. */
export interface ExtraNicArgs {
  mac: string;
  tap?: string | undefined;
}

export function qemuArgs(o: {
  firmware: Firmware;
  accel: Accel;
  mac: string;
  tap?: string | undefined;
  disk: string;
  vars?: string;
  serial: string;
  bootOrder: string;
  memoryMb: number;
  direct?: DirectKernel | undefined;
  strictBoot?: boolean | undefined;
  qmp?: string | undefined;
  paused?: boolean | undefined;
  extraNics?: readonly ExtraNicArgs[] | undefined;
}): string[] {
  const extras = o.tap ? (o.extraNics ?? []) : [];
  const idx = bootIndexes(o.bootOrder, extras.length + 1);
  const bootindex = (nic: number): string => (idx.nics ? `,bootindex=${idx.nics[nic]}` : '');
  const args = ['-accel', o.accel, '-m', String(o.memoryMb), '-smp', '1'];
  args.push('-nographic', '-monitor', 'none', '-serial', `file:${o.serial}`);
  if (o.qmp) args.push('-qmp', `unix:${o.qmp},server=on,wait=off`);
  if (o.paused) args.push('-S');
  if (o.strictBoot) args.push('-boot', 'strict=on');
  if (o.firmware === 'uefi') {
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`);
    args.push('-drive', `if=pflash,format=raw,unit=1,file=${o.vars ?? ''}`);
    // The agent serves IPv4 only; OVMF's PXEv6 and HTTPv6 boot options would each wait for
    // offers that never come, so they are switched off (OvmfPkg/RUNTIME_CONFIG.md).
    args.push('-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=no');
    args.push('-fw_cfg', 'name=opt/org.tianocore/IPv6Support,string=no');
  }
  args.push('-drive', `file=${o.disk},format=raw,if=none,id=disk0`);
  args.push('-device', `virtio-blk-pci,drive=disk0${idx.disk ? `,bootindex=${idx.disk}` : ''}`);
  if (o.tap) {
    // BIOS: virtio-net-pci's default romfile (ipxe-qemu's efi-virtio.rom) is iPXE.
    // UEFI: an empty romfile leaves OVMF's own PXE, which TFTPs snponly.efi like real firmware.
    const rom = o.firmware === 'uefi' ? ',romfile=' : '';
    extras.forEach((nic, i) => {
      const netdev = `xnet${i + 1}`;
      if (nic.tap) args.push('-netdev', `tap,id=${netdev},ifname=${nic.tap},script=no,downscript=no`);
      args.push('-device', `virtio-net-pci,${nic.tap ? `netdev=${netdev},` : ''}mac=${nic.mac}${rom}${bootindex(i)}`);
    });
    args.push('-netdev', `tap,id=net0,ifname=${o.tap},script=no,downscript=no`);
    const id = o.qmp ? `,id=${NIC_QOM_ID}` : '';
    args.push('-device', `virtio-net-pci,netdev=net0,mac=${o.mac}${rom}${bootindex(extras.length)}${id}`);
  } else {
    args.push('-nic', 'none');
  }
  if (o.direct) args.push('-kernel', o.direct.kernel, '-initrd', o.direct.initrd, '-append', o.direct.append);
  return args;
}

export async function startVm(opts: VmOptions): Promise<Vm> {
  const dir = await mkdtemp(join(tmpdir(), `maskin-vm-${opts.name}-`));
  const log = opts.log ?? (() => undefined);
  const serialPath = join(dir, 'serial.log');
  await writeFile(serialPath, '');
  const diskPath = opts.disk ?? join(dir, 'disk.raw');
  if (!opts.disk) await createDisk(diskPath);
  let vars: string | undefined;
  if (opts.firmware === 'uefi') {
    vars = opts.uefiVars ?? join(dir, 'OVMF_VARS.fd');
    if (!opts.uefiVars) copyFileSync(OVMF_VARS, vars);
  }
  const probe = kvmUsable();
  const accel: Accel = opts.accel ?? (probe.usable ? 'kvm' : 'tcg');
  log(`vm ${opts.name}: ${opts.firmware}, accel ${accel} (${opts.accel ? 'requested' : probe.reason})`);
  const qmpPath = opts.qmp ? join(dir, 'qmp.sock') : undefined;
  const tap = opts.network === false ? undefined : await opts.rack.addTap(opts.name);
  const extraNics: ExtraNicArgs[] = [];
  const extraTaps: string[] = [];
  if (tap) {
    for (const [i, nic] of (opts.extraNics ?? []).entries()) {
      const extraTap = nic.linked ? await opts.rack.addTap(`${opts.name}${i + 1}`) : undefined;
      if (extraTap) extraTaps.push(extraTap);
      extraNics.push({ mac: nic.mac, tap: extraTap });
    }
  }

  const args = qemuArgs({
    firmware: opts.firmware,
    accel,
    mac: opts.mac,
    tap,
    disk: diskPath,
    ...(vars ? { vars } : {}),
    serial: serialPath,
    bootOrder: opts.bootOrder ?? 'nc',
    memoryMb: opts.memoryMb ?? 512,
    direct: opts.direct,
    strictBoot: opts.strictBoot,
    qmp: qmpPath,
    paused: opts.paused,
    extraNics,
  });
  // `ip netns exec` and setpriv exec in place, so the child's PID is QEMU's. The parent-death
  // signal kills QEMU if the test process dies without running its teardowns.
  const qemu = ['qemu-system-x86_64', '-name', `maskin-${opts.name}`, ...args, ...(opts.extraArgs ?? [])];
  const child: ChildProcess = opts.rack.spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...qemu], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderrText = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrText += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let done = false;
  exited.then((code) => {
    done = true;
    log(`vm ${opts.name}: qemu exited (${code})`);
  });

  const serial = (): string => {
    try {
      return readFileSync(serialPath, 'latin1');
    } catch {
      return '';
    }
  };

  let stopped: Promise<void> | undefined;
  const vm: Vm = {
    pid: child.pid ?? -1,
    accel,
    tap,
    extraTaps,
    diskPath,
    serialPath,
    qmpPath,
    exited,
    serial,
    stderr: () => stderrText,
    waitFor(pattern, timeoutMs, from = 0) {
      const started = Date.now();
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = serial().slice(from).match(pattern);
          if (m) return resolve(m);
          const tail = (): string => `\n--- serial tail ---\n${serial().slice(-3000)}\n--- qemu stderr ---\n${stderrText}`;
          if (done) return reject(new Error(`vm ${opts.name}: qemu exited before ${pattern}${tail()}`));
          if (Date.now() - started > timeoutMs) {
            return reject(new Error(`vm ${opts.name}: ${pattern} not seen within ${timeoutMs} ms${tail()}`));
          }
          setTimeout(check, 250);
        };
        check();
      });
    },
    stop() {
      stopped ??= (async () => {
        await stopChild(child);
        for (const t of [...(tap ? [tap] : []), ...extraTaps]) await opts.rack.exec('ip', ['link', 'del', t]).catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  if (child.pid === undefined) {
    await vm.stop();
    throw new Error(`vm ${opts.name}: qemu did not start`);
  }
  return vm;
}

/** The serial log can hold ANSI escapes from the firmware; tests match on plain text. */
export function plainText(serial: string): string {
  // eslint-disable-next-line no-control-regex
  return serial.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
}
