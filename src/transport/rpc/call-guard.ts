import type { DescMethod } from '@bufbuild/protobuf';
import type { ContextValues } from '@connectrpc/connect';
import { bearerToken, type Principal } from '../../domain/auth/access-tokens.js';
import {
  chargeCommandKey,
  INTERNAL_METHODS,
  principalKey,
  PUBLIC_METHODS,
} from './call-context.js';

/**
 * What every transport does before a handler runs, so grpc-js and Connect admit callers alike:
 * a bearer token on every method but the public and internal ones, then the per-user rate limit.
 */
export interface CallGuard {
  /** Verifies an access token; every method but PUBLIC_METHODS requires one. */
  readonly authenticate?: (accessToken: string) => Promise<Principal>;
  /** Per-user rate limit of an authenticated call; throws `resource_exhausted` when over. */
  readonly limitCall?: (principal: Principal, method: DescMethod) => Promise<void>;
}

/**
 * Admits one call of `method` carrying the `authorization` header (or metadata) given, and puts
 * the principal and the per-command charge into the handler's context `values`. Throws
 * `unauthenticated` / `resource_exhausted`; resolves to the principal, undefined when the method
 * needs none.
 */
export async function admitCall(
  guard: CallGuard,
  method: DescMethod,
  authorization: string | undefined,
  values: ContextValues,
): Promise<Principal | undefined> {
  const path = `${method.parent.typeName}/${method.name}`;
  if (guard.authenticate === undefined || PUBLIC_METHODS.has(path) || INTERNAL_METHODS.has(path)) {
    return undefined;
  }
  const principal = await guard.authenticate(bearerToken(authorization));
  values.set(principalKey, principal);
  const limitCall = guard.limitCall;
  if (limitCall !== undefined) {
    await limitCall(principal, method);
    values.set(chargeCommandKey, (commandMethod) => limitCall(principal, commandMethod));
  }
  return principal;
}
