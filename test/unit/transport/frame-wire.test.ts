import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { binaryFrame, FrameWire } from '../../../src/transport/websocket/frame-wire.js';

/** A ws server and one client connected to it; `server` is the server's side. */
async function connected(perMessageDeflate = false) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate });
  await once(wss, 'listening');
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, {
    perMessageDeflate,
  });
  const [[server]] = await Promise.all([accepted, once(client, 'open')]);
  const received: Buffer[] = [];
  client.on('message', (data: Buffer) => received.push(data));
  const closed = once(client, 'close') as Promise<[number, Buffer]>;
  after(() => {
    client.terminate();
    wss.close();
  });
  return { server, client, received, closed };
}

const payload = (n: number, fill: number) => Buffer.alloc(n, fill);

describe('binaryFrame', () => {
  it('heads a payload as RFC 6455 does: FIN, binary, unmasked, 7/16/64-bit lengths', () => {
    assert.deepEqual([...binaryFrame(payload(125, 1)).subarray(0, 2)], [0x82, 125]);
    assert.deepEqual([...binaryFrame(payload(126, 1)).subarray(0, 4)], [0x82, 126, 0, 126]);
    assert.deepEqual(
      [...binaryFrame(payload(65_536, 1)).subarray(0, 10)],
      [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0],
    );
    assert.deepEqual(binaryFrame(new Uint8Array(0)), Buffer.from([0x82, 0]));
    const sub = new Uint8Array([9, 8, 7, 6]).subarray(1, 3);
    assert.deepEqual(binaryFrame(sub), Buffer.from([0x82, 2, 8, 7]));
  });
});

describe('FrameWire', () => {
  it('delivers prebuilt frames in order with what ws sends itself, then ws closes', async () => {
    const { server, received, closed } = await connected();
    const wire = FrameWire.of(server);
    const sizes = [0, 1, 125, 126, 65_535, 65_536, 70_000];
    const frames = sizes.map((n, i) => binaryFrame(payload(n, i)));
    wire.write(frames[0]!);
    server.send(payload(3, 0xee));
    const rest = frames.slice(1);
    wire.writeAll(
      rest,
      rest.reduce((sum, frame) => sum + frame.length, 0),
    );
    server.close(1000, 'bye');
    // Closing: nothing more goes out.
    wire.write(binaryFrame(payload(5, 0xff)));
    const [code, reason] = await closed;
    assert.equal(code, 1000);
    assert.equal(reason.toString(), 'bye');
    assert.deepEqual(
      received.map((data) => [data.length, data[0]]),
      [[0, undefined], [3, 0xee], ...sizes.slice(1).map((n, i) => [n, i + 1])],
    );
    assert.equal(wire.open, false);
  });

  it('writes the frames sent in one turn in one socket write, in order, before a later write', async () => {
    const writes: Buffer[] = [];
    const raw = {
      write: (data: Buffer) => writes.push(Buffer.from(data)) > 0,
      writableLength: 0,
      writableNeedDrain: false,
      writableHighWaterMark: 16_384,
      once: () => raw,
      destroyed: false,
    };
    const wire = new FrameWire({ readyState: WebSocket.OPEN, extensions: '' }, raw as never);
    const [a, b, c, d] = [1, 2, 3, 4].map((n) => binaryFrame(payload(n, n))) as [
      Buffer,
      Buffer,
      Buffer,
      Buffer,
    ];

    wire.send(a);
    wire.send(b);
    assert.equal(writes.length, 0, 'nothing before the turn ends');
    assert.equal(wire.buffered, 0, "what waits for the turn's end is not the client's backlog");
    await Promise.resolve();
    assert.deepEqual(writes, [Buffer.concat([a, b])]);

    wire.send(c);
    wire.write(d);
    assert.deepEqual(writes.slice(1), [Buffer.concat([c, d])], 'a write goes after what was sent');
    await Promise.resolve();
    assert.equal(writes.length, 2, 'and nothing is written twice');

    // A burst (one log read of many entries) reaches the socket in chunks as it comes.
    const big = binaryFrame(payload(6_000, 9));
    for (let i = 0; i < 10; i++) wire.send(big);
    assert.ok(writes.length - 2 >= 3, `written as it came: ${writes.length - 2} writes`);
    await Promise.resolve();
    const burst = Buffer.concat(writes.slice(2));
    assert.deepEqual(burst, Buffer.concat(Array.from({ length: 10 }, () => big)));
  });

  it('flushed before ws closes, what a turn sent arrives before the close frame', async () => {
    const { server, received, closed } = await connected();
    const wire = FrameWire.of(server);
    wire.send(binaryFrame(payload(2, 7)));
    wire.flush();
    server.close(1000, 'bye');
    wire.send(binaryFrame(payload(5, 0xff)));
    await closed;
    assert.deepEqual(
      received.map((data) => [data.length, data[0]]),
      [[2, 7]],
    );
  });

  it('refuses a connection that negotiated permessage-deflate', async () => {
    const { server } = await connected(true);
    assert.notEqual(server.extensions, '');
    assert.throws(() => FrameWire.of(server), /extensions negotiated/);
  });
});
