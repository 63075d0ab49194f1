import { toBinary } from '@bufbuild/protobuf';
import type { GatewayDelivery } from '../../domain/streams/stream-gateway.js';
import { SubscribeResponseSchema } from '../../gen/trading/v1/market_data_pb.js';
import { subscribeMessage } from '../rpc/stream-messages.js';

/** ServerFrame.market: field 10, length-delimited. */
const MARKET_TAG = (10 << 3) | 2;
/** SubscribeResponse.session_id: field 5, length-delimited. */
const SESSION_ID_TAG = (5 << 3) | 2;

const varintLength = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4);

function writeVarint(target: Uint8Array, at: number, n: number): number {
  let offset = at;
  let rest = n;
  while (rest >= 0x80) {
    target[offset++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  target[offset++] = rest;
  return offset;
}

/** A session's `session_id` field, encoded once per open and appended to each shared body. */
export function sessionIdField(sessionId: string): Uint8Array {
  const text = Buffer.from(sessionId, 'utf8');
  const field = new Uint8Array(1 + varintLength(text.length) + text.length);
  field[0] = SESSION_ID_TAG;
  field.set(text, writeVarint(field, 1, text.length));
  return field;
}

type EntryDelivery = Extract<GatewayDelivery, { readonly kind: 'entry' }>;

interface Bodies {
  readonly epoch: number;
  live?: Uint8Array;
  recovered?: Uint8Array;
}

/**
 * Market stream entries as ServerFrames, the SubscribeResponse encoded once per entry for
 * every subscriber of the pod: only `session_id` differs, and protobuf fields may come in any
 * order, so each frame is the shared body with the session's field appended. Keyed weakly by
 * the log entry, which the tail hands every subscription as the same object.
 */
export class SharedMarketFrames {
  readonly #bodies = new WeakMap<object, Bodies>();

  /** The ServerFrame carrying `delivery` from `pod` to the session whose field is `sessionField`. */
  frame(delivery: EntryDelivery, pod: string, sessionField: Uint8Array): Uint8Array {
    const body = this.#body(delivery, pod);
    const inner = body.length + sessionField.length;
    const frame = Buffer.allocUnsafe(1 + varintLength(inner) + inner);
    frame[0] = MARKET_TAG;
    const at = writeVarint(frame, 1, inner);
    frame.set(body, at);
    frame.set(sessionField, at + body.length);
    return frame;
  }

  #body(delivery: EntryDelivery, pod: string): Uint8Array {
    let bodies = this.#bodies.get(delivery.entry);
    if (bodies?.epoch !== delivery.epoch) {
      bodies = { epoch: delivery.epoch };
      this.#bodies.set(delivery.entry, bodies);
    }
    const key = delivery.recovered ? 'recovered' : 'live';
    const cached = bodies[key];
    if (cached !== undefined) return cached;
    const encoded = toBinary(
      SubscribeResponseSchema,
      subscribeMessage(delivery, { sessionId: '', pod }),
    );
    bodies[key] = encoded;
    return encoded;
  }
}
