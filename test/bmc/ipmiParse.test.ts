// ipmitool output readers, on outputs captured from ipmitool 1.8.19 against OpenIPMI's ipmi_sim
// (test/bmcsim/ipmi/) and, where the sim cannot produce them (valid/EFI boot flags, an
// all-zero-GUID BMC), written in ipmitool's format for a real BMC.
import t from 'tap';
import {
  bootFlagMismatches,
  classifyFailure,
  failureDetail,
  parseBootFlags,
  parseFru,
  parseGuid,
  parseLanMac,
  parsePowerStatus,
} from '../../agent/bmc/ipmi/parse.js';

const SIM_BOOTPARAM_PXE = `Boot parameter version: 1
Boot parameter 5 is valid/unlocked
Boot parameter data: 0004000000
 Boot Flags :
   - Boot Flag Invalid
   - Options apply to only next boot
   - BIOS PC Compatible (legacy) boot 
   - Boot Device Selector : Force PXE
   - BIOS verbosity : System Default
   - Console Redirection control : Console redirection occurs per BIOS configuration setting (default)
   - BIOS Mux Control Override : BIOS uses recommended setting of the mux at the end of POST
`;

const REAL_BOOTPARAM_EFI_PXE = `Boot parameter version: 1
Boot parameter 5 is valid/unlocked
Boot parameter data: a004000000
 Boot Flags :
   - Boot Flag Valid
   - Options apply to only next boot
   - BIOS EFI boot 
   - Boot Device Selector : Force PXE
   - Console Redirection control : System Default
   - BIOS verbosity : Console redirection occurs per BIOS configuration setting (default)
   - BIOS Mux Control Override : BIOS uses recommended setting of the mux at the end of POST
`;

const REAL_BOOTPARAM_PERSISTENT_DISK = `Boot parameter version: 1
Boot parameter 5 is valid/unlocked
Boot parameter data: c008000000
 Boot Flags :
   - Boot Flag Valid
   - Options apply to all future boots
   - BIOS PC Compatible (legacy) boot 
   - Boot Device Selector : Force Boot from default Hard-Drive
`;

const SIM_FRU = ` Board Mfg Date        : Unspecified
 Board Mfg             : Maskin Labs
 Board Product         : SIM-1U board
 Board Serial          : BSN-0001
 Board Part Number     : MASKIN-SIM
 Product Manufacturer  : Maskin Labs
 Product Name          : SIM-1U
 Product Part Number   : MASKIN-SIM
 Product Version       : 1.0
 Product Serial        : SN-0001
`;

const BOARD_ONLY_FRU = `FRU Device Description : Builtin FRU Device (ID 0)
 Chassis Type          : Rack Mount Chassis
 Chassis Serial        : To be filled by O.E.M.
 Board Mfg Date        : Mon Jan  1 00:00:00 2018
 Board Mfg             : Supermicro
 Board Product         : X11DPi-NT
 Board Serial          : ZM18AS012345
 Board Part Number     : X11DPi-NT
`;

const SIM_GUID = `System GUID   : efcdab89-6745-2301-efcd-ab8967452301
GUID Encoding : IPMI
GUID Version  : DCE Security with POSIX UIDs (not for IPMI)
`;

t.test('power status', async (t) => {
  t.equal(parsePowerStatus('Chassis Power is on\n'), 'on');
  t.equal(parsePowerStatus('Chassis Power is off\n'), 'off');
  t.equal(parsePowerStatus('Chassis Power Control: Up/On\n'), undefined);
});

t.test('boot flags from the parameter data bytes', async (t) => {
  t.same(parseBootFlags(SIM_BOOTPARAM_PXE), { valid: false, persistent: false, mode: 'legacy', device: 'pxe' });
  t.same(parseBootFlags(REAL_BOOTPARAM_EFI_PXE), { valid: true, persistent: false, mode: 'uefi', device: 'pxe' });
  t.same(parseBootFlags(REAL_BOOTPARAM_PERSISTENT_DISK), { valid: true, persistent: true, mode: 'legacy', device: 'disk' });
  t.equal(parseBootFlags('Boot parameter version: 1\n'), undefined);
});

