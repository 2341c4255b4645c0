// The VM harness's pure part: QEMU argument building and serial-text cleanup. Whole boots
// through the harness are the VM tier's job (test/e2e/, against the real agent) and the stand-in's
// own checks (test/standin/); one boot each, each proving something new.
import t from 'tap';
import { plainText, qemuArgs } from './qemu.js';

const base = { accel: 'tcg' as const, mac: '52:54:00:00:00:01', tap: 'mtx', disk: '/d.raw', serial: '/s.log', memoryMb: 512 };

t.test('qemuArgs maps firmware, boot order and direct kernel to QEMU flags', async (t) => {
  const bios = qemuArgs({ ...base, firmware: 'bios', bootOrder: 'nc' }).join(' ');
  t.match(bios, /-device virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01,bootindex=1(\s|$)/, 'BIOS NIC keeps its iPXE ROM, boots first');
  t.match(bios, /-device virtio-blk-pci,drive=disk0,bootindex=2/);
  t.notMatch(bios, /pflash|romfile|-kernel|-no-reboot/);
  t.match(bios, /-serial file:\/s\.log/);

  const uefi = qemuArgs({ ...base, firmware: 'uefi', bootOrder: 'c', vars: '/v.fd' }).join(' ');
  t.match(uefi, /if=pflash,format=raw,unit=0,readonly=on,file=\/usr\/share\/OVMF\/OVMF_CODE_4M\.fd/);
  t.match(uefi, /if=pflash,format=raw,unit=1,file=\/v\.fd/);
  t.match(uefi, /virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01,romfile=(\s|$)/, 'UEFI NIC uses OVMF PXE, no bootindex');
  t.match(uefi, /virtio-blk-pci,drive=disk0,bootindex=1/);
  t.match(uefi, /-fw_cfg name=opt\/org\.tianocore\/IPv6Support,string=no/, 'no IPv6 network boot options');

  const direct = qemuArgs({ ...base, tap: undefined, firmware: 'bios', bootOrder: 'c', direct: { kernel: 'k', initrd: 'i', append: 'a b' } });
  t.same(direct.slice(-6), ['-kernel', 'k', '-initrd', 'i', '-append', 'a b']);
  t.ok(direct.includes('none') && direct.includes('-nic'), 'no NIC without a tap');
});

t.test('extra NICs come first on the bus and boot in bus order; unlinked ones have no peer', async (t) => {
  const extraNics = [{ mac: '52:54:00:00:00:0a' }, { mac: '52:54:00:00:00:0b', tap: 'mtx2' }];
  const args = qemuArgs({ ...base, firmware: 'bios', bootOrder: 'nc', extraNics });
  const devices = args.filter((_, i) => args[i - 1] === '-device' || args[i - 1] === '-netdev');
  t.same(devices, [
    'virtio-blk-pci,drive=disk0,bootindex=4',
    'virtio-net-pci,mac=52:54:00:00:00:0a,bootindex=1',
    'tap,id=xnet2,ifname=mtx2,script=no,downscript=no',
    'virtio-net-pci,netdev=xnet2,mac=52:54:00:00:00:0b,bootindex=2',
    'tap,id=net0,ifname=mtx,script=no,downscript=no',
    'virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01,bootindex=3',
  ]);
  const diskFirst = qemuArgs({ ...base, firmware: 'uefi', bootOrder: 'cn', vars: '/v.fd', extraNics }).join(' ');
  t.match(diskFirst, /virtio-blk-pci,drive=disk0,bootindex=1/);
  t.match(diskFirst, /virtio-net-pci,mac=52:54:00:00:00:0a,romfile=,bootindex=2/, 'UEFI: OVMF PXE on every NIC');
  t.match(diskFirst, /virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01,romfile=,bootindex=4/);
  const none = qemuArgs({ ...base, tap: undefined, firmware: 'bios', bootOrder: 'nc', extraNics }).join(' ');
  t.notMatch(none, /virtio-net-pci/, 'no NICs at all without the main one');
});

t.test('plainText drops firmware escape sequences and CRs', async (t) => {
  t.equal(plainText('\x1b[2J\x1b[0mSeaBIOS\r\nok\x1b[?7l'), 'SeaBIOS\nok');
});
