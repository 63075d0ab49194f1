import type { BookSnapshot } from './types.js';

/** Levels per side covered by the order book checksum (docs/protocol.md). */
export const CHECKSUM_DEPTH = 10;

// CRC-32/ISO-HDLC, the one zlib, PNG and Ethernet use: reflected polynomial 0xEDB88320.
const TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32 (IEEE) of bytes, as an unsigned 32-bit integer. */
export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = (TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * CRC32 of an ASCII string, hashing each character code as one byte. The checksum payload is
 * only digits and ':', so this equals crc32 of its UTF-8 bytes without encoding it first.
 */
export function crc32Ascii(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) throw new RangeError('crc32Ascii hashes ASCII text only');
    crc = (TABLE[(crc ^ code) & 0xff] ?? 0) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The exact text the book checksum hashes: for i = 0..9, the i-th best bid then the i-th best
 * ask, each as `price:quantity` in decimal, all joined with ':'; a side with fewer than i + 1
 * levels contributes nothing at i. An empty book is the empty string.
 */
export function checksumPayload(book: BookSnapshot): string {
  const parts: string[] = [];
  for (let i = 0; i < CHECKSUM_DEPTH; i++) {
    const bid = book.bids[i];
    const ask = book.asks[i];
    if (bid !== undefined) parts.push(`${bid.price}:${bid.quantity}`);
    if (ask !== undefined) parts.push(`${ask.price}:${ask.quantity}`);
  }
  return parts.join(':');
}

/** CRC32 of the top 10 levels per side of a snapshot (bids best first, asks best first). */
export function bookChecksum(book: BookSnapshot): number {
  return crc32Ascii(checksumPayload(book));
}
