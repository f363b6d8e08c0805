// CRC-32/MPEG-2 (poly 0x04C11DB7, MSB first, init 0xFFFFFFFF, no reflection, no final XOR): the CRC that
// esp8266/Arduino tools/elf2bin.py (crc8266) stores at 0x1014 of an Arduino .bin and that eboot checks.
// Table-driven because it runs over whole megabyte images.

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** Continue a CRC-32/MPEG-2 over `bytes` from state `crc` (start with the default for a fresh CRC). */
export function crc32mpeg2(bytes: Uint8Array, crc = 0xffffffff): number {
  let c = crc >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    c = ((c << 8) ^ TABLE[((c >>> 24) ^ bytes[i]) & 0xff]) >>> 0;
  }
  return c;
}
