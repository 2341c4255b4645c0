// IPMI FRU inventory image (Platform Management FRU Information Storage Definition v1.0): the
// common header, a board info area and a product info area, for ipmi_sim's mc_add_fru_data so
// that `ipmitool fru print 0` shows a real server's identity fields.

export interface FruIdentity {
  manufacturer: string;
  product: string;
  serial: string;
  boardSerial: string;
  partNumber?: string;
}

/** Type/length byte 0xC0 | n: n bytes of 8-bit ASCII (spec §13). */
function field(text: string): number[] {
  const bytes = [...Buffer.from(text, 'latin1')];
  if (bytes.length > 63) throw new Error(`FRU field too long: ${text}`);
  return [0xc0 | bytes.length, ...bytes];
}

/** Pads an area to a multiple of 8 bytes (its length byte counts 8-byte units) and appends the zero checksum. */
function area(body: number[]): number[] {
  const withEnd = [...body, 0xc1]; // end-of-fields marker
  while ((withEnd.length + 1) % 8 !== 0) withEnd.push(0);
  withEnd[1] = (withEnd.length + 1) / 8;
  return [...withEnd, checksum(withEnd)];
}

function checksum(bytes: number[]): number {
  return (0x100 - (bytes.reduce((a, b) => a + b, 0) & 0xff)) & 0xff;
}

export function fruImage(id: FruIdentity): number[] {
  const part = id.partNumber ?? 'MASKIN-SIM';
  // Board: version, length (filled by area), language, manufacturing date (3 bytes, minutes since 1996).
  const board = area([
    0x01,
    0,
    0x00,
    0x00,
    0x00,
    0x00,
    ...field(id.manufacturer),
    ...field(`${id.product} board`),
    ...field(id.boardSerial),
    ...field(part),
    ...field(''),
  ]);
  // Product: version, length, language, then manufacturer, name, part/model, version, serial, asset tag, FRU file id.
  const product = area([
    0x01,
    0,
    0x00,
    ...field(id.manufacturer),
    ...field(id.product),
    ...field(part),
    ...field('1.0'),
    ...field(id.serial),
    ...field(''),
    ...field(''),
  ]);
  const boardOffset = 1; // in 8-byte units, right after the 8-byte header
  const productOffset = boardOffset + board.length / 8;
  const header = [0x01, 0, 0, boardOffset, productOffset, 0, 0];
  return [...header, checksum(header), ...board, ...product];
}
