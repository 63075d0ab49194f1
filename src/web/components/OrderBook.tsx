import { formatPrice, formatQuantity, type BookLevel } from '../../client/index.js';
import { useBook } from '../ConnectionContext.js';

const DEPTH = 10;

function Rows(props: { symbol: string; levels: readonly BookLevel[]; side: 'bid' | 'ask' }) {
  const max = props.levels.reduce((m, level) => (level.quantity > m ? level.quantity : m), 1n);
  return props.levels.map((level) => (
    <tr key={level.price.toString()} className={props.side}>
      <td className="price">{formatPrice(props.symbol, level.price)}</td>
      <td className="quantity">
        <span
          className="depth"
          aria-hidden="true"
          style={{ width: `${Number((level.quantity * 100n) / max)}%` }}
        />
        {formatQuantity(props.symbol, level.quantity)}
      </td>
    </tr>
  ));
}

/** The top of the book, proven by its checksum after every change (else not shown). */
export function OrderBook(props: { symbol: string }) {
  const book = useBook(props.symbol);
  return (
    <section className="panel book" aria-labelledby="book-title">
      <h2 id="book-title">Order book</h2>
      {book === undefined ? (
        <p role="status">Loading the book…</p>
      ) : (
        <>
          <p className="verified" data-testid="book-verified">
            <span aria-hidden="true">✓</span> checksum verified · seq {book.seq.toString()} · crc{' '}
            {book.checksum.toString(16).padStart(8, '0')}
          </p>
          <table>
            <caption className="visually-hidden">
              Asks above, bids below, top {DEPTH} levels each
            </caption>
            <thead>
              <tr>
                <th scope="col">Price</th>
                <th scope="col">Quantity</th>
              </tr>
            </thead>
            <tbody aria-label="asks">
              <Rows symbol={props.symbol} levels={book.asks.slice(0, DEPTH).reverse()} side="ask" />
            </tbody>
            <tbody aria-label="bids">
              <Rows symbol={props.symbol} levels={book.bids.slice(0, DEPTH)} side="bid" />
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