t.test('read-back check: full for real BMCs, device-only for ipmi_sim', async (t) => {
  const efi = parseBootFlags(REAL_BOOTPARAM_EFI_PXE)!;
  t.same(bootFlagMismatches(efi, 'uefi', 'full'), []);
  t.same(bootFlagMismatches(efi, 'legacy', 'full'), ['boot type is uefi, not legacy']);
  const sim = parseBootFlags(SIM_BOOTPARAM_PXE)!;
  t.same(bootFlagMismatches(sim, 'legacy', 'full'), ['boot flags are not valid'], 'the sim never sets the valid bit');
  t.same(bootFlagMismatches(sim, 'uefi', 'device-only'), []);
  const disk = parseBootFlags(REAL_BOOTPARAM_PERSISTENT_DISK)!;
  t.same(bootFlagMismatches(disk, 'legacy', 'full'), ['boot device is disk, not pxe', 'override is persistent, not next boot only']);
  t.same(bootFlagMismatches(disk, 'legacy', 'device-only'), ['boot device is disk, not pxe']);
});

t.test('FRU: product fields first, board fields as fallback, placeholders dropped', async (t) => {
  t.same(parseFru(SIM_FRU), { manufacturer: 'Maskin Labs', product: 'SIM-1U', serial: 'SN-0001', boardSerial: 'BSN-0001' });
  t.same(parseFru(BOARD_ONLY_FRU), { manufacturer: 'Supermicro', product: 'X11DPi-NT', serial: 'ZM18AS012345', boardSerial: 'ZM18AS012345' });
  t.same(parseFru(''), {});
});

t.test('GUID and BMC LAN MAC', async (t) => {
  t.equal(parseGuid(SIM_GUID), 'efcdab89-6745-2301-efcd-ab8967452301');
  t.equal(parseGuid('System GUID   : 00000000-0000-0000-0000-000000000000\n'), undefined);
  // ipmitool -v against ipmi_sim set to GUID 00112233445566778899aabbccddeeff (captured).
  const verbose =
    'Loading IANA PEN Registry...\nRunning Get VSO Capabilities my_addr 0x20, transit 0, target 0x20\nSystem GUID   : 00112233445566778899AABBCCDDEEFF\n';
  t.equal(parseGuid(verbose), 'ffeeddcc-bbaa-9988-7766-554433221100', 'raw bytes reversed as ipmitool decodes them');
  t.equal(parseLanMac('IP Address              : 10.0.0.5\nMAC Address             : 0C:C4:7A:12:34:56\n'), '0c:c4:7a:12:34:56');
  t.equal(parseLanMac('MAC Address             : 00:00:00:00:00:00\n'), undefined, "ipmi_sim's unset LAN MAC");
});

t.test('failures classified from ipmitool -v stderr (captured from ipmi_sim)', async (t) => {
  const wrongPassword = 'Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session\n';
  const wrongUser = 'Loading IANA PEN Registry...\nRAKP 2 message indicates an error : unauthorized name\nError: Unable to establish IPMI v2 / RMCP+ session\n';
  const silent =
    'Loading IANA PEN Registry...\nGet Auth Capabilities error\nError issuing Get Channel Authentication Capabilities request\nError: Unable to establish IPMI v2 / RMCP+ session\n';
  const badParam =
    'Loading IANA PEN Registry...\nRunning Get VSO Capabilities my_addr 0x20, transit 0, target 0x20\nInvalid completion code received: Invalid command\nDiscovered IPMB address 0x0\nGet Chassis Boot Parameter 9 failed: Invalid data field in request\n';
  t.equal(classifyFailure(wrongPassword), 'auth');
  t.equal(classifyFailure(wrongUser), 'auth');
  t.equal(classifyFailure(silent), 'unreachable');
  t.equal(classifyFailure('Error: Unable to establish IPMI v2 / RMCP+ session\n'), 'unreachable', 'without the RAKP line a silent BMC is the likelier cause');
  t.equal(classifyFailure(badParam), 'unsupported');
  t.equal(classifyFailure('Set Chassis Power Control to Cycle failed: Node busy\n'), 'busy');
  t.equal(classifyFailure('something else entirely\n'), 'protocol');
  t.equal(failureDetail(wrongPassword), '> RAKP 2 HMAC is invalid; Error: Unable to establish IPMI v2 / RMCP+ session');
  t.equal(failureDetail(badParam), 'Invalid completion code received: Invalid command; Get Chassis Boot Parameter 9 failed: Invalid data field in request');
});
