import { readFileSync } from 'node:fs';
import {
  credentials,
  makeGenericClientConstructor,
  Metadata,
  status,
  type ChannelCredentials,
  type Client,
  type ServiceError,
} from '@grpc/grpc-js';
import { DomainError, type DomainErrorCode } from '../../domain/errors.js';
import type {
  OrderCommand,
  OrderEngine,
  Submitted,
} from '../../domain/orders/order-engine.port.js';
import { EngineService, type SubmitResponse } from '../../gen/trading/internal/v1/engine_pb.js';
import type { Logger, Registry } from '../../telemetry/index.js';
import {
  clientObservabilityInterceptor,
  GrpcClientMetrics,
} from '../../transport/grpc/client-observability.js';
import type { TlsFiles } from '../../transport/grpc/server.js';
import { grpcServiceDefinition } from '../../transport/grpc/service-adapter.js';
import { RETRY_AFTER_KEY } from '../../transport/grpc/status.js';
import { fromSubmitResponse, submitRequest } from '../../transport/rpc/engine-codec.js';
import {
  createDependencyPolicy,
  type BreakerOptions,
  type DependencyPolicy,
  type RetryOptions,
} from '../resilience/index.js';

export interface GrpcOrderEngineOptions {
  /**
   * grpc-js target of the engine leader(s): `host:port`, `dns:///engine:50051`, or a list
   * `ipv4:127.0.0.1:50061,127.0.0.1:50062` (pick_first moves on when one goes away).
   */
  readonly address: string;
  /** mTLS when set: the engine checks our certificate, we check its. */
  readonly tls: TlsFiles | undefined;
  /** Per attempt, the commit included. */
  readonly timeoutMs: number;
  readonly retry?: RetryOptions;
  readonly breaker: BreakerOptions;
  readonly logger: Logger;
  readonly registry: Registry;
}

/** The engine's own answers (not failures of the call): they pass through as domain errors. */
const ANSWERS = new Map<number, DomainErrorCode>([
  [status.INVALID_ARGUMENT, 'invalid_argument'],
  [status.FAILED_PRECONDITION, 'failed_precondition'],
  [status.NOT_FOUND, 'not_found'],
  [status.RESOURCE_EXHAUSTED, 'resource_exhausted'],
  [status.ALREADY_EXISTS, 'already_exists'],
]);

/**
 * The engine port over internal gRPC (ROLE=api → ROLE=engine), under the `engine` dependency
 * policy: a timeout per attempt, a circuit breaker, and retries for place commands only (their
 * client order id makes a repeat return the first result). The engine's answers (invalid
 * argument, insufficient balance, unknown order) come back as the same domain errors the
 * in-process engine raises; anything else (unreachable, deadline, the engine's own outage) is
 * a dependency failure and surfaces as `unavailable` naming the engine.
 */
export class GrpcOrderEngine implements OrderEngine {
  readonly policy: DependencyPolicy;
  readonly #client: Client;
  readonly #timeoutMs: number;

  constructor(options: GrpcOrderEngineOptions) {
    const definition = grpcServiceDefinition(EngineService);
    const metrics = new GrpcClientMetrics(options.registry);
    metrics.initialize(definition);
    const Ctor = makeGenericClientConstructor(definition, 'EngineService');
    this.#client = new Ctor(options.address, channelCredentials(options.tls), {
      interceptors: [clientObservabilityInterceptor(metrics)],
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    });
    this.#timeoutMs = options.timeoutMs;
    this.policy = createDependencyPolicy({
      dependency: 'engine',
      timeoutMs: options.timeoutMs,
      ...(options.retry === undefined ? {} : { retry: options.retry }),
      breaker: options.breaker,
      logger: options.logger,
      registry: options.registry,
    });
  }

  submit(command: OrderCommand): Promise<Submitted> {
    return this.policy.execute((signal) => this.#call(command, signal), {
      idempotent: command.kind === 'place',
    });
  }

  close(): void {
    this.#client.close();
    this.policy.dispose();
  }

  #call(command: OrderCommand, signal: AbortSignal): Promise<Submitted> {
    return new Promise((resolve, reject) => {
      const submit = (this.#client as unknown as Record<string, UnaryCall>).submit;
      if (submit === undefined) throw new Error('EngineService client has no submit method');
      const call = submit.call(
        this.#client,
        submitRequest(command),
        new Metadata(),
        { deadline: Date.now() + this.#timeoutMs },
        (error, response) => {
          signal.removeEventListener('abort', cancel);
          if (error !== null) reject(answerOrFailure(error));
          else if (response === undefined) reject(new Error('the engine answered nothing'));
          else resolve(fromSubmitResponse(response));
        },
      );
      const cancel = () => {
        call.cancel();
      };
      signal.addEventListener('abort', cancel, { once: true });
    });
  }
}

type UnaryCall = (
  request: unknown,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, response?: SubmitResponse) => void,
) => { cancel(): void };

function answerOrFailure(error: ServiceError): Error {
  const code = ANSWERS.get(error.code);
  if (code === undefined) return error;
  const [field] = error.metadata.get('error-field');
  const [retryAfter] = error.metadata.get(RETRY_AFTER_KEY);
  return new DomainError(code, error.details, {
    ...(typeof field === 'string' ? { field } : {}),
    ...(typeof retryAfter === 'string' ? { retryAfterMs: Number(retryAfter) } : {}),
  });
}

function channelCredentials(tls: TlsFiles | undefined): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  return credentials.createSsl(
    tls.caFile === undefined ? null : readFileSync(tls.caFile),
    readFileSync(tls.keyFile),
    readFileSync(tls.certFile),
  );
}
