/** Basis points in one whole: a deviation of 10,000 bps is 100 % of the reference price. */
export const BPS_PER_UNIT = 10_000;

/**
 * floor(reference * bps / 10_000), exact for every safe-integer reference and bps in
 * [0, 10_000]: the product itself could exceed 2^53, so the reference is split into
 * quotient and remainder of 10_000 first.
 */
export function bandDeviation(reference: number, bps: number): number {
  const quotient = Math.floor(reference / BPS_PER_UNIT);
  const remainder = reference - quotient * BPS_PER_UNIT;
  return quotient * bps + Math.floor((remainder * bps) / BPS_PER_UNIT);
}

/** Lowest and highest accepted limit price around `reference`, both inclusive. */
export function bandBounds(reference: number, bps: number): { low: number; high: number } {
  const deviation = bandDeviation(reference, bps);
  return { low: reference - deviation, high: reference + deviation };
}
