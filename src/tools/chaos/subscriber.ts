import { wireReconnectReason } from '../../client/reconnect-reason.js';
import type { SubscribeResponse } from '../../gen/trading/v1/market_data_pb.js';
import type { OpenStreamResponse } from '../../gen/trading/v1/session_pb.js';
import { ReconnectReason } from '../../gen/trading/v1/stream_pb.js';
import { ClientBook } from './client-book.js';
import { PrivateView } from './private-view.js';
import { SequenceCheck, type SequenceFindings } from './sequence-check.js';
import {
  streamClients,
  type StreamClients,
  type StreamPod,
  type StreamTransport,
} from './stream-transports.js';

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
  readonly transport: StreamTransport;
  /** The stream pods; each reconnect goes to the next one. */
  readonly pods: readonly StreamPod[];
  readonly first: number;
  readonly symbol: string;
  /** The user's access token, for the private stream. */
  readonly accessToken?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One streaming client over one transport: subscribes, keeps its position per stream, and when
 * the stream breaks (a pod killed or drained) reconnects to another pod with its session id and
 * positions, counting every gap, duplicate and checksum mismatch it sees, and how long each
 * resume took. A private subscriber also keeps what its stream said of the account
 * (`privateView`), for the end-of-run check against PostgreSQL.
 */
export class Subscriber {
  readonly #counts = { messages: 0, checksumMismatches: 0, resumes: 0, migrations: 0 };
  readonly #resumeMs: number[] = [];
  readonly book = new ClientBook();
  readonly privateView = new PrivateView();
  readonly #sequence = new SequenceCheck();
  #sessionId = '';
  /** Why the last call ended, sent with the next one (`stream_reconnects_total{reason}`). */
  #reconnectReason = ReconnectReason.UNSPECIFIED;
  #pod = '';
  #next: number;
  #running = false;
  #call: AbortController | undefined;
  #loop: Promise<void> | undefined;
  readonly #clients = new Map<string, StreamClients>();
  #firstMessage: () => void = () => undefined;
  /** Resolves when the first message arrives: the subscription is in place. */
  readonly streaming = new Promise<void>((resolve) => {
    this.#firstMessage = resolve;
  });

  constructor(private readonly options: SubscriberOptions) {
    this.#next = options.first;
  }

  get kind(): SubscriberKind {
    return this.options.kind;
  }

  get transport(): StreamTransport {
    return this.options.transport;
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
    this.#call?.abort();
    await this.#loop;
  }

  /** The last seq this client has of `stream` (0 before its first message). */
  seq(stream: string): bigint {
    return this.#sequence.seq(stream);
  }

  async #run(): Promise<void> {
    let brokeAt: number | undefined;
    while (this.#running) {
      const pod = this.options.pods[this.#next % this.options.pods.length];
      if (pod === undefined) throw new RangeError('a subscriber needs a stream pod');
      this.#next += 1;
      const outcome = await this.#once(pod, brokeAt);
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

  #clientsOf(pod: StreamPod): StreamClients {
    let clients = this.#clients.get(pod.http);
    if (clients === undefined) {
      clients = streamClients(this.options.transport, pod);
      this.#clients.set(pod.http, clients);
    }
    return clients;
  }

  /** One call; resolves when it ends: whether it delivered anything. */
  async #once(pod: StreamPod, brokeAt: number | undefined): Promise<'served' | 'failed'> {
    const clients = this.#clientsOf(pod);
    const call = new AbortController();
    this.#call = call;
    this.#sequence.newCall();
    const positions = this.#sequence.positions();
    const resume = {
      sessionId: this.#sessionId,
      positions,
      reconnectReason: this.#reconnectReason,
    };
    const headers: Record<string, string> =
      this.options.accessToken === undefined
        ? {}
        : { authorization: `Bearer ${this.options.accessToken}` };
    const stream: AsyncIterable<Message> =
      this.options.kind === 'market'
        ? clients.market.subscribe(
            { symbols: [this.options.symbol], ...resume },
            { signal: call.signal, headers },
          )
        : clients.session.openStream(resume, { signal: call.signal, headers });
    let served = false;
    let reconnect: NodeJS.Timeout | undefined;
    this.#reconnectReason = wireReconnectReason('server-closed');
    try {
      for await (const message of stream) {
        if (!served) {
          served = true;
          if (brokeAt !== undefined) {
            this.#counts.resumes += 1;
            this.#resumeMs.push(performance.now() - brokeAt);
            if (this.#pod !== '' && message.pod !== this.#pod) this.#counts.migrations += 1;
          }
          this.#pod = message.pod;
          this.#firstMessage();
        }
        // Live market entries carry none (docs/protocol.md): keep the last one given.
        if (message.sessionId !== '') this.#sessionId = message.sessionId;
        const { event } = message;
        if (event.case === 'heartbeat') this.#pong(clients, message.sessionId, event.value.id);
        if (event.case === 'reconnect' && reconnect === undefined) {
          this.#reconnectReason = wireReconnectReason('server-reconnect');
          // The pod is draining: come back (to another pod) after the delay it drew for us.
          reconnect = setTimeout(() => {
            call.abort();
          }, event.value.delayMs);
        }
        this.#receive(message);
      }
    } catch (error) {
      // The call ended with a status (the pod gone, drained or the call aborted): reconnect.
      if (reconnect === undefined) this.#reconnectReason = wireReconnectReason('error', error);
    } finally {
      clearTimeout(reconnect);
    }
    return served ? 'served' : 'failed';
  }

  /** Answers a heartbeat on the pod that holds the stream (docs/protocol.md). */
  #pong(clients: StreamClients, sessionId: string, heartbeatId: bigint): void {
    clients.session.pong({ sessionId, heartbeatId }, { timeoutMs: 5_000 }).catch(() => undefined);
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
    } else if (this.options.kind === 'private') {
      this.privateView.apply(message as OpenStreamResponse);
    }
  }
}
