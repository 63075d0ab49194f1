import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';

/**
 * A loopback HTTP/1.1 reverse proxy routing by path, as a Kubernetes ingress does: the stream
 * services to the stream pod of the moment, everything else to the API. When a backend dies,
 * its calls through here die with it, as they would through a load balancer.
 */
export class Ingress {
  streamTarget: string;
  readonly #server: Server;

  constructor(
    private readonly apiTarget: string,
    streamTarget: string,
  ) {
    this.streamTarget = streamTarget;
    this.#server = createServer((incoming, outgoing) => {
      const path = incoming.url ?? '/';
      const stream = /^\/trading\.v1\.(MarketDataService|SessionService)\//.test(path);
      const target = new URL(path, stream ? this.streamTarget : this.apiTarget);
      const upstream = request(
        target,
        { method: incoming.method, headers: incoming.headers, agent: false },
        (answer) => {
          outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(outgoing);
          answer.on('close', () => {
            if (!answer.complete) outgoing.destroy();
          });
        },
      );
      upstream.on('error', () => {
        if (outgoing.headersSent) outgoing.destroy();
        else outgoing.writeHead(502).end();
      });
      incoming.pipe(upstream);
    });
  }

  async listen(): Promise<string> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    const address = this.#server.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    return `http://127.0.0.1:${address.port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}
