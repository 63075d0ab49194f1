import { formatAsset } from '../../client/index.js';
import type { Balance } from '../../gen/trading/v1/account_pb.js';

/** Balances in real units: dollars and BTC, never cents and satoshi. */
export function Balances(props: { balances: readonly Balance[] }) {
  return (
    <section className="panel balances" aria-labelledby="balances-title">
      <h2 id="balances-title">Balances</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Asset</th>
            <th scope="col">Available</th>
            <th scope="col">In orders</th>
          </tr>
        </thead>
        <tbody>
          {props.balances.map((balance) => (
            <tr key={balance.asset} data-asset={balance.asset}>
              <th scope="row">{balance.asset}</th>
              <td>{formatAsset(balance.asset, balance.available)}</td>
              <td>{formatAsset(balance.asset, balance.reserved)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
