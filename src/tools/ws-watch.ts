import {
  create,
  fromBinary,
  toBinary,
  toJsonString,
  type MessageInitShape,
} from '@bufbuild/protobuf';
import { WebSocket } from 'ws';
import { ClientFrameSchema, ServerFrameSchema } from '../gen/trading/v1/websocket_pb.js';

/**
 * Prints the frames of `/ws` as proto3 JSON, one per line: the smallest client of the
 * WebSocket transport (docs/protocol.md).
 *   node --import tsx src/tools/ws-watch.ts ws://localhost:8080/ws BTC-USD [access token]
 * With a token it also opens the caller's private stream, authenticating in-band as a browser.
 */
const [url = 'ws://localhost:8080/ws', symbols = 'BTC-USD', token] = process.argv.slice(2);
const socket = new WebSocket(url);
const send = (frame: MessageInitShape<typeof ClientFrameSchema>) => {
  socket.send(toBinary(ClientFrameSchema, create(ClientFrameSchema, frame)));
};

socket.on('open', () => {
  send({ requestId: 1, frame: { case: 'subscribe', value: { symbols: symbols.split(',') } } });
  if (token !== undefined) {
    send({ requestId: 2, frame: { case: 'authenticate', value: { accessToken: token } } });
    send({ requestId: 3, frame: { case: 'openStream', value: {} } });
  }
});
socket.on('message', (data: Buffer) => {
  const frame = fromBinary(ServerFrameSchema, data);
  // A heartbeat is answered with its id, as every client must.
  const stream =
    frame.frame.case === 'market' || frame.frame.case === 'user' ? frame.frame.value : undefined;
  if (stream?.event.case === 'heartbeat') {
    send({ requestId: 0, frame: { case: 'pong', value: { heartbeatId: stream.event.value.id } } });
  }
  console.log(toJsonString(ServerFrameSchema, frame));
});
socket.on('close', (code, reason) => {
  console.log(JSON.stringify({ closed: code, reason: reason.toString('utf8') }));
});
