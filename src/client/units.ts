/**
 * Amounts as people read them (README, "Units"): prices in ticks, quantities in lots,
 * balances in minor units of the asset. Exact decimal arithmetic on bigints, never floats.
 */

/** Minor units per whole unit of each asset the platform trades. */
export const ASSET_DECIMALS: Readonly<Record<string, number>> = { USD: 2, BTC: 8 };

/** BTC-USD: 1 tick = $1, 1 lot = 0.01 BTC. */
export interface SymbolUnits {
  readonly base: string;
  readonly quote: string;
  /** Quote minor units per tick. */
  readonly tickMinor: bigint;
  /** Decimals of the base asset in one lot: a lot is 10^-lotDecimals base units. */
  readonly lotDecimals: number;
}

export const SYMBOL_UNITS: Readonly<Record<string, SymbolUnits>> = {
  'BTC-USD': { base: 'BTC', quote: 'USD', tickMinor: 100n, lotDecimals: 2 },
};

/** `amount` minor units shown with `decimals` places, e.g. (123456n, 2) → "1,234.56". */
export function formatDecimal(amount: bigint, decimals: number, grouping = true): string {
  const negative = amount < 0n;
  const digits = (negative ? -amount : amount).toString().padStart(decimals + 1, '0');
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals);
  const grouped = grouping ? whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',') : whole;
  return `${negative ? '-' : ''}${grouped}${decimals > 0 ? `.${fraction}` : ''}`;
}

/** A balance in its asset's units: USD 6500000n → "$65,000.00", BTC 150000000n → "1.50000000 BTC". */
export function formatAsset(asset: string, minor: bigint): string {
  const decimals = ASSET_DECIMALS[asset] ?? 0;
  const text = formatDecimal(minor, decimals);
  return asset === 'USD' ? `$${text}` : `${text} ${asset}`;
}

/** A price in ticks as the quote currency, e.g. 65000n → "$65,000.00" for BTC-USD. */
export function formatPrice(symbol: string, ticks: bigint): string {
  const units = SYMBOL_UNITS[symbol];
  if (units === undefined) return ticks.toString();
  return formatAsset(units.quote, ticks * units.tickMinor);
}

/** A quantity in lots as the base asset, e.g. 150n → "1.50 BTC" for BTC-USD. */
export function formatQuantity(symbol: string, lots: bigint): string {
  const units = SYMBOL_UNITS[symbol];
  if (units === undefined) return lots.toString();
  return `${formatDecimal(lots, units.lotDecimals)} ${units.base}`;
}

/**
 * A decimal typed by a person, e.g. "0.25", into integer units of 10^-decimals; undefined
 * when it is not a plain non-negative decimal or has more places than the unit allows.
 */
export function parseDecimal(text: string, decimals: number): bigint | undefined {
  const match = /^(\d*)(?:\.(\d*))?$/.exec(text.trim().replaceAll(',', ''));
  if (match === null) return undefined;
  const whole = match[1] ?? '';
  const fraction = match[2] ?? '';
  if (whole === '' && fraction === '') return undefined;
  if (fraction.length > decimals) return undefined;
  return (
    BigInt(whole === '' ? '0' : whole) * 10n ** BigInt(decimals) +
    BigInt(fraction.padEnd(decimals, '0') || '0')
  );
}
