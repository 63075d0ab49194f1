import { useState, type SyntheticEvent } from 'react';
import { fieldErrorOf, formatPrice, formatQuantity } from '../../client/index.js';
import { Side } from '../../gen/trading/v1/common_pb.js';
import type { Order } from '../../gen/trading/v1/orders_pb.js';
import { useManager } from '../ConnectionContext.js';
import { priceTicks, quantityLots } from './order-form.js';
import { statusText } from './OrderEntry.js';

function AmendForm(props: { order: Order; onDone: (order?: Order) => void }) {
  const manager = useManager();
  const { order } = props;
  const [price, setPrice] = useState(order.price.toString());
  const [quantity, setQuantity] = useState(
    formatQuantity(order.symbol, order.quantity).split(' ')[0] ?? '',
  );
  const [error, setError] = useState<string | undefined>();
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    const ticks = priceTicks(order.symbol, price);
    const lots = quantityLots(order.symbol, quantity);
    if (typeof ticks === 'string' || typeof lots === 'string') {
      setError(typeof ticks === 'string' ? `price: ${ticks}` : `quantity: ${String(lots)}`);
      return;
    }
    try {
      const response = await manager.orders.amendOrder({
        orderId: order.orderId,
        ...(ticks === order.price ? {} : { price: ticks }),
        ...(lots === order.quantity ? {} : { quantity: lots }),
      });
      props.onDone(response.order);
    } catch (caught) {
      const refusal = fieldErrorOf(caught);
      setError(
        refusal.field === undefined ? refusal.message : `${refusal.field}: ${refusal.message}`,
      );
    }
  };
  return (
    <form className="amend" onSubmit={(event) => void submit(event)}>
      <label>
        New price
        <input
          inputMode="decimal"
          value={price}
          onChange={(event) => {
            setPrice(event.target.value);
          }}
        />
      </label>
      <label>
        New quantity
        <input
          inputMode="decimal"
          value={quantity}
          onChange={(event) => {
            setQuantity(event.target.value);
          }}
        />
      </label>
      <button type="submit">Save</button>
      <button
        type="button"
        onClick={() => {
          props.onDone();
        }}
      >
        Keep
      </button>
      {error === undefined ? null : (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

/** The user's open orders, each with cancel and amend. */
export function MyOrders(props: { orders: readonly Order[]; onChanged: (order: Order) => void }) {
  const manager = useManager();
  const [amending, setAmending] = useState<string | undefined>();
  const [error, setError] = useState<string | undefined>();
  const cancel = async (order: Order) => {
    setError(undefined);
    try {
      const response = await manager.orders.cancelOrder({ orderId: order.orderId });
      if (response.order !== undefined) props.onChanged(response.order);
    } catch (caught) {
      setError(fieldErrorOf(caught).message);
    }
  };
  return (
    <section className="panel orders" aria-labelledby="orders-title">
      <h2 id="orders-title">My open orders</h2>
      {error === undefined ? null : (
        <p className="field-error" role="alert">
          {error}
        </p>
      )}
      {props.orders.length === 0 ? (
        <p>No open orders.</p>
      ) : (
        <table data-testid="my-orders">
          <thead>
            <tr>
              <th scope="col">Side</th>
              <th scope="col">Price</th>
              <th scope="col">Quantity</th>
              <th scope="col">Filled</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {props.orders.map((order) => (
              <tr key={order.orderId} data-order-id={order.orderId}>
                <td className={order.side === Side.BUY ? 'bid' : 'ask'}>
                  {order.side === Side.BUY ? 'Buy' : 'Sell'}
                </td>
                <td>{order.price === 0n ? 'market' : formatPrice(order.symbol, order.price)}</td>
                <td>{formatQuantity(order.symbol, order.quantity)}</td>
                <td>{formatQuantity(order.symbol, order.filledQuantity)}</td>
                <td>{statusText(order)}</td>
                <td className="row-actions">
                  {amending === order.orderId ? (
                    <AmendForm
                      order={order}
                      onDone={(amended) => {
                        if (amended !== undefined) props.onChanged(amended);
                        setAmending(undefined);
                      }}
                    />
                  ) : (
                    <>
                      <button
                        type="button"
                        onClick={() => {
                          setAmending(order.orderId);
                        }}
                        aria-label={`Amend order ${order.orderId}`}
                      >
                        Amend
                      </button>
                      <button
                        type="button"
                        onClick={() => void cancel(order)}
                        aria-label={`Cancel order ${order.orderId}`}
                      >
                        Cancel
                      </button>
                    </>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
