import t from 'tap';
import { bootFilesNamed, bootTargetFor, classifyClient } from '../../agent/dhcp/classify.js';
import type { DhcpOptions } from '../../agent/dhcp/options.js';
import { nicNode, testConfig, testDirectory } from './fixtures.js';

const config = testConfig();
const pxe = (arch: number): DhcpOptions => ({ vendorClass: `PXEClient:Arch:${String(arch).padStart(5, '0')}:UNDI:003016`, clientArch: [arch] });
const http = (arch: number): DhcpOptions => ({ vendorClass: `HTTPClient:Arch:${String(arch).padStart(5, '0')}:UNDI:003016`, clientArch: [arch] });

const table: Array<[string, DhcpOptions, string | undefined, unknown]> = [
  ['plain dhclient', { parameterRequestList: [1, 3, 6], hostname: 'x' }, undefined, undefined],
  ['arch 0 BIOS', pxe(0), 'bios', { via: 'tftp', file: 'undionly.kpxe' }],
  ['arch 6 EFI IA32', pxe(6), 'uefi', { via: 'tftp', file: 'snponly.efi' }],
  ['arch 7 EFI BC', pxe(7), 'uefi', { via: 'tftp', file: 'snponly.efi' }],
  ['arch 9 EFI x64', pxe(9), 'uefi', { via: 'tftp', file: 'snponly.efi' }],
  ['arch 11 EFI arm64', pxe(11), 'uefi', { via: 'tftp', file: 'snp-arm64.efi' }],
  ['arch 15 HTTP x86', http(15), 'uefi-http', { via: 'http', url: 'http://198.18.70.1:8080/boot/snponly.efi', vendorClass: 'HTTPClient' }],
  ['arch 16 HTTP x64', http(16), 'uefi-http', { via: 'http', url: 'http://198.18.70.1:8080/boot/snponly.efi', vendorClass: 'HTTPClient' }],
  ['arch 19 HTTP arm64', http(19), 'uefi-http', { via: 'http', url: 'http://198.18.70.1:8080/boot/snp-arm64.efi', vendorClass: 'HTTPClient' }],
  [
    'iPXE via user class 77 (plain)',
    { ...pxe(7), userClass: { form: 'plain', value: 'iPXE' } },
    'ipxe',
    { via: 'http', url: 'http://198.18.70.1:8080/boot.ipxe' },
  ],
  [
    'iPXE via user class 77 (RFC 3004)',
    { ...pxe(0), userClass: { form: 'rfc3004', classes: ['iPXE'] } },
    'ipxe',
    { via: 'http', url: 'http://198.18.70.1:8080/boot.ipxe' },
  ],
  ['iPXE via option 175', { ...pxe(0), ipxe: Buffer.from([177, 1, 1]) }, 'ipxe', { via: 'http', url: 'http://198.18.70.1:8080/boot.ipxe' }],
  ['PXEClient without option 93', { vendorClass: 'PXEClient' }, undefined, undefined],
  ['PXEClient with an arch we cannot boot (IA64)', pxe(2), undefined, undefined],
  ['HTTPClient claiming a TFTP arch', http(7), undefined, undefined],
  ['other vendor class (a Linux dhcpcd)', { vendorClass: 'dhcpcd-9.4.1:Linux', clientArch: [0] }, undefined, undefined],
];

for (const [name, options, firmware, target] of table) {
  t.test(name, async (t) => {
    const cls = classifyClient(options);
    t.equal(cls.firmware, firmware);
    t.same(bootTargetFor(cls, undefined, config), target);
  });
}

t.test('a node override replaces the x64 UEFI binary, not the BIOS one', async (t) => {
  t.same(bootTargetFor(classifyClient(pxe(7)), nicNode, config), { via: 'tftp', file: 'ipxe.efi' });
  t.same(bootTargetFor(classifyClient(pxe(0)), nicNode, config), { via: 'tftp', file: 'undionly.kpxe' });
  t.same(bootTargetFor(classifyClient(http(16)), nicNode, config), { via: 'http', url: 'http://198.18.70.1:8080/boot/ipxe.efi', vendorClass: 'HTTPClient' });
});

t.test('a trailing slash on the base URL does not double up', async (t) => {
  const cfg = testConfig({ httpBaseUrl: 'http://198.18.70.1/' });
  t.same(bootTargetFor(classifyClient({ userClass: { form: 'plain', value: 'iPXE' } }), undefined, cfg), { via: 'http', url: 'http://198.18.70.1/boot.ipxe' });
});

t.test('bootFilesNamed lists every file and URL the policy can name', async (t) => {
  const named = bootFilesNamed(config, testDirectory());
  t.same(
    named
      .filter((n) => n.via === 'tftp')
      .map((n) => n.name)
      .sort(),
    ['ipxe.efi', 'snp-arm64.efi', 'snponly.efi', 'undionly.kpxe'],
  );
  t.same(
    named
      .filter((n) => n.via === 'http')
      .map((n) => n.name)
      .sort(),
    [
      'http://198.18.70.1:8080/boot.ipxe',
      'http://198.18.70.1:8080/boot/ipxe.efi',
      'http://198.18.70.1:8080/boot/snp-arm64.efi',
      'http://198.18.70.1:8080/boot/snponly.efi',
    ],
  );
  // Every target produced for every arch/node combination is in the list.
  const names = new Set(named.map((n) => n.name));
  for (const [, options] of table) {
    for (const n of [undefined, nicNode]) {
      const target = bootTargetFor(classifyClient(options), n, config);
      if (target) t.ok(names.has(target.via === 'tftp' ? target.file : target.url));
    }
  }
});
