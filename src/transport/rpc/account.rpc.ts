import type { ServiceImpl } from '@connectrpc/connect';
import type { AccountBalances } from '../../domain/accounts/account-balances.js';
import type { AccountService } from '../../gen/trading/v1/account_pb.js';
import { requirePrincipal } from './call-context.js';

/** `trading.v1.AccountService`: the caller's own balances. */
export function accountRpc(accounts: AccountBalances): ServiceImpl<typeof AccountService> {
  return {
    async getBalances(_request, context) {
      const balances = await accounts.getBalances(Number(requirePrincipal(context).userId));
      return { balances };
    },
  };
}
