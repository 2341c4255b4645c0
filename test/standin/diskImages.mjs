#!/usr/bin/env node
// Generates the two things the stand-in installer writes to the install disk, so that a later boot
// from that disk is visible on the serial console (test/standin/README.md):
//   mbr <out>                 512-byte BIOS boot sector printing "MASKIN-DISK-BOOT bios" to COM1
//   gpt <out> <sectors> <esp>  a disk image: protective MBR + GPT with one EFI System Partition
//                             starting at 1 MiB, filled with the FAT image <esp>
// Plain ESM JavaScript (not compiled by tsc) because build.sh runs it before any build step.
import { readFileSync, writeFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { randomBytes } from 'node:crypto';

const SECTOR = 512;

/**
 * Real-mode code loaded by the BIOS at 0000:7C00. Hand-assembled; offsets are in the comments so a
 * reader can check every relative jump (rel8 = target - address of the next instruction).
 */
function biosBootSector() {
  const message = Buffer.from('MASKIN-DISK-BOOT bios\r\n\0', 'ascii');
  const msgOffset = 40;
  const code = Buffer.from([
    0xfa, //              0  cli
    0x31,
    0xc0, //        1  xor ax,ax
    0x8e,
    0xd8, //        3  mov ds,ax
    0x8e,
    0xd0, //        5  mov ss,ax
    0xbc,
    0x00,
    0x7c, //  7  mov sp,0x7c00
    0xfc, //             10  cld
    0xbe,
    (0x7c00 + msgOffset) & 0xff,
    (0x7c00 + msgOffset) >> 8, // 11  mov si,msg
    0xac, //             14  next: lodsb
    0x84,
    0xc0, //       15  test al,al
    0x74,
    0x12, //       17  jz halt (37 - 19)
    0x88,
    0xc4, //       19  mov ah,al
    0xba,
    0xfd,
    0x03, // 21  mov dx,0x3fd   ; 16550 line status register
    0xec, //             24  wait: in al,dx
    0xa8,
    0x20, //       25  test al,0x20   ; THR empty
    0x74,
    0xfb, //       27  jz wait (24 - 29)
    0x88,
    0xe0, //       29  mov al,ah
    0xba,
    0xf8,
    0x03, // 31  mov dx,0x3f8   ; COM1 transmit holding register
    0xee, //             34  out dx,al
    0xeb,
    0xe9, //       35  jmp next (14 - 37)
    0xf4, //             37  halt: hlt
    0xeb,
    0xfd, //       38  jmp halt (37 - 40)
  ]);
  if (code.length !== msgOffset) throw new Error(`boot code is ${code.length} bytes, expected ${msgOffset}`);
  const sector = Buffer.alloc(SECTOR);
  code.copy(sector, 0);
  message.copy(sector, msgOffset);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/** GUID text → the mixed-endian on-disk layout of UEFI spec §Appendix A. */
function guidBytes(text) {
  const hex = text.replace(/-/g, '');
  const b = Buffer.from(hex, 'hex');
  const out = Buffer.alloc(16);
  out.writeUInt32LE(b.readUInt32BE(0), 0);
  out.writeUInt16LE(b.readUInt16BE(4), 4);
  out.writeUInt16LE(b.readUInt16BE(6), 6);
  b.copy(out, 8, 8);
  return out;
}

const ESP_TYPE = guidBytes('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
const ENTRIES = 128;
const ENTRY_SIZE = 128;
const ENTRY_SECTORS = (ENTRIES * ENTRY_SIZE) / SECTOR; // 32

/** UEFI spec §5.3.2 GPT header; CRC32 over the 92 header bytes with the CRC field zeroed. */
function gptHeader(myLba, alternateLba, firstUsable, lastUsable, diskGuid, entriesLba, entriesCrc) {
  const h = Buffer.alloc(SECTOR);
  h.write('EFI PART', 0, 'ascii');
  h.writeUInt32LE(0x00010000, 8);
  h.writeUInt32LE(92, 12);
  h.writeBigUInt64LE(BigInt(myLba), 24);
  h.writeBigUInt64LE(BigInt(alternateLba), 32);
  h.writeBigUInt64LE(BigInt(firstUsable), 40);
  h.writeBigUInt64LE(BigInt(lastUsable), 48);
  diskGuid.copy(h, 56);
  h.writeBigUInt64LE(BigInt(entriesLba), 72);
  h.writeUInt32LE(ENTRIES, 80);
  h.writeUInt32LE(ENTRY_SIZE, 84);
  h.writeUInt32LE(entriesCrc, 88);
  h.writeUInt32LE(crc32(h.subarray(0, 92)), 16);
  return h;
}

function gptDisk(totalSectors, esp) {
  const firstLba = 2048; // 1 MiB alignment, as every partitioning tool does
  const espSectors = Math.ceil(esp.length / SECTOR);
  const lastUsable = totalSectors - 1 - ENTRY_SECTORS - 1;
  const lastLba = firstLba + espSectors - 1;
  if (lastLba > lastUsable) throw new Error('ESP image does not fit the disk image');
  const disk = Buffer.alloc(totalSectors * SECTOR);

  // Protective MBR (UEFI spec §5.2.3): one partition of type 0xEE covering the disk.
  const pmbr = disk.subarray(0, SECTOR);
  const p = 446;
  pmbr[p + 1] = 0x00;
  pmbr[p + 2] = 0x02;
  pmbr[p + 3] = 0x00; // CHS of LBA 1
  pmbr[p + 4] = 0xee;
  pmbr[p + 5] = 0xff;
  pmbr[p + 6] = 0xff;
  pmbr[p + 7] = 0xff;
  pmbr.writeUInt32LE(1, p + 8);
  pmbr.writeUInt32LE(Math.min(totalSectors - 1, 0xffffffff), p + 12);
  pmbr[510] = 0x55;
  pmbr[511] = 0xaa;

  const entries = Buffer.alloc(ENTRIES * ENTRY_SIZE);
  ESP_TYPE.copy(entries, 0);
  randomBytes(16).copy(entries, 16);
  entries.writeBigUInt64LE(BigInt(firstLba), 32);
  entries.writeBigUInt64LE(BigInt(lastLba), 40);
  entries.write('EFI System', 56, 'utf16le');
  const entriesCrc = crc32(entries);
  const diskGuid = randomBytes(16);
  const backupEntriesLba = totalSectors - 1 - ENTRY_SECTORS;

  gptHeader(1, totalSectors - 1, 34, lastUsable, diskGuid, 2, entriesCrc).copy(disk, SECTOR);
  entries.copy(disk, 2 * SECTOR);
  esp.copy(disk, firstLba * SECTOR);
  entries.copy(disk, backupEntriesLba * SECTOR);
  gptHeader(totalSectors - 1, 1, 34, lastUsable, diskGuid, backupEntriesLba, entriesCrc).copy(disk, (totalSectors - 1) * SECTOR);
  return disk;
}

const [command, out, ...rest] = process.argv.slice(2);
if (command === 'mbr' && out) {
  writeFileSync(out, biosBootSector());
} else if (command === 'gpt' && out && rest.length === 2) {
  writeFileSync(out, gptDisk(Number(rest[0]), readFileSync(String(rest[1]))));
} else {
  process.stderr.write('usage: diskImages.mjs mbr OUT | gpt OUT SECTORS ESP_IMAGE\n');
  process.exit(2);
}
