import { formatPrice, formatQuantity } from '../../client/index.js';
import { Side } from '../../gen/trading/v1/common_pb.js';
import { useTrades } from '../ConnectionContext.js';

export function RecentTrades(props: { symbol: string }) {
  const trades = useTrades(props.symbol);
  return (
    <section className="panel trades" aria-labelledby="trades-title">
      <h2 id="trades-title">Recent trades</h2>
      {trades.length === 0 ? (
        <p>No trades yet.</p>
      ) : (
        <table data-testid="trades">
          <thead>
            <tr>
              <th scope="col">Price</th>
              <th scope="col">Quantity</th>
              <th scope="col">Time</th>
            </tr>
          </thead>
          <tbody>
            {trades.map(({ seq, trade }) => (
              <tr
                key={seq.toString()}
                data-seq={seq.toString()}
                className={trade.takerSide === Side.BUY ? 'bid' : 'ask'}
              >
                <td>{formatPrice(props.symbol, trade.price)}</td>
                <td>{formatQuantity(props.symbol, trade.quantity)}</td>
                <td>
                  {trade.timeUnixMs === 0n
                    ? '—'
                    : new Date(Number(trade.timeUnixMs)).toLocaleTimeString()}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
