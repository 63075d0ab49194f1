import { useId, useState, type SyntheticEvent } from 'react';
import { fieldErrorOf, SYMBOL_UNITS } from '../../client/index.js';
import { Side } from '../../gen/trading/v1/common_pb.js';
import { OrderType, TimeInForce, type Order } from '../../gen/trading/v1/orders_pb.js';
import { useManager } from '../ConnectionContext.js';
import { newClientOrderId, priceTicks, quantityLots } from './order-form.js';

type Field = 'price' | 'quantity' | 'side' | 'type' | 'time_in_force' | 'form';
type Errors = Partial<Record<Field, string>>;
const TIME_IN_FORCE = [TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK];
const FORM_FIELDS = new Set<string>(['price', 'quantity', 'side', 'type', 'time_in_force']);

/** Place an order; the server's refusals appear next to the field they name. */
export function OrderEntry(props: { symbol: string; onPlaced: (order: Order) => void }) {
  const manager = useManager();
  const id = useId();
  const units = SYMBOL_UNITS[props.symbol];
  const [side, setSide] = useState(Side.BUY);
  const [type, setType] = useState(OrderType.LIMIT);
  const [tif, setTif] = useState(TimeInForce.GTC);
  const [price, setPrice] = useState('');
  const [quantity, setQuantity] = useState('');
  const [errors, setErrors] = useState<Errors>({});
  const [result, setResult] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault();
    setResult(undefined);
    const local: Errors = {};
    const ticks = type === OrderType.MARKET ? 0n : priceTicks(props.symbol, price);
    const lots = quantityLots(props.symbol, quantity);
    if (typeof ticks === 'string') local.price = ticks;
    if (typeof lots === 'string') local.quantity = lots;
    setErrors(local);
    if (typeof ticks === 'string' || typeof lots === 'string') return;
    setBusy(true);
    try {
      const response = await manager.orders.placeOrder({
        clientOrderId: newClientOrderId(),
        symbol: props.symbol,
        side,
        type,
        timeInForce: type === OrderType.MARKET && tif === TimeInForce.GTC ? TimeInForce.IOC : tif,
        price: ticks,
        quantity: lots,
      });
      if (response.order !== undefined) {
        props.onPlaced(response.order);
        setResult(`Order ${response.order.orderId} ${statusText(response.order)}`);
      }
    } catch (caught) {
      const refusal = fieldErrorOf(caught);
      const field =
        refusal.field !== undefined && FORM_FIELDS.has(refusal.field) ? refusal.field : 'form';
      setErrors({ [field as Field]: refusal.message });
    } finally {
      setBusy(false);
    }
  };

  const describe = (field: Field) =>
    errors[field] === undefined ? undefined : `${id}-${field}-error`;
  const errorOf = (field: Field) =>
    errors[field] === undefined ? null : (
      <p className="field-error" id={`${id}-${field}-error`} role="alert">
        {errors[field]}
      </p>
    );

  return (
    <section className="panel entry" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Place an order</h2>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <fieldset className="sides">
          <legend>Side</legend>
          {[Side.BUY, Side.SELL].map((value) => (
            <label key={value} className={value === Side.BUY ? 'buy' : 'sell'}>
              <input
                type="radio"
                name="side"
                checked={side === value}
                onChange={() => {
                  setSide(value);
                }}
              />
              {value === Side.BUY ? 'Buy' : 'Sell'}
            </label>
          ))}
        </fieldset>
        {errorOf('side')}
        <label htmlFor={`${id}-type`}>Type</label>
        <select
          id={`${id}-type`}
          value={type}
          onChange={(event) => {
            setType(
              event.target.value === String(OrderType.MARKET) ? OrderType.MARKET : OrderType.LIMIT,
            );
          }}
        >
          <option value={OrderType.LIMIT}>Limit</option>
          <option value={OrderType.MARKET}>Market</option>
        </select>
        {errorOf('type')}
        <label htmlFor={`${id}-price`}>
          Price ({units?.quote ?? 'ticks'} per {units?.base})
        </label>
        <input
          id={`${id}-price`}
          name="price"
          inputMode="decimal"
          disabled={type === OrderType.MARKET}
          placeholder={type === OrderType.MARKET ? 'market' : '65000'}
          value={type === OrderType.MARKET ? '' : price}
          aria-invalid={errors.price !== undefined}
          aria-describedby={describe('price')}
          onChange={(event) => {
            setPrice(event.target.value);
          }}
        />
        {errorOf('price')}
        <label htmlFor={`${id}-quantity`}>Quantity ({units?.base ?? 'lots'})</label>
        <input
          id={`${id}-quantity`}
          name="quantity"
          inputMode="decimal"
          placeholder="0.01"
          value={quantity}
          aria-invalid={errors.quantity !== undefined}
          aria-describedby={describe('quantity')}
          onChange={(event) => {
            setQuantity(event.target.value);
          }}
        />
        {errorOf('quantity')}
        <label htmlFor={`${id}-tif`}>Time in force</label>
        <select
          id={`${id}-tif`}
          value={tif}
          onChange={(event) => {
            setTif(
              TIME_IN_FORCE.find((value) => String(value) === event.target.value) ??
                TimeInForce.GTC,
            );
          }}
        >
          <option value={TimeInForce.GTC}>Good till cancelled</option>
          <option value={TimeInForce.IOC}>Immediate or cancel</option>
          <option value={TimeInForce.FOK}>Fill or kill</option>
        </select>
        {errorOf('time_in_force')}
        {errorOf('form')}
        <button type="submit" disabled={busy} className={side === Side.BUY ? 'buy' : 'sell'}>
          {side === Side.BUY ? 'Buy' : 'Sell'} {units?.base}
        </button>
        {result === undefined ? null : (
          <p role="status" className="result">
            {result}
          </p>
        )}
      </form>
    </section>
  );
}

export function statusText(order: Order): string {
  return (
    ['unspecified', 'open', 'partially filled', 'filled', 'canceled', 'rejected'][order.status] ??
    'unknown'
  );
}
