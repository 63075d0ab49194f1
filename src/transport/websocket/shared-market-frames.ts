import { toBinary } from '@bufbuild/protobuf';
import type { GatewayDelivery } from '../../domain/streams/stream-gateway.js';
import { SubscribeResponseSchema } from '../../gen/trading/v1/market_data_pb.js';
import { subscribeMessage } from '../rpc/stream-messages.js';
import { binaryFrame } from './frame-wire.js';

/** ServerFrame.market: field 10, length-delimited. */
const MARKET_TAG = (10 << 3) | 2;

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

type EntryDelivery = Extract<GatewayDelivery, { readonly kind: 'entry' }>;

interface Frames {
  readonly epoch: number;
  live?: Buffer;
  recovered?: Buffer;
}

/**
 * Market stream entries as WebSocket frames, built once per entry for every subscriber of the
 * pod: a live entry carries no `session_id` (docs/protocol.md), so every subscriber gets the
 * same bytes, WebSocket header included. Keyed weakly by the log entry, which the tail hands
 * every subscription as the same object.
 */
export class SharedMarketFrames {
  readonly #frames = new WeakMap<object, Frames>();
  /** The last delivery framed: the fan-out hands every caught-up subscriber the same one. */
  #last: { delivery: EntryDelivery; pod: string; frame: Buffer } | undefined;

  /** The binary WebSocket frame of the ServerFrame carrying `delivery` from `pod`. */
  frame(delivery: EntryDelivery, pod: string): Buffer {
    const last = this.#last;
    if (last?.delivery === delivery && last.pod === pod) return last.frame;
    const frame = this.#build(delivery, pod);
    this.#last = { delivery, pod, frame };
    return frame;
  }

  #build(delivery: EntryDelivery, pod: string): Buffer {
    let frames = this.#frames.get(delivery.entry);
    if (frames?.epoch !== delivery.epoch) {
      frames = { epoch: delivery.epoch };
      this.#frames.set(delivery.entry, frames);
    }
    const key = delivery.recovered ? 'recovered' : 'live';
    const cached = frames[key];
    if (cached !== undefined) return cached;
    const built = binaryFrame(marketFrame(subscribeBody(delivery, pod)));
    frames[key] = built;
    return built;
  }
}

function subscribeBody(delivery: EntryDelivery, pod: string): Uint8Array {
  return toBinary(SubscribeResponseSchema, subscribeMessage(delivery, { sessionId: '', pod }));
}

/** A ServerFrame whose `market` is the encoded SubscribeResponse `body`. */
function marketFrame(body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(1 + varintLength(body.length) + body.length);
  frame[0] = MARKET_TAG;
  frame.set(body, writeVarint(frame, 1, body.length));
  return frame;
}
