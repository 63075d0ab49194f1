import { formatDecimal, formatPrice, formatQuantity } from '../../client/index.js';
import { useTicker } from '../ConnectionContext.js';

/** The header's ticker: last price, 24h change, high, low and volume, as the stream sends them. */
export function TickerBar(props: { symbol: string }) {
  const ticker = useTicker(props.symbol);
  if (ticker === undefined || ticker.lastPrice === 0n) return null;
  const bps = BigInt(ticker.priceChangeBps24h);
  const direction = bps > 0n ? 'bid' : bps < 0n ? 'ask' : '';
  const sign = bps > 0n ? '+' : '';
  return (
    <span className="ticker" data-testid="ticker">
      <strong>{formatPrice(props.symbol, ticker.lastPrice)}</strong>{' '}
      <span className={direction} title="24h change">
        {sign}
        {formatDecimal(bps, 2)}%
      </span>{' '}
      <span title="24h high / low">
        H {formatPrice(props.symbol, ticker.high24h)} · L {formatPrice(props.symbol, ticker.low24h)}
      </span>{' '}
      <span title="24h volume">Vol {formatQuantity(props.symbol, ticker.volume24h)}</span>
    </span>
  );
}
