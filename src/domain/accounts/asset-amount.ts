/**
 * How an amount in minor units reads to a person. Balances and costs are integers of the asset's
 * minor unit; a message that says "65000" leaves the reader to guess cents or dollars.
 */
const MINOR_UNITS: Readonly<Record<string, { readonly decimals: number; readonly name: string }>> =
  {
    USD: { decimals: 2, name: 'cents' },
    BTC: { decimals: 8, name: 'satoshi' },
  };

/** `65000n, 'USD'` → `650.00 USD (65000 cents)`; an asset without a known unit as minor units. */
export function formatAmount(amount: bigint, asset: string): string {
  const unit = MINOR_UNITS[asset];
  if (unit === undefined) return `${amount} ${asset} minor units`;
  const scale = 10n ** BigInt(unit.decimals);
  const sign = amount < 0n ? '-' : '';
  const abs = amount < 0n ? -amount : amount;
  const fraction = (abs % scale).toString().padStart(unit.decimals, '0');
  return `${sign}${abs / scale}.${fraction} ${asset} (${amount} ${unit.name})`;
}
