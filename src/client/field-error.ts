import { Code, ConnectError } from '@connectrpc/connect';

/** A refusal as a form shows it: next to the field it names, or for the whole form. */
export interface FieldError {
  /** The request field as `proto/` names it (`quantity`, `client_order_id`), if one. */
  readonly field: string | undefined;
  readonly message: string;
}

const FIELD_PREFIX = /^([a-z][a-z0-9_]*): (.+)$/s;

/**
 * The server names the field an INVALID_ARGUMENT is about in the `error-field` metadata and
 * as its message's prefix (`quantity: must be between 1 and 10000 lots`); either finds it.
 */
export function fieldErrorOf(error: unknown): FieldError {
  const connect = ConnectError.from(error);
  const message = connect.rawMessage;
  const match = FIELD_PREFIX.exec(message);
  const named = connect.metadata.get('error-field') ?? match?.[1];
  const field = connect.code === Code.InvalidArgument || named !== undefined ? named : undefined;
  const text = match !== null && match[1] === field ? (match[2] ?? message) : message;
  return { field: field ?? undefined, message: text };
}
