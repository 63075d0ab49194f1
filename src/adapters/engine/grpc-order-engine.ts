import {
  credentials,
  experimental,
  makeGenericClientConstructor,
  Metadata,
  status,
  type ChannelCredentials,
  type Client,
  type ServiceError,
} from '@grpc/grpc-js';
import { DomainError, type DomainErrorCode } from '../../domain/errors.js';
import {
  NOT_LEADER_DEPENDENCY,
  type OrderCommand,
  type OrderEngine,
  type Submitted,
} from '../../domain/orders/order-engine.port.js';
import { EngineService, type SubmitResponse } from '../../gen/trading/internal/v1/engine_pb.js';
import {
  clientObservabilityInterceptor,
  GrpcClientMetrics,
} from '../../shared/grpc/client-observability.js';
import { fromSubmitResponse, submitRequest } from '../../shared/grpc/engine-codec.js';
import { DEPENDENCY_KEY, RETRY_AFTER_KEY } from '../../shared/grpc/error-metadata.js';
import { grpcServiceDefinition } from '../../shared/grpc/service-definition.js';
import type { CertificateFiles } from '../../shared/tls/certificate-files.js';
import { grpcCertificateProvider } from '../../shared/tls/grpc-certificate-provider.js';
import type { Logger, Registry } from '../../telemetry/index.js';
import {
  createDependencyPolicy,
  type BreakerOptions,
  type DependencyPolicy,
  type RetryOptions,
} from '../resilience/index.js';

export interface GrpcOrderEngineOptions {
  /**
   * grpc-js target of every engine process (leaders and standbys): a DNS name resolving to
   * all of them (`dns:///engine-headless:50051`) or a list (`ipv4:10.0.0.1:50051,10.0.0.2:50051`).
   * Calls are spread round robin; a standby's answer sends the call on to the next process.
   */
  readonly address: string;
  /** mTLS when set: the engine checks our certificate, we check its; rotations are followed. */
  readonly tls: CertificateFiles | undefined;
  /** Per attempt, the commit included. */
  readonly timeoutMs: number;
  readonly retry?: RetryOptions;
  readonly breaker: BreakerOptions;
  readonly logger: Logger;
  readonly registry: Registry;
}

/** Tries per call while processes answer that they do not lead the shard (standbys). */
const LEADER_SEARCH_ATTEMPTS = 4;

/** A standby's answer: nothing was done, so the call goes on to another process at once. */
class NotLeader extends Error {}

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
 *
 * Leader and standbys all take calls (round robin): a standby answers UNAVAILABLE marked
 * `engine-leader`, and the call is sent on to the next process, whatever its kind, since the
 * standby did nothing. So every engine pod can be ready (rollouts and disruption budgets need
 * that) and no Kubernetes API access is needed to find the leader.
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
      'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
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
    return this.policy.execute((signal) => this.#callLeader(command, signal), {
      idempotent: command.kind === 'place',
    });
  }

  async #callLeader(command: OrderCommand, signal: AbortSignal): Promise<Submitted> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#call(command, signal);
      } catch (error) {
        if (!(error instanceof NotLeader) || attempt >= LEADER_SEARCH_ATTEMPTS) throw error;
      }
    }
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
  const [dependency] = error.metadata.get(DEPENDENCY_KEY);
  if (error.code === status.UNAVAILABLE && dependency === NOT_LEADER_DEPENDENCY) {
    return new NotLeader(error.details);
  }
  const code = ANSWERS.get(error.code);
  if (code === undefined) return error;
  const [field] = error.metadata.get('error-field');
  const [retryAfter] = error.metadata.get(RETRY_AFTER_KEY);
  return new DomainError(code, error.details, {
    ...(typeof field === 'string' ? { field } : {}),
    ...(typeof retryAfter === 'string' ? { retryAfterMs: Number(retryAfter) } : {}),
  });
}

function channelCredentials(tls: CertificateFiles | undefined): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  const provider = grpcCertificateProvider(tls);
  tls.track('engine_client');
  return experimental.createCertificateProviderChannelCredentials(provider, provider);
}
