// A real IPMI BMC for tests: OpenIPMI's ipmi_sim with a generated lan.conf and command file, a LAN
// channel (RMCP+, one admin user), a FRU with the server's identity, a system GUID and, when a VM
// is asked for, the VM's power and boot device.
//
// ipmi_sim handles Chassis Control and the boot-flags parameter only through a `chassis_control`
// program (lanserv/bmc_chassis.c); with one configured it also owns power, so `startcmd` is not
// used. The program (chassis.sh below) is the machine: `set power 1` starts QEMU (or, without a
// VM, a sleep standing for the server), `set power 0` kills it, `set boot pxe` records a one-shot
// network boot which the next power-on or reset uses up. It keeps state in files and never calls
// back into ipmi_sim (ipmi_sim waits for it synchronously).
//
// Boot devices: the default start is disk only (`-boot strict=on`, bootindex on the disk alone,
// so a blank disk halts); a PXE start is `-boot once=n,order=c` without bootindex: the network
// for that first boot, and the guest's own reboot (the installer's) tries the disk first.
// ipmi_sim answers Get Boot Options parameter 5 with only the device selector: data byte 1 is
// always 0 (no valid, persistent or EFI bit), so drivers talk to it with bootFlagCheck 'device-only'.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDisk, kvmUsable, plainText, qemuArgs, type Firmware } from '../../bed/qemu.js';
import { stopChild, type Rack } from '../../bed/netns.js';
import { fruImage, type FruIdentity } from './fru.js';

export interface IpmiBedVm {
  rack: Rack;
  /** ≤ 4 chars (tap name). */
  name: string;
  firmware: Firmware;
  mac: string;
  memoryMb?: number;
}

export interface IpmiBedOptions {
  /** Where ipmi_sim runs: a rack namespace (LAN channel on `host`) or, without, the host's loopback. */
  rack?: Rack;
  /** LAN channel address; default 127.0.0.1 (in the rack namespace: give one on its bridge). */
  host?: string;
  /** LAN channel UDP port; default 623 in a rack namespace, a random high port on the host. */
  port?: number;
  username: string;
  password: string;
  fru: FruIdentity;
  /** 32 hex digits. */
  guid: string;
  /** The server the BMC powers; without it, power is a stand-in process. */
  vm?: IpmiBedVm;
  log?: (line: string) => void;
}

