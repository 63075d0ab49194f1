import {
  createContext,
  useContext,
  useEffect,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from 'react';
import type {
  AuthState,
  BookView,
  ConnectionState,
  EnhancedConnectionManager,
} from '../client/index.js';
import type { Balance } from '../gen/trading/v1/account_pb.js';
import type { Ticker, Trade } from '../gen/trading/v1/market_data_pb.js';
import { OrderStatus, type Order } from '../gen/trading/v1/orders_pb.js';

const ConnectionContext = createContext<EnhancedConnectionManager | undefined>(undefined);

/** Gives the app one connection manager, started once the page is mounted. */
export function ConnectionProvider(props: {
  manager: EnhancedConnectionManager;
  children: ReactNode;
}) {
  const { manager } = props;
  useEffect(() => {
    manager.start();
    // A reloaded tab signs in again from the refresh token it remembers.
    manager.restoreSession().catch(() => undefined);
  }, [manager]);
  return <ConnectionContext.Provider value={manager}>{props.children}</ConnectionContext.Provider>;
}

export function useManager(): EnhancedConnectionManager {
  const manager = useContext(ConnectionContext);
  if (manager === undefined) throw new Error('useManager needs a ConnectionProvider');
  return manager;
}

/** Status, transport, quality, RTT, reconnect countdown, pod, migrations and resync counts. */
export function useConnectionState(): ConnectionState {
  const manager = useManager();
  return useSyncExternalStore(
    (changed) => manager.on('state', changed),
    () => manager.state,
  );
}

export function useAuth(): AuthState {
  const manager = useManager();
  return useSyncExternalStore(
    (changed) => manager.on('auth', changed),
    () => manager.authState,
  );
}

/** A symbol's checksum-verified book; undefined while it is being (re)subscribed. */
export function useBook(symbol: string): BookView | undefined {
  const manager = useManager();
  const [book, setBook] = useState(() => manager.book(symbol));
  useEffect(
    () =>
      manager.on('book', (change) => {
        if (change.symbol === symbol) setBook(change.book);
      }),
    [manager, symbol],
  );
  return book;
}

/** A symbol's latest ticker (last price, 24h figures); undefined until the first arrives. */
export function useTicker(symbol: string): Ticker | undefined {
  const manager = useManager();
  const [ticker, setTicker] = useState<Ticker | undefined>(undefined);
  useEffect(
    () =>
      manager.on('ticker', (event) => {
        if (event.symbol === symbol) setTicker(event.ticker);
      }),
    [manager, symbol],
  );
  return ticker;
}

export interface TradeRow {
  readonly seq: bigint;
  readonly trade: Trade;
}

/** The latest trades of a symbol, newest first, one row per stream seq (never twice). */
export function useTrades(symbol: string, limit = 25): readonly TradeRow[] {
  const manager = useManager();
  const [rows, setRows] = useState<readonly TradeRow[]>([]);
  useEffect(
    () =>
      manager.on('trade', (event) => {
        if (event.symbol !== symbol) return;
        setRows((previous) =>
          previous.some((row) => row.seq === event.seq)
            ? previous
            : [{ seq: event.seq, trade: event.trade }, ...previous].slice(0, limit),
        );
      }),
    [manager, symbol, limit],
  );
  return rows;
}

const OPEN = new Set([OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED]);

export interface AccountView {
  readonly openOrders: readonly Order[];
  readonly balances: readonly Balance[];
  /** Shows an order a call answered at once, before its execution report arrives. */
  readonly applyOrder: (order: Order) => void;
}

/**
 * The signed-in user's open orders and balances: read once, then kept current by the private
 * stream (execution reports; balances read again after each, as the stream sends them only
 * at its start).
 */
export function useAccount(): AccountView {
  const manager = useManager();
  const auth = useAuth();
  const [orders, setOrders] = useState<ReadonlyMap<string, Order>>(new Map());
  const [balances, setBalances] = useState<readonly Balance[]>([]);
  const signedIn = auth.status === 'signed-in';

  useEffect(() => {
    if (!signedIn) {
      setOrders(new Map());
      setBalances([]);
      return;
    }
    let current = true;
    const loadBalances = () => {
      manager.accounts
        .getBalances({})
        .then((response) => {
          if (current) setBalances(response.balances);
        })
        .catch(() => undefined);
    };
    manager.orders
      .listOrders({ statuses: [...OPEN], pageSize: 200 })
      .then((response) => {
        if (current) setOrders(new Map(response.orders.map((order) => [order.orderId, order])));
      })
      .catch(() => undefined);
    loadBalances();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const offExecution = manager.on('execution', ({ order }) => {
      if (order === undefined) return;
      setOrders((previous) => upsert(previous, order));
      clearTimeout(timer);
      timer = setTimeout(loadBalances, 150);
    });
    const offBalances = manager.on('balances', (list) => {
      setBalances(list);
    });
    return () => {
      current = false;
      clearTimeout(timer);
      offExecution();
      offBalances();
    };
  }, [manager, signedIn]);

  return {
    openOrders: [...orders.values()].sort((a, b) => Number(b.orderId) - Number(a.orderId)),
    balances,
    applyOrder: (order) => {
      setOrders((previous) => upsert(previous, order));
    },
  };
}

function upsert(orders: ReadonlyMap<string, Order>, order: Order): ReadonlyMap<string, Order> {
  const next = new Map(orders);
  if (OPEN.has(order.status)) next.set(order.orderId, order);
  else next.delete(order.orderId);
  return next;
}
