/**
 * The order book checksum of docs/protocol.md, for clients. A copy of the pure functions of
 * src/engine/checksum.ts: the client SDK may import only the contract (src/gen), and the
 * engine may import nothing, so neither can share a module with the other without bending a
 * layer. The algorithm is part of the contract; test/unit/client/book-checksum.test.ts holds
 * the two copies to the same values on random books.
 */

/** Levels per side covered by the checksum. */
export const CHECKSUM_DEPTH = 10;

export interface ChecksumLevel {
  readonly price: bigint | number;
  readonly quantity: bigint | number;
}

// CRC-32/ISO-HDLC (zlib, PNG, Ethernet): reflected polynomial 0xEDB88320.
const TABLE = ((): Uint32Array => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32 of ASCII text, each character code hashed as one byte; unsigned 32-bit. */
export function crc32Ascii(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) throw new RangeError('crc32Ascii hashes ASCII text only');
    crc = (TABLE[(crc ^ code) & 0xff] ?? 0) ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** For i = 0..9: the i-th best bid then the i-th best ask as `price:quantity`, joined by ':'. */
export function checksumPayload(
  bids: readonly ChecksumLevel[],
  asks: readonly ChecksumLevel[],
): string {
  const parts: string[] = [];
  for (let i = 0; i < CHECKSUM_DEPTH; i++) {
    const bid = bids[i];
    const ask = asks[i];
    if (bid !== undefined) parts.push(`${bid.price}:${bid.quantity}`);
    if (ask !== undefined) parts.push(`${ask.price}:${ask.quantity}`);
  }
  return parts.join(':');
}

/** CRC32 of the top 10 levels per side; bids and asks sorted best first. */
export function bookChecksum(
  bids: readonly ChecksumLevel[],
  asks: readonly ChecksumLevel[],
): number {
  return crc32Ascii(checksumPayload(bids, asks));
}
