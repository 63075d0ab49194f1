import type { Client, ClientReadableStream, Metadata } from '@grpc/grpc-js';
import { Metadata as GrpcMetadata } from '@grpc/grpc-js';
import { MarketDataService, type SubscribeResponse } from '../../gen/trading/v1/market_data_pb.js';
import { SessionService, type OpenStreamResponse } from '../../gen/trading/v1/session_pb.js';
import { ClientBook } from './client-book.js';
import { grpcClient, serverStream, unary } from './grpc-calls.js';
import { SequenceCheck, type SequenceFindings } from './sequence-check.js';

type Message = SubscribeResponse | OpenStreamResponse;

export interface SubscriberStats extends SequenceFindings {
  messages: number;
  /** Book messages whose checksum did not match the client's book after applying them. */
  checksumMismatches: number;
  /** Reconnects that got their stream back. */
  resumes: number;
  /** Resumes served by another pod than the one before (a session migration). */
  migrations: number;
  /** From the stream breaking to the first message of the resumed call, per resume. */
  readonly resumeMs: number[];
}

export type SubscriberKind = 'market' | 'private';

export interface SubscriberOptions {
  readonly kind: SubscriberKind;
  /** gRPC addresses of the stream pods; each reconnect goes to the next one. */
  readonly addresses: readonly string[];
  readonly first: number;
  readonly symbol: string;
  /** A bearer, for the private stream. */
  readonly auth?: Metadata;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One streaming client over plain gRPC: subscribes, keeps its position per stream, and when the
 * stream breaks (a pod killed or drained) reconnects to another pod with its session id and
 * positions, counting every gap, duplicate and checksum mismatch it sees, and how long each
 * resume took.
 */
export class Subscriber {
  readonly #counts = { messages: 0, checksumMismatches: 0, resumes: 0, migrations: 0 };
  readonly #resumeMs: number[] = [];
  readonly book = new ClientBook();
  readonly #sequence = new SequenceCheck();
  #sessionId = '';
  #pod = '';
  #next: number;
  #running = false;
  #call: ClientReadableStream<Message> | undefined;
  #loop: Promise<void> | undefined;
  readonly #clients = new Map<string, Client>();

  constructor(private readonly options: SubscriberOptions) {
    this.#next = options.first;
  }

  get stats(): SubscriberStats {
    return { ...this.#counts, ...this.#sequence.findings, resumeMs: this.#resumeMs };
  }

  start(): void {
    this.#running = true;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#call?.cancel();
    await this.#loop;
    for (const client of this.#clients.values()) client.close();
  }

  /** The last seq this client has of `stream` (0 before its first message). */
  seq(stream: string): bigint {
    return this.#sequence.seq(stream);
  }

  async #run(): Promise<void> {
    let brokeAt: number | undefined;
    while (this.#running) {
      const address = this.options.addresses[this.#next % this.options.addresses.length] ?? '';
      this.#next += 1;
      const outcome = await this.#once(address, brokeAt);
      if (this.#stopped()) break;
      // A resume is timed from the moment the last call that delivered anything ended.
      if (outcome === 'served') brokeAt = performance.now();
      await sleep(outcome === 'served' ? 0 : 100);
    }
  }

  /** A method, so the compiler does not assume `#running` is unchanged across the call. */
  #stopped(): boolean {
    return !this.#running;
  }

  /** One call; resolves when it ends: whether it delivered anything. */
  #once(address: string, brokeAt: number | undefined): Promise<'served' | 'failed'> {
    const service = this.options.kind === 'market' ? MarketDataService : SessionService;
    const key = `${address}/${this.options.kind}`;
    let client = this.#clients.get(key);
    if (client === undefined) {
      client = grpcClient(address, service);
      this.#clients.set(key, client);
    }
    const positions = this.#sequence.positions();
    const request =
      this.options.kind === 'market'
        ? { symbols: [this.options.symbol], sessionId: this.#sessionId, positions }
        : { sessionId: this.#sessionId, positions };
    const call = serverStream<Message>(
      client,
      this.options.kind === 'market' ? 'subscribe' : 'openStream',
      request,
      this.options.auth ?? new GrpcMetadata(),
    );
    this.#call = call;
    this.#sequence.newCall();
    let served = false;
    return new Promise((resolve) => {
      call.on('data', (message: Message) => {
        if (!served) {
          served = true;
          if (brokeAt !== undefined) {
            this.#counts.resumes += 1;
            this.#resumeMs.push(performance.now() - brokeAt);
            if (this.#pod !== '' && message.pod !== this.#pod) this.#counts.migrations += 1;
          }
          this.#pod = message.pod;
        }
        this.#sessionId = message.sessionId;
        const { event } = message;
        if (event.case === 'heartbeat') this.#pong(address, message.sessionId, event.value.id);
        if (event.case === 'reconnect') {
          // The pod is draining: come back (to another pod) after the delay it drew for us.
          setTimeout(() => {
            call.cancel();
          }, event.value.delayMs);
        }
        this.#receive(message);
      });
      call.on('error', () => undefined); // the status ends the call; the loop reconnects
      call.on('status', () => {
        resolve(served ? 'served' : 'failed');
      });
    });
  }

  /** Answers a heartbeat on the pod that holds the stream (docs/protocol.md). */
  #pong(address: string, sessionId: string, heartbeatId: bigint): void {
    const key = `${address}/pong`;
    let client = this.#clients.get(key);
    if (client === undefined) {
      client = grpcClient(address, SessionService);
      this.#clients.set(key, client);
    }
    void unary(client, 'pong', { sessionId, heartbeatId }, new GrpcMetadata(), 5_000);
  }

  #receive(message: Message): void {
    this.#counts.messages += 1;
    const { event } = message;
    const firstSeq = event.case === 'delta' ? event.value.firstSeq : undefined;
    if (!this.#sequence.accept({ ...message, ...(firstSeq === undefined ? {} : { firstSeq }) })) {
      return;
    }
    if (event.case === 'snapshot') {
      this.book.replace(event.value.bids, event.value.asks);
      if (this.book.checksum() !== event.value.checksum) this.#counts.checksumMismatches += 1;
    } else if (event.case === 'delta') {
      this.book.apply(event.value.bids, event.value.asks);
      if (this.book.checksum() !== event.value.checksum) this.#counts.checksumMismatches += 1;
    }
  }
}