export interface IpmiBed {
  /** host:port for the driver. */
  readonly address: string;
  /** PID of the running machine (QEMU or the stand-in), if powered on. */
  machinePid(): Promise<number | undefined>;
  /** Boot devices of every power-on/reset so far, in order: 'pxe' or 'disk'. */
  boots(): Promise<string[]>;
  /** QMP socket of the VM's current power-on (tests act as the guest through it, e.g. ctrl-alt-delete). */
  readonly qmpPath: string | undefined;
  /** Serial console text of the VM's current power-on ('' without a VM). */
  serial(): string;
  /** Waits until `pattern` matches the serial text at or after offset `from` (default 0). */
  waitForSerial(pattern: RegExp, timeoutMs: number, from?: number): Promise<void>;
  /** ipmi_sim's own output, for failure messages. */
  output(): string;
  /** Kills the machine and ipmi_sim, removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function lanConf(o: {
  name: string;
  host: string;
  port: number;
  serialPort: number;
  username: string;
  password: string;
  guid: string;
  chassis: string;
}): string {
  return `name "${o.name}"
set_working_mc 0x20
  startlan 1
    addr ${o.host} ${o.port}
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid ${o.guid}
  endlan
  serial 15 127.0.0.1 ${o.serialPort} codec VM
  chassis_control "${o.chassis}"
  user 2 true "${o.username}" "${o.password}" admin 10 md5
`;
}

function emu(fru: number[], guid: string): string {
  return `mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_set_guid 0x20 ${guid}
mc_add_fru_data 0x20 0 ${fru.length} data ${fru.map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ')}
mc_enable 0x20
`;
}

function chassisScript(dir: string): string {
  return `#!/bin/sh
# ipmi_sim chassis_control program: "get power|boot ..." prints name:value lines; "set name \\"value\\" ..."
d=${q(dir)}
running() { [ -s "$d/machine.pid" ] && kill -0 "$(cat "$d/machine.pid")" 2>/dev/null; }
stop_machine() {
  running || return 0
  pid=$(cat "$d/machine.pid")
  kill -TERM "$pid" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  : > "$d/machine.pid"
}
start_machine() {
  kind=disk
  [ "$(cat "$d/boot" 2>/dev/null)" = pxe ] && kind=pxe
  echo none > "$d/boot"
  echo "$kind" >> "$d/boots.log"
  # Detached and with its own stdio: ipmi_sim reads this script's stdout until EOF.
  setsid "$d/start-$kind.sh" </dev/null >/dev/null 2>>"$d/machine.err" &
  echo $! > "$d/machine.pid"
}
op=$1; shift
if [ "$op" = get ]; then
  for p in "$@"; do
    case $p in
      power) if running; then echo power:1; else echo power:0; fi ;;
      boot) echo "boot:$(cat "$d/boot" 2>/dev/null || echo none)" ;;
      *) echo "unsupported: $p"; exit 1 ;;
    esac
  done
  exit 0
fi
if [ "$op" = set ]; then
  while [ $# -gt 1 ]; do
    p=$1; v=$2; shift 2
    case $p in
      power) if [ "$v" = 1 ]; then running || start_machine; else stop_machine; fi ;;
      reset) stop_machine; start_machine ;;
      boot) echo "$v" > "$d/boot" ;;
      *) echo "unsupported: $p"; exit 1 ;;
    esac
  done
  exit 0
fi
exit 1
`;
}

export async function startIpmiBed(opts: IpmiBedOptions): Promise<IpmiBed> {
  const dir = await mkdtemp(join(tmpdir(), 'maskin-ipmi-'));
  const log = opts.log ?? (() => undefined);
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? (opts.rack ? 623 : 20000 + Math.floor(Math.random() * 20000));
  const serialPort = port + 1;
  const serialPath = join(dir, 'serial.log');
  const qmpPath = join(dir, 'qmp.sock');
  let tap: string | undefined;
  let child: ChildProcess | undefined;
  let out = '';

  const machinePid = async (): Promise<number | undefined> => {
    const text = await readFile(join(dir, 'machine.pid'), 'utf8').catch(() => '');
    const pid = Number(text.trim());
    if (!pid) return undefined;
    try {
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  };

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      const pid = await machinePid();
      if (pid) process.kill(pid, 'SIGKILL');
      if (child) await stopChild(child);
      if (tap && opts.vm) await opts.vm.rack.exec('ip', ['link', 'del', tap]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    await writeFile(join(dir, 'boot'), 'none\n');
    await writeFile(join(dir, 'boots.log'), '');
    const machine = (kind: 'pxe' | 'disk'): string[] => {
      if (!opts.vm) return ['sleep', '3600'];
      const args = qemuArgs({
        firmware: opts.vm.firmware,
        accel: kvmUsable().usable ? 'kvm' : 'tcg',
        mac: opts.vm.mac,
        tap,
        disk: join(dir, 'disk.raw'),
        serial: serialPath,
        bootOrder: kind === 'pxe' ? '' : 'c',
        strictBoot: kind === 'disk',
        memoryMb: opts.vm.memoryMb ?? 512,
        qmp: qmpPath,
      });
      if (kind === 'pxe') args.push('-boot', 'once=n,order=c');
      // The guest's KCS interface, wired to ipmi_sim's VM serial port.
      args.push('-chardev', `socket,id=ipmi0,host=127.0.0.1,port=${serialPort},reconnect=10`);
      args.push('-device', 'ipmi-bmc-extern,chardev=ipmi0,id=bmc0', '-device', 'isa-ipmi-kcs,bmc=bmc0');
      return ['qemu-system-x86_64', '-name', `maskin-${opts.vm.name}`, ...args];
    };
    if (opts.vm) {
      // `-boot once` sets SeaBIOS's CMOS boot order; OVMF follows bootindex (fw_cfg) only, so a
      // UEFI one-shot would need the QMP approach of test/bmcsim/vmMachine.ts.
      if (opts.vm.firmware === 'uefi') throw new Error('ipmi bed: only firmware bios VMs (the one-shot uses -boot once, which OVMF ignores)');
      await createDisk(join(dir, 'disk.raw'));
      await writeFile(serialPath, '');
      tap = await opts.vm.rack.addTap(opts.vm.name);
    }
    for (const kind of ['pxe', 'disk'] as const) {
      const file = join(dir, `start-${kind}.sh`);
      // ipmi_sim's sockets and pipes are inherited (no close-on-exec): a machine holding them
      // keeps ipmi_sim's ports bound after it dies and its popen() from ever seeing EOF.
      const closeInherited = 'for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done';
      // bash: dash cannot name a descriptor above 9 in a redirection.
      await writeFile(file, `#!/bin/bash\n${closeInherited}\nexec ${machine(kind).map(q).join(' ')}\n`);
      await chmod(file, 0o755);
    }
    const chassis = join(dir, 'chassis.sh');
    await writeFile(chassis, chassisScript(dir));
    await chmod(chassis, 0o755);
    await writeFile(
      join(dir, 'lan.conf'),
      lanConf({ name: 'maskinsim', host, port, serialPort, username: opts.username, password: opts.password, guid: opts.guid, chassis }),
    );
    await writeFile(join(dir, 'sim.emu'), emu(fruImage(opts.fru), opts.guid));

    const simArgs = ['-c', join(dir, 'lan.conf'), '-f', join(dir, 'sim.emu'), '-s', dir, '-n'];
    child = opts.rack ? opts.rack.spawn('ipmi_sim', simArgs) : spawn('ipmi_sim', simArgs, { stdio: 'pipe' });
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    log(`ipmi_sim pid ${child.pid} on ${host}:${port}, dir ${dir}`);
    // ipmi_sim has no readiness signal; its UDP socket is bound right after reading the config.
    await new Promise((r) => setTimeout(r, 500));
    if (child.exitCode !== null) throw new Error(`ipmi_sim exited (${child.exitCode}): ${out}`);
  } catch (err) {
    await stop();
    throw err;
  }

  const serial = (): string => {
    try {
      return plainText(readFileSync(serialPath, 'latin1'));
    } catch {
      return '';
    }
  };
  return {
    address: `${host}:${port}`,
    machinePid,
    qmpPath: opts.vm ? qmpPath : undefined,
    boots: async () => (await readFile(join(dir, 'boots.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean),
    serial,
    async waitForSerial(pattern, timeoutMs, from = 0) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(serial().slice(from))) {
        if (Date.now() > deadline) {
          const machineErr = await readFile(join(dir, 'machine.err'), 'utf8').catch(() => '');
          throw new Error(
            `ipmi bed: ${pattern} not on the serial within ${timeoutMs} ms\n--- serial ---\n${serial().slice(-3000)}\n--- machine stderr ---\n${machineErr}\n--- ipmi_sim ---\n${out}`,
          );
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    output: () => out,
    stop,
  };
}
