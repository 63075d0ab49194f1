import { ASSET_DECIMALS, parseDecimal, SYMBOL_UNITS } from '../../client/index.js';

/** A price typed in the quote currency (dollars) as ticks, or why it cannot be one. */
export function priceTicks(symbol: string, text: string): bigint | string {
  const units = SYMBOL_UNITS[symbol];
  if (units === undefined) return 'unknown symbol';
  const minor = parseDecimal(text, ASSET_DECIMALS[units.quote] ?? 0);
  if (minor === undefined) return 'enter a price such as 65000 or 65000.00';
  if (minor % units.tickMinor !== 0n) return 'must be a whole number of ticks ($1)';
  return minor / units.tickMinor;
}

/** A quantity typed in the base asset (BTC) as lots, or why it cannot be one. */
export function quantityLots(symbol: string, text: string): bigint | string {
  const units = SYMBOL_UNITS[symbol];
  if (units === undefined) return 'unknown symbol';
  const lots = parseDecimal(text, units.lotDecimals);
  if (lots === undefined) return `enter an amount of ${units.base} in steps of 0.01`;
  return lots;
}

/** A fresh idempotency key per order (a retry of the same submission reuses it). */
export function newClientOrderId(): string {
  return `web-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}
