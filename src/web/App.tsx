import { AuthForm } from './components/AuthForm.js';
import { Balances } from './components/Balances.js';
import { ConnectionPanel } from './components/ConnectionPanel.js';
import { MyOrders } from './components/MyOrders.js';
import { OrderBook } from './components/OrderBook.js';
import { OrderEntry } from './components/OrderEntry.js';
import { RecentTrades } from './components/RecentTrades.js';
import { TickerBar } from './components/TickerBar.js';
import { useAccount, useAuth, useManager } from './ConnectionContext.js';

const SYMBOL = 'BTC-USD';

export function App() {
  const auth = useAuth();
  const manager = useManager();
  const account = useAccount();
  return (
    <>
      <header className="topbar">
        <h1>Trading Platform</h1>
        <span className="symbol">{SYMBOL}</span>
        <TickerBar symbol={SYMBOL} />
        {auth.status === 'signed-in' ? (
          <span className="who">
            Signed in as <strong>{auth.username}</strong>{' '}
            <button type="button" onClick={() => void manager.signOut()}>
              Sign out
            </button>
          </span>
        ) : null}
      </header>
      <main className="layout">
        <OrderBook symbol={SYMBOL} />
        <RecentTrades symbol={SYMBOL} />
        {auth.status === 'signed-in' ? (
          <>
            <OrderEntry symbol={SYMBOL} onPlaced={account.applyOrder} />
            <Balances balances={account.balances} />
            <MyOrders orders={account.openOrders} onChanged={account.applyOrder} />
          </>
        ) : (
          <AuthForm reason={auth.reason} />
        )}
        <ConnectionPanel />
      </main>
    </>
  );
}
